package metrics

import (
	"math"
	"sort"
)

// bucket is one cumulative bucket of a classic histogram: how many
// observations were ≤ upper.
type bucket struct {
	upper float64
	count float64
}

// bucketQuantile estimates the φ-quantile from cumulative buckets the way
// PromQL's histogram_quantile does, so the scrape provider and a Prometheus
// server agree on the same data:
//   - buckets are sorted by bound, equal bounds merged, and counts made
//     monotonic (a bucket never holds fewer than the one below it);
//   - without a +Inf bucket, fewer than two buckets, or no observations,
//     the result is NaN;
//   - the rank φ·total is located in the first bucket whose count reaches
//     it, and interpolated linearly between that bucket's lower bound (the
//     previous bound, or 0 for the first bucket) and its upper bound;
//   - a rank in the +Inf bucket returns the highest finite bound, and a
//     rank in a first bucket whose bound is ≤ 0 returns that bound.
//
// bs is sorted in place. q must be in [0, 1].
func bucketQuantile(q float64, bs []bucket) float64 {
	if len(bs) == 0 || math.IsNaN(q) {
		return math.NaN()
	}
	sort.Slice(bs, func(i, j int) bool { return bs[i].upper < bs[j].upper })
	if !math.IsInf(bs[len(bs)-1].upper, +1) {
		return math.NaN()
	}
	bs = coalesce(bs)
	monotonic(bs)
	if len(bs) < 2 {
		return math.NaN()
	}
	total := bs[len(bs)-1].count
	if total == 0 {
		return math.NaN()
	}
	rank := q * total
	i := sort.Search(len(bs)-1, func(i int) bool { return bs[i].count >= rank })
	switch {
	case i == len(bs)-1:
		return bs[len(bs)-2].upper
	case i == 0 && bs[0].upper <= 0:
		return bs[0].upper
	}
	lower, inBucket := 0.0, bs[i].count
	if i > 0 {
		lower = bs[i-1].upper
		inBucket -= bs[i-1].count
		rank -= bs[i-1].count
	}
	return lower + (bs[i].upper-lower)*(rank/inBucket)
}

// coalesce merges sorted buckets of equal bound ("1" and "1.0" from two
// targets, say) by adding their counts.
func coalesce(bs []bucket) []bucket {
	out := bs[:1]
	for _, b := range bs[1:] {
		if last := &out[len(out)-1]; b.upper == last.upper {
			last.count += b.count
		} else {
			out = append(out, b)
		}
	}
	return out
}

// monotonic raises any count below a lower bucket's to that count. Per-series
// reset handling can leave deltas slightly out of order; PromQL forces the
// same envelope.
func monotonic(bs []bucket) {
	high := bs[0].count
	for i := range bs {
		if bs[i].count < high {
			bs[i].count = high
		}
		high = bs[i].count
	}
}
