package metrics

import (
	"math"
	"testing"
)

// The cases follow PromQL's histogram_quantile, whose results were worked
// out by hand here; the end-to-end test checks the same method against a
// real Prometheus.
func TestBucketQuantile(t *testing.T) {
	inf := math.Inf(+1)
	for _, tc := range []struct {
		name string
		q    float64
		bs   []bucket
		want float64 // NaN for none
	}{{
		name: "interpolates inside the bucket holding the rank",
		// rank 95: ≤100 holds 90, ≤250 holds 100: 100 + 150·5/10.
		q:    0.95,
		bs:   []bucket{{25, 80}, {50, 90}, {100, 90}, {250, 100}, {inf, 100}},
		want: 175,
	}, {
		name: "first bucket interpolates from zero",
		// rank 50 of 100, all 80 of the first bucket: 25·50/80.
		q:    0.5,
		bs:   []bucket{{25, 80}, {50, 90}, {inf, 100}},
		want: 15.625,
	}, {
		name: "rank in the +Inf bucket answers the highest finite bound",
		q:    0.5,
		bs:   []bucket{{1, 1}, {10, 2}, {inf, 10}},
		want: 10,
	}, {
		name: "empty buckets below are skipped",
		// rank 5: ≤4 is the first to reach it; from 2: 2 + 2·5/10.
		q:    0.5,
		bs:   []bucket{{1, 0}, {2, 0}, {4, 10}, {inf, 10}},
		want: 3,
	}, {
		name: "first bucket with a bound ≤ 0 answers that bound",
		q:    0.25,
		bs:   []bucket{{0, 5}, {1, 10}, {inf, 10}},
		want: 0,
	}, {
		name: "unsorted, with a bound given twice (two targets)",
		// merged: ≤1: 4, ≤2: 10; rank 5 → 1 + 1·(5-4)/6.
		q:    0.5,
		bs:   []bucket{{inf, 6}, {2, 6}, {1, 2}, {1, 2}, {2, 4}, {inf, 4}},
		want: 1 + 1.0/6,
	}, {
		name: "non-monotonic counts are raised to the envelope",
		// ≤2 forced to 5; rank 5 reached at ≤1: 1·5/5.
		q:    0.5,
		bs:   []bucket{{1, 5}, {2, 4}, {inf, 10}},
		want: 1,
	}, {
		name: "no observations",
		q:    0.5,
		bs:   []bucket{{1, 0}, {inf, 0}},
		want: math.NaN(),
	}, {
		name: "no +Inf bucket",
		q:    0.5,
		bs:   []bucket{{1, 5}, {2, 10}},
		want: math.NaN(),
	}, {
		name: "+Inf alone",
		q:    0.5,
		bs:   []bucket{{inf, 10}},
		want: math.NaN(),
	}, {
		name: "no buckets",
		q:    0.5,
		want: math.NaN(),
	}} {
		t.Run(tc.name, func(t *testing.T) {
			got := bucketQuantile(tc.q, append([]bucket(nil), tc.bs...))
			if math.IsNaN(tc.want) {
				if !math.IsNaN(got) {
					t.Fatalf("got %v, want NaN", got)
				}
				return
			}
			if math.Abs(got-tc.want) > 1e-9 {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}
