package analysis

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/shadowplane/shadowplane/policy"
)

func f(v float64) *float64 { return &v }

// canary is the seed's progressive canary: v2 against v1 on mean latency
// < 50 ms, p95 < 100 ms and error rate < 1 %.
func canary() (*policy.Experiment, *policy.Route) {
	e := &policy.Experiment{
		Kind: policy.KindExperiment, Name: "wakanda", App: "sample-app", Route: "wakanda",
		Testing: policy.Canary, Baseline: "v1", Candidates: []string{"v2"},
		Objectives: []policy.Objective{
			{Metric: "mean-latency", UpperLimit: f(50)},
			{Metric: "p95-latency", UpperLimit: f(100)},
			{Metric: "error-rate", UpperLimit: f(0.01)},
		},
		Steps: policy.Steps{StepWeight: 20, MaxWeight: 80}, Iterations: 3,
		Metrics: policy.MetricsSource{Targets: map[string][]string{"*": {"http://127.0.0.1:1/metrics"}}},
	}
	e.Defaults()
	w := func(v uint32) *uint32 { return &v }
	r := &policy.Route{Name: "wakanda", Split: []policy.Backend{{Variant: "v1", Weight: w(100)}, {Variant: "v2", Weight: w(0)}}}
	return e, r
}

func healthy(samples float64) Observations {
	obs := Observations{}
	for _, v := range []string{"v1", "v2"} {
		obs[v] = map[string]Observation{
			"mean-latency": {Value: 20, Samples: samples},
			"p95-latency":  {Value: 60, Samples: samples},
			"error-rate":   {Value: 0.001, Samples: samples},
		}
	}
	return obs
}

func startState(e *policy.Experiment, r *policy.Route) *State {
	route := initialRoute(r)
	return &State{Experiment: e.Name, Spec: *e, Stage: Running, Route: route, LastGood: route}
}

func TestProgressiveCanaryAdvancesThenPromotes(t *testing.T) {
	e, r := canary()
	st := startState(e, r)
	var steps []map[string]uint32
	for i := 0; i < 3; i++ {
		d := Evaluate(e, r, st, healthy(100))
		steps = append(steps, d.Route.Weights())
		st.Iteration, st.Route, st.Stage = d.Iteration, d.Route, d.Stage
		if i < 2 && d.Action != Advance {
			t.Fatalf("iteration %d: %s (%s), want advance", i, d.Action, d.Reason)
		}
		if i == 2 && (d.Action != PromoteWinner || d.Stage != Completed || d.Winner != "v2") {
			t.Fatalf("last iteration: %s %s winner %q (%s), want v2 promoted", d.Action, d.Stage, d.Winner, d.Reason)
		}
	}
	want := []map[string]uint32{{"v1": 80, "v2": 20}, {"v1": 60, "v2": 40}, {"v2": 100}}
	if diff := cmp.Diff(want, steps); diff != "" {
		t.Errorf("weights per iteration (-want +got):\n%s", diff)
	}
	if !st.Route.MirrorOff {
		t.Error("promotion must remove the mirror")
	}
}

func TestStepsStopAtMaxWeight(t *testing.T) {
	e, r := canary()
	e.Iterations = 10
	st := startState(e, r)
	for i := 0; i < 6; i++ {
		d := Evaluate(e, r, st, healthy(100))
		st.Iteration, st.Route = d.Iteration, d.Route
	}
	if w := st.Route.Weights(); w["v2"] != 80 || w["v1"] != 20 {
		t.Fatalf("weights %v after 6 steps of 20 with max 80, want v2 80", w)
	}
}

func TestFailingCandidateRollsBack(t *testing.T) {
	e, r := canary()
	st := startState(e, r)
	st.Route = setWeight(st.Route, "v2", "v1", 40)
	obs := healthy(100)
	obs["v2"]["error-rate"] = Observation{Value: 0.2, Samples: 100}
	d := Evaluate(e, r, st, obs)
	if d.Action != RollBack || d.Stage != RolledBack {
		t.Fatalf("%s %s, want rollback", d.Action, d.Stage)
	}
	if w := d.Route.Weights(); w["v2"] != 0 || w["v1"] != 100 {
		t.Errorf("weights after rollback %v, want v1 100 v2 0", w)
	}
	if !strings.Contains(d.Reason, "v2 error-rate = 0.2 > 0.01") {
		t.Errorf("reason %q does not say which objective failed", d.Reason)
	}
}

// No data, an error reading it, or too few samples is never a pass: the
// interval is held, and after MaxNoData in a row the experiment fails.
func TestMissingDataHoldsThenRollsBack(t *testing.T) {
	e, r := canary()
	st := startState(e, r)
	cases := map[string]Observations{
		"nothing read": {},
		"read error": func() Observations {
			o := healthy(100)
			o["v2"]["p95-latency"] = Observation{Error: "connection refused"}
			return o
		}(),
		"too few requests": healthy(5),
		"NaN": func() Observations {
			o := healthy(100)
			o["v2"]["mean-latency"] = Observation{Value: nan(), Samples: 100}
			return o
		}(),
	}
	for name, obs := range cases {
		d := Evaluate(e, r, st, obs)
		if d.Action != Hold || d.NoData != 1 || d.Iteration != 0 {
			t.Errorf("%s: %s noData=%d iteration=%d (%s), want a hold", name, d.Action, d.NoData, d.Iteration, d.Reason)
		}
	}
	st.NoData = e.MaxNoData - 1
	d := Evaluate(e, r, st, Observations{})
	if d.Action != RollBack || !strings.Contains(d.Reason, "without data") {
		t.Errorf("after %d holds: %s (%s), want rollback", e.MaxNoData, d.Action, d.Reason)
	}
}

func nan() float64 { var z float64; return z / z }

func TestRelativeObjective(t *testing.T) {
	e, r := canary()
	e.Objectives = []policy.Objective{{Metric: "p95-latency", UpperLimit: f(1.2), RelativeTo: "baseline"}}
	st := startState(e, r)
	obs := healthy(100)
	obs["v1"]["p95-latency"] = Observation{Value: 50, Samples: 100}
	obs["v2"]["p95-latency"] = Observation{Value: 59, Samples: 100}
	if d := Evaluate(e, r, st, obs); d.Action != Advance || *d.Verdicts[0].Upper != 60 {
		t.Fatalf("59 ≤ 1.2×50: %s, limit %v", d.Action, *d.Verdicts[0].Upper)
	}
	obs["v2"]["p95-latency"] = Observation{Value: 61, Samples: 100}
	if d := Evaluate(e, r, st, obs); d.Action != RollBack {
		t.Fatalf("61 > 1.2×50: %s", d.Action)
	}
	// The baseline's value is data the judgement needs.
	delete(obs["v1"], "p95-latency")
	if d := Evaluate(e, r, st, obs); d.Action != Hold {
		t.Fatalf("without the baseline's value: %s, want hold", d.Action)
	}
}

// Seed 000: a Conformance test of a dark v2 fed by mirroring keeps the
// route as it is when it passes, and withdraws the mirror when it fails.
func TestConformance(t *testing.T) {
	w := uint32(100)
	r := &policy.Route{Name: "default", Split: []policy.Backend{{Variant: "v1", Weight: &w}}, Mirror: &policy.Mirror{Variant: "v2", Percent: f(40)}}
	e := &policy.Experiment{Name: "dark", App: "sample-app", Route: "default", Testing: policy.Conformance, Candidates: []string{"v2"},
		Objectives: []policy.Objective{{Metric: "error-rate", UpperLimit: f(0.01)}}, Iterations: 2}
	e.Defaults()
	st := startState(e, r)
	obs := Observations{"v2": {"error-rate": {Value: 0, Samples: 50}}}
	d := Evaluate(e, r, st, obs)
	st.Iteration = d.Iteration
	d = Evaluate(e, r, st, obs)
	if d.Action != Finish || d.Stage != Completed || d.Route.MirrorOff {
		t.Fatalf("passing conformance: %s %s mirrorOff=%v, want finish keeping the mirror", d.Action, d.Stage, d.Route.MirrorOff)
	}
	st.Iteration = 0
	obs["v2"]["error-rate"] = Observation{Value: 0.5, Samples: 50}
	d = Evaluate(e, r, st, obs)
	if d.Action != RollBack || !d.Route.MirrorOff || d.Route.Weights()["v1"] != 100 {
		t.Fatalf("failing conformance: %s mirrorOff=%v weights %v, want the mirror withdrawn and v1 kept", d.Action, d.Route.MirrorOff, d.Route.Weights())
	}
}

func TestABPicksTheBestPassingVersion(t *testing.T) {
	w := uint32(50)
	r := &policy.Route{Name: "r", Split: []policy.Backend{{Variant: "a", Weight: &w}, {Variant: "b", Weight: &w}, {Variant: "c", Weight: &w}}}
	e := &policy.Experiment{Name: "ab", App: "x", Route: "r", Testing: policy.AB, Baseline: "a", Candidates: []string{"b", "c"},
		Objectives: []policy.Objective{{Metric: "error-rate", UpperLimit: f(0.05)}},
		Reward:     &policy.Reward{Metric: "conversion", PreferHigher: true}, Iterations: 1}
	e.Defaults()
	obs := Observations{
		"a": {"error-rate": {Value: 0.01, Samples: 100}, "conversion": {Value: 0.10, Samples: 100}},
		"b": {"error-rate": {Value: 0.01, Samples: 100}, "conversion": {Value: 0.30, Samples: 100}},
		"c": {"error-rate": {Value: 0.20, Samples: 100}, "conversion": {Value: 0.90, Samples: 100}}, // fails
	}
	d := Evaluate(e, r, startState(e, r), obs)
	if d.Winner != "b" || d.Action != PromoteWinner {
		t.Fatalf("winner %q (%s), want b: c converts best but fails its objective", d.Winner, d.Action)
	}
}

func TestOnFailureKeep(t *testing.T) {
	e, r := canary()
	e.OnFailure = policy.Keep
	st := startState(e, r)
	st.Route = setWeight(st.Route, "v2", "v1", 20)
	obs := healthy(100)
	obs["v2"]["mean-latency"] = Observation{Value: 500, Samples: 100}
	d := Evaluate(e, r, st, obs)
	if d.Stage != Failed || d.Route.Weights()["v2"] != 20 {
		t.Fatalf("%s weights %v, want Failed with weights kept", d.Stage, d.Route.Weights())
	}
}

func TestPercentagesNormalise(t *testing.T) {
	w := func(v uint32) *uint32 { return &v }
	got := Route{Split: percentages([]policy.Backend{{Variant: "a", Weight: w(1)}, {Variant: "b", Weight: w(1)}, {Variant: "c", Weight: w(1)}})}.Weights()
	if got["a"]+got["b"]+got["c"] != 100 || got["a"] != 34 {
		t.Fatalf("1:1:1 → %v, want 34/33/33", got)
	}
}
