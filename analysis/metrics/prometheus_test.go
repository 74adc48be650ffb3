package metrics

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
)

// fakeProm answers queries from a table keyed by a substring of the query.
type fakeProm struct {
	answers  map[string]model.Value
	warnings v1.Warnings
	err      error
	block    bool
	queries  []string
}

func (f *fakeProm) Query(ctx context.Context, query string, ts time.Time, _ ...v1.Option) (model.Value, v1.Warnings, v1.Infos, error) {
	f.queries = append(f.queries, query)
	if f.block {
		<-ctx.Done()
		return nil, nil, nil, ctx.Err()
	}
	if f.err != nil {
		return nil, nil, nil, f.err
	}
	for k, v := range f.answers {
		if strings.HasPrefix(query, k) {
			return v, f.warnings, v1.Infos{"PromQL info: ignored"}, nil
		}
	}
	return model.Vector{}, nil, nil, nil
}

func vec(values ...float64) model.Vector {
	var v model.Vector
	for i, x := range values {
		v = append(v, &model.Sample{Metric: model.Metric{"i": model.LabelValue(rune('a' + i))}, Value: model.SampleValue(x)})
	}
	return v
}

func testQuery(name string) Query {
	defs, _ := NewDefinitions()
	d, _ := defs.Lookup(name)
	end := time.Unix(1_700_000_100, 0)
	return Query{Definition: d, App: "shop", Version: "v2", Cluster: "shop_v2", Start: end.Add(-30 * time.Second), End: end}
}

func TestPrometheusResults(t *testing.T) {
	const samples, value = "sum(increase(sampleapp_request_duration_seconds_count", "sum(increase(sampleapp_request_duration_seconds_sum"
	for _, tc := range []struct {
		name     string
		answers  map[string]model.Value
		warnings v1.Warnings
		want     Value
		err      string // "no data" for ErrNoData
	}{{
		name:    "one series each",
		answers: map[string]model.Value{samples: vec(40), value: vec(0.05)},
		want:    Value{Value: 50, Samples: 40}, // 0.05 s · 1000
	}, {
		name:    "scalars are accepted",
		answers: map[string]model.Value{samples: &model.Scalar{Value: 40}, value: &model.Scalar{Value: 0.05}},
		want:    Value{Value: 50, Samples: 40},
	}, {
		name:    "no samples series is no data",
		answers: map[string]model.Value{value: vec(1)},
		err:     "no data",
	}, {
		name:    "zero samples is no data, whatever the value",
		answers: map[string]model.Value{samples: vec(0), value: vec(math.NaN())},
		err:     "no data",
	}, {
		name:    "value without series is no data",
		answers: map[string]model.Value{samples: vec(4)},
		err:     "no data",
	}, {
		name:    "several series is an error naming the query and count",
		answers: map[string]model.Value{samples: vec(4, 5, 6)},
		err:     "3 series where one was expected",
	}, {
		name:    "NaN with samples is an error",
		answers: map[string]model.Value{samples: vec(4), value: vec(math.NaN())},
		err:     "NaN with 4 samples",
	}, {
		name:    "Inf with samples is an error",
		answers: map[string]model.Value{samples: vec(4), value: vec(math.Inf(1))},
		err:     "+Inf",
	}, {
		name:    "NaN samples is an error",
		answers: map[string]model.Value{samples: vec(math.NaN())},
		err:     "samples query returned NaN",
	}, {
		name:     "warnings are errors",
		answers:  map[string]model.Value{samples: vec(4), value: vec(1)},
		warnings: v1.Warnings{"remote read: partial data"},
		err:      "partial data",
	}, {
		name:    "a matrix is an error",
		answers: map[string]model.Value{samples: model.Matrix{}},
		err:     "not a vector or scalar",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			p := &Prometheus{api: &fakeProm{answers: tc.answers, warnings: tc.warnings}, timeout: time.Second}
			got, err := p.Value(context.Background(), testQuery(AppMeanLatency))
			switch {
			case tc.err == "no data":
				if !errors.Is(err, ErrNoData) {
					t.Fatalf("err = %v, want ErrNoData", err)
				}
			case tc.err != "":
				if err == nil || errors.Is(err, ErrNoData) || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want a failure with %q", err, tc.err)
				}
			case err != nil:
				t.Fatal(err)
			case math.Abs(got.Value-tc.want.Value) > 1e-9 || got.Samples != tc.want.Samples:
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestPrometheusSeveralSeriesNamesQuery(t *testing.T) {
	p := &Prometheus{api: &fakeProm{answers: map[string]model.Value{"sum(": vec(1, 2)}}, timeout: time.Second}
	_, err := p.Value(context.Background(), testQuery(EnvoyRequestCount))
	if err == nil || !strings.Contains(err.Error(), `envoy_cluster_upstream_rq_total{envoy_cluster_name="shop_v2"}`) {
		t.Fatalf("err = %v, want it to name the query", err)
	}
}

func TestPrometheusTimeoutAndFailure(t *testing.T) {
	p := &Prometheus{api: &fakeProm{block: true}, timeout: 50 * time.Millisecond}
	start := time.Now()
	_, err := p.Value(context.Background(), testQuery(EnvoyErrorRate))
	if err == nil || errors.Is(err, ErrNoData) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want a deadline failure", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("took %s despite a 50ms timeout", d)
	}

	p = &Prometheus{api: &fakeProm{err: errors.New("connection refused")}, timeout: time.Second}
	if _, err := p.Value(context.Background(), testQuery(EnvoyErrorRate)); err == nil || errors.Is(err, ErrNoData) {
		t.Fatalf("err = %v, want a failure", err)
	}
}

func TestPrometheusNeedsQueries(t *testing.T) {
	p := &Prometheus{api: &fakeProm{}, timeout: time.Second}
	q := testQuery(AppRequestCount)
	q.Definition.Prometheus = PrometheusQueries{}
	if _, err := p.Value(context.Background(), q); err == nil || errors.Is(err, ErrNoData) {
		t.Fatalf("err = %v", err)
	}
}
