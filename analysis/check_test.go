package analysis

import (
	"strings"
	"testing"

	"github.com/shadowplane/shadowplane/analysis/metrics"
	"github.com/shadowplane/shadowplane/policy"
)

func TestCheckModel(t *testing.T) {
	defs, err := metrics.NewDefinitions()
	if err != nil {
		t.Fatal(err)
	}
	m := segmentModel(0)
	e := &m.Experiments[0]
	e.Source = policy.Source{File: "canary.yaml", Line: 12}
	e.Objectives = []policy.Objective{
		{Metric: metrics.AppP95Latency, UpperLimit: f(100)}, // a bucket bound: exact
		{Metric: metrics.AppP95Latency, UpperLimit: f(80)},  // inside (50, 100]
		{Metric: metrics.AppErrorRate, UpperLimit: f(1.5), RelativeTo: "baseline"},
		{Metric: "nope", UpperLimit: f(1)},
		{Metric: metrics.AppP95Latency, UpperLimit: f(1.2), RelativeTo: "baseline"}, // buckets 2-2.5× apart
	}
	problems, warnings := CheckModel(m, defs)
	if len(problems) != 1 || !strings.Contains(problems[0].Error(), `canary.yaml:12: experiment "wakanda": unknown metric "nope"`) {
		t.Errorf("problems %v, want the unknown metric at canary.yaml:12", problems)
	}
	if len(warnings) != 3 ||
		!strings.Contains(warnings[0].Error(), "objectives[1]: the limit 80 ms of app/p95-latency lies inside its histogram bucket (50, 100 ms]") ||
		!strings.Contains(warnings[1].Error(), "objectives[2]: a limit on app/error-rate relative to the baseline's") ||
		!strings.Contains(warnings[2].Error(), "objectives[4]: app/p95-latency relative to the baseline's is judged on whole histogram buckets, and its buckets are at least 2× apart") {
		t.Errorf("warnings %v, want the 80 ms limit, the relative rate and the relative p95", warnings)
	}

	// A relative objective whose baseline never gets traffic can never be
	// decided: the baseline starts at 0 and a fixed split keeps it there.
	e.Objectives = []policy.Objective{{Metric: metrics.AppMeanLatency, UpperLimit: f(1.2), RelativeTo: "baseline"}}
	e.Deployment = policy.FixedSplit
	w := func(v uint32) *uint32 { return &v }
	m.Apps[0].Routes[0].Split = []policy.Backend{{Variant: "v1", Weight: w(0)}, {Variant: "v2", Weight: w(100)}}
	problems, _ = CheckModel(m, defs)
	if len(problems) != 1 || !strings.Contains(problems[0].Error(), "relative to the baseline v1 cannot be judged: v1 starts with weight 0") {
		t.Errorf("problems %v, want the baseline without traffic", problems)
	}
	m.Apps[0].Routes[0].Split = []policy.Backend{{Variant: "v1", Weight: w(50)}, {Variant: "v2", Weight: w(50)}}
	if problems, _ = CheckModel(m, defs); len(problems) != 0 {
		t.Errorf("baseline at 50 %%: problems %v", problems)
	}
}
