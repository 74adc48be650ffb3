package describe

import (
	"bytes"
	"strings"
	"testing"

	"github.com/shadowplane/shadowplane/analysis"
	"github.com/shadowplane/shadowplane/policy"
)

func TestExperimentShowsWhy(t *testing.T) {
	up := func(v float64) *float64 { return &v }
	w := func(v uint32) *uint32 { return &v }
	st := analysis.State{
		Spec: policy.Experiment{Name: "wakanda", App: "sample-app", Route: "wakanda", Testing: policy.Canary, Deployment: policy.Progressive,
			Baseline: "v1", Candidates: []string{"v2"}, Iterations: 10, MaxNoData: 3,
			Objectives: []policy.Objective{{Metric: "app/mean-latency", UpperLimit: up(50)}, {Metric: "app/error-rate", UpperLimit: up(0.01)}}},
		Stage: analysis.RolledBack, Iteration: 2,
		Route:  analysis.Route{Split: []policy.Backend{{Variant: "v1", Weight: w(100)}, {Variant: "v2", Weight: w(0)}}},
		Reason: "v2 fails: v2 app/error-rate = 0.2 > 0.01",
		History: []analysis.Record{{
			Observations: analysis.Observations{
				"v1": {"app/mean-latency": {Value: 21, Samples: 300}, "app/error-rate": {Value: 0, Samples: 300}},
				"v2": {"app/mean-latency": {Value: 22, Samples: 120}, "app/error-rate": {Value: 0.2, Samples: 120}},
			},
			Verdicts: []analysis.Verdict{{Version: "v2", Metric: "app/mean-latency", Value: 22, Pass: true}, {Version: "v2", Metric: "app/error-rate", Value: 0.2, Pass: false}},
		}},
	}
	var b bytes.Buffer
	if err := Experiment(&b, &st); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"RolledBack ✘", "2/10", "v1 100%  v2 0%", "v2 fails: v2 app/error-rate = 0.2 > 0.01", "app/error-rate ≤ 0.01", "0.2 ✘", "22 ✔", "300"} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in:\n%s", want, out)
		}
	}
}
