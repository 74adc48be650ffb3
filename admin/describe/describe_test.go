package describe

import (
	"bytes"
	"math"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/shadowplane/shadowplane/admin"
	"github.com/shadowplane/shadowplane/analysis"
	"github.com/shadowplane/shadowplane/analysis/metrics"
	"github.com/shadowplane/shadowplane/policy"
)

type fixedStates []analysis.State

func (f fixedStates) States() []analysis.State { return f }

// The status of an experiment judged by the real analysis.Evaluate, read
// through the admin API as `shadowplane status` reads it: per objective
// the outcome, the estimate with its interval against the limit, the
// requests, and why what is not decided is not.
func TestExperimentShowsWhy(t *testing.T) {
	up := func(v float64) *float64 { return &v }
	w := func(v uint32) *uint32 { return &v }
	e := policy.Experiment{Name: "wakanda", App: "sample-app", Route: "wakanda", Testing: policy.Canary,
		Baseline: "v1", Candidates: []string{"v2"}, Iterations: 10,
		Objectives: []policy.Objective{{Metric: "app/mean-latency", UpperLimit: up(50)}, {Metric: "app/error-rate", UpperLimit: up(0.01)}}}
	e.Defaults()
	route := &policy.Route{Name: "wakanda", Split: []policy.Backend{{Variant: "v1", Weight: w(100)}, {Variant: "v2", Weight: w(0)}}}
	start := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	st := analysis.Start(&e, route, start)
	st.StepStarted(start)

	latency := func(n float64) analysis.Observation {
		// Every request between 10 and 25 ms: a mean of 20 ms.
		return analysis.Observation{Type: metrics.Mean, Unit: "ms", Samples: n, Sum: 20 * n, Value: 20,
			Buckets: []metrics.Bucket{{UpperBound: 10, Count: 0}, {UpperBound: 25, Count: n}, {UpperBound: math.Inf(1), Count: n}}}
	}
	errs := func(x, n float64) analysis.Observation {
		return analysis.Observation{Type: metrics.Ratio, Unit: "ratio", Scale: 1, Events: x, Samples: n, Value: x / n}
	}
	obs := analysis.Observations{
		"v1": {"app/mean-latency": latency(1000), "app/error-rate": errs(0, 1000)},
		"v2": {"app/mean-latency": latency(120), "app/error-rate": errs(0, 120)},
	}
	at := start.Add(time.Minute)
	next, _ := st.Apply(analysis.Evaluate(&e, route, st, obs, at), obs, at)

	srv := httptest.NewServer(admin.NewHandler(admin.Config{Experiments: fixedStates{next}}))
	t.Cleanup(srv.Close)
	shown, err := admin.FetchExperiments(t.Context(), srv.Client(), srv.URL)
	if err != nil || len(shown) != 1 {
		t.Fatalf("FetchExperiments = %d experiments, %v", len(shown), err)
	}

	var b bytes.Buffer
	if err := Experiments(&b, shown); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"Experiment wakanda", "Running …", "1/10", "v1 80%  v2 20%", "Step:      judged on every request since 10:00:00",
		"app/mean-latency ≤ 50  v2       ✔  20 ms", "≤ 50 ms", // passes: shown under 50 ms
		"app/error-rate ≤ 0.01  v2       …  0 %", "[0 %, ", "≤ 1 %", "120", // pending
		"… v2: app/error-rate 0 % (interval 0 % to", "requests in this step would show it ≤ 1 %",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in:\n%s", want, out)
		}
	}
}

func TestNoExperiments(t *testing.T) {
	var b bytes.Buffer
	if err := Experiments(&b, nil); err != nil || !strings.Contains(b.String(), "No experiments") {
		t.Errorf("no experiments: %q, %v", b.String(), err)
	}
}
