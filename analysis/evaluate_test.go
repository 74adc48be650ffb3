package analysis

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/shadowplane/shadowplane/analysis/metrics"
	"github.com/shadowplane/shadowplane/policy"
)

func f(v float64) *float64 { return &v }

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

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

func startState(e *policy.Experiment, r *policy.Route) *State {
	route := initialRoute(r)
	st := &State{Experiment: e.Name, Spec: *e, Stage: Running, Route: route, LastGood: route}
	st.StepStarted(t0)
	return st
}

// look evaluates at one interval after the step started.
func look(e *policy.Experiment, r *policy.Route, st *State, obs Observations) Decision {
	return Evaluate(e, r, st, obs, st.WindowStart.Add(e.Interval))
}

func TestProgressiveCanaryAdvancesThenPromotes(t *testing.T) {
	e, r := canary()
	st := startState(e, r)
	var steps []map[string]uint32
	for i := 0; i < 3; i++ {
		d := look(e, r, st, healthy(5000))
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
		d := look(e, r, st, healthy(5000))
		st.Iteration, st.Route = d.Iteration, d.Route
	}
	if w := st.Route.Weights(); w["v2"] != 80 || w["v1"] != 20 {
		t.Fatalf("weights %v after 6 steps of 20 with max 80, want v2 80", w)
	}
}

// A step advances on the step's own estimates, but the last iteration
// needs every objective shown to pass: 200 requests without an error do
// not show an error rate under 1 % (about 400 do).
func TestLastIterationNeedsEvidence(t *testing.T) {
	e, r := canary()
	e.Iterations = 2
	st := startState(e, r)
	obs := healthy(200)
	obs["v2"]["error-rate"] = errorsOf(0, 200)
	d := look(e, r, st, obs)
	if d.Action != Advance {
		t.Fatalf("first iteration: %s (%s), want advance: nothing fails and the step looks healthy", d.Action, d.Reason)
	}
	st.Iteration, st.Route = d.Iteration, d.Route
	d = look(e, r, st, obs)
	if d.Action != Hold || d.Stage != Running {
		t.Fatalf("last iteration with 200 error-free requests: %s (%s), want a hold", d.Action, d.Reason)
	}
	for _, want := range []string{"error-rate", "not decided yet", "requests in this step would show it ≤ 1 %"} {
		if !strings.Contains(d.Reason, want) {
			t.Errorf("reason %q does not say %q", d.Reason, want)
		}
	}
	obs["v2"]["error-rate"] = errorsOf(0, 600)
	if d = look(e, r, st, obs); d.Action != PromoteWinner {
		t.Fatalf("with 600 error-free requests: %s (%s), want promote", d.Action, d.Reason)
	}
}

// One failing look holds; FailureLimit looks in a row roll back, and the
// reason names the objective and the evidence.
func TestFailingCandidateRollsBackAtTheFailureLimit(t *testing.T) {
	e, r := canary()
	e.FailureLimit = 2
	st := startState(e, r)
	st.Route = setWeight(st.Route, "v2", "v1", 40)
	obs := healthy(200)
	obs["v2"]["error-rate"] = errorsOf(40, 200)
	d := look(e, r, st, obs)
	if d.Action != Hold || d.Failures != 1 || !strings.Contains(d.Reason, "1 of 2") {
		t.Fatalf("first failing look: %s failures=%d (%s), want a hold", d.Action, d.Failures, d.Reason)
	}
	st.Failures = d.Failures
	d = look(e, r, st, obs)
	if d.Action != RollBack || d.Stage != RolledBack {
		t.Fatalf("second failing look: %s %s, want rollback", d.Action, d.Stage)
	}
	if w := d.Route.Weights(); w["v2"] != 0 || w["v1"] != 100 {
		t.Errorf("weights after rollback %v, want v1 100 v2 0", w)
	}
	if !strings.Contains(d.Reason, "v2 fails: error-rate 20 %") || !strings.Contains(d.Reason, "shown not ≤ 1 %") {
		t.Errorf("reason %q does not say which objective failed and how", d.Reason)
	}
	// A healthy look in between starts the count again.
	st.Failures = 1
	if d = look(e, r, st, healthy(200)); d.Failures != 0 {
		t.Errorf("a look with nothing failing left failures at %d", d.Failures)
	}
}

// A source that cannot be read is not a verdict: hold, then onNoData
// (pause by default). Too few requests is not an outage.
func TestMetricsDownHoldsThenPauses(t *testing.T) {
	e, r := canary()
	st := startState(e, r)
	down := map[string]Observations{
		"nothing read": {},
		"read error": func() Observations {
			o := healthy(100)
			o["v2"]["p95-latency"] = Observation{Error: "connection refused"}
			return o
		}(),
		"counts not numbers": func() Observations {
			o := healthy(100)
			o["v2"]["error-rate"] = errorsOf(math.NaN(), 100)
			return o
		}(),
	}
	for name, ev := range down {
		d := look(e, r, st, ev)
		if d.Action != Hold || d.NoData != 1 || d.Iteration != 0 || !strings.Contains(d.Reason, "metrics source down") {
			t.Errorf("%s: %s noData=%d iteration=%d (%s), want a hold for the outage", name, d.Action, d.NoData, d.Iteration, d.Reason)
		}
	}
	st.NoData = e.MaxNoData - 1
	d := look(e, r, st, Observations{})
	if d.Action != Pause || d.Stage != Paused || d.Route.Weights()["v2"] != st.Route.Weights()["v2"] {
		t.Errorf("after %d looks: %s %s (%s), want paused with the weights kept", e.MaxNoData, d.Action, d.Stage, d.Reason)
	}
	e.OnNoData = policy.Rollback
	if d := look(e, r, st, Observations{}); d.Stage != RolledBack {
		t.Errorf("onNoData rollback: %s", d.Stage)
	}
	// No requests at all: pending, not an outage.
	noTraffic := healthy(100)
	noTraffic["v2"]["error-rate"] = Observation{Type: metrics.Ratio, Error: "no requests yet", NoData: true}
	st.NoData = 0
	if d := look(e, r, st, noTraffic); d.Action != Hold || d.NoData != 0 || !strings.Contains(d.Reason, "not decided yet") {
		t.Errorf("no requests: %s noData=%d (%s), want an undecided hold", d.Action, d.NoData, d.Reason)
	}
}

// An undecided step collects until maxStepDuration, then does what
// onInconclusive says.
func TestUndecidedStepUntilMaxStepDuration(t *testing.T) {
	e, r := canary()
	st := startState(e, r)
	few := healthy(10) // fewer than minSamples
	for _, c := range []struct {
		action string
		want   Stage
	}{{policy.Pause, Paused}, {policy.Hold, Running}, {policy.Rollback, RolledBack}} {
		e.OnInconclusive = c.action
		if d := Evaluate(e, r, st, few, t0.Add(e.MaxStepDuration-time.Second)); d.Action != Hold || d.Stage != Running {
			t.Errorf("%s, before maxStepDuration: %s %s, want hold", c.action, d.Action, d.Stage)
		}
		d := Evaluate(e, r, st, few, t0.Add(e.MaxStepDuration))
		if d.Stage != c.want || !strings.Contains(d.Reason, "maxStepDuration") || !strings.Contains(d.Reason, "minSamples") {
			t.Errorf("onInconclusive %s at maxStepDuration: %s (%s), want %s", c.action, d.Stage, d.Reason, c.want)
		}
	}
}

// A step whose own data look worse than a limit does not advance, though
// nothing is shown failing: it waits for more data rather than exposing
// more users.
func TestStepBeyondALimitWaits(t *testing.T) {
	e, r := canary()
	st := startState(e, r)
	obs := healthy(60)
	obs["v2"]["error-rate"] = errorsOf(1, 60) // 1.7 %: not shown over 1 %
	d := look(e, r, st, obs)
	if d.Action != Hold || d.Failures != 0 || !strings.Contains(d.Reason, "beyond its limit") {
		t.Fatalf("%s failures=%d (%s), want an undecided hold", d.Action, d.Failures, d.Reason)
	}
}

// Relative objectives compare the candidate with the baseline over the
// same windows; with the candidate at 100 % the step compares with the
// baseline's earlier evidence.
func TestRelativeObjective(t *testing.T) {
	e, r := canary()
	e.Objectives = []policy.Objective{{Metric: "mean-latency", UpperLimit: f(1.2), RelativeTo: "baseline"}}
	st := startState(e, r)
	obs := healthy(2000)
	if d := look(e, r, st, obs); d.Action != Advance || d.Verdicts[0].Checks[0].Unit != "×" {
		t.Fatalf("equal means: %s (%s), want advance", d.Action, d.Reason)
	}
	obs["v2"]["mean-latency"] = latencies(metrics.Mean, 2000, 40, 0.5)
	st.Failures = 1
	if d := look(e, r, st, obs); d.Action != RollBack || !strings.Contains(d.Reason, "mean-latency ÷ v1's 2× (interval 1.8") {
		t.Fatalf("twice the baseline's mean: %s (%s), want rollback", d.Action, d.Reason)
	}
	st.Failures = 0
	// Both are measured over the same step: with no baseline traffic in
	// it there is nothing to compare with (validate refuses a last step
	// that leaves the baseline none).
	none := healthy(2000)
	none["v1"]["mean-latency"] = Observation{Type: metrics.Mean, Error: "no requests yet", NoData: true}
	if d := look(e, r, st, none); d.Action != Hold || !strings.Contains(d.Reason, "the baseline v1 has 0 requests in this step") {
		t.Fatalf("no baseline data in the step: %s (%s), want an undecided hold", d.Action, d.Reason)
	}
}

// A p95 limit inside a histogram bucket is judged conservatively both
// ways, and the verdict says so and what would fix it.
func TestQuantileLimitInsideABucket(t *testing.T) {
	e, r := canary()
	e.Objectives = []policy.Objective{{Metric: "p95-latency", UpperLimit: f(80)}}
	st := startState(e, r)
	d := look(e, r, st, healthy(5000))
	ck := d.Verdicts[0].Checks[0]
	if ck.Limit != 0.05 || !strings.Contains(ck.Quantity, "over 80 ms") || !strings.Contains(ck.Note, "inside the histogram bucket (50, 100 ms]") {
		t.Fatalf("check %+v: want the share over 80 ms against 5 %%, with a note on the bucket", ck)
	}
	// With 100 ms, a bound, the same data decide exactly.
	e.Objectives[0].UpperLimit = f(100)
	if ck := look(e, r, st, healthy(5000)).Verdicts[0].Checks[0]; ck.Note != "" || ck.Outcome != Pass {
		t.Fatalf("limit on a bound: %+v", ck)
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
	obs := Observations{"v2": {"error-rate": errorsOf(0, 1000)}}
	d := look(e, r, st, obs)
	st.Iteration = d.Iteration
	d = look(e, r, st, obs)
	if d.Action != Finish || d.Stage != Completed || d.Route.MirrorOff {
		t.Fatalf("passing conformance: %s %s mirrorOff=%v (%s), want finish keeping the mirror", d.Action, d.Stage, d.Route.MirrorOff, d.Reason)
	}
	st.Iteration, st.Failures = 0, 1
	obs["v2"]["error-rate"] = errorsOf(25, 50)
	d = look(e, r, st, obs)
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
	conv := func(x float64) Observation { return errorsOf(x, 1000) }
	obs := Observations{
		"a": {"error-rate": errorsOf(10, 1000), "conversion": conv(100)},
		"b": {"error-rate": errorsOf(10, 1000), "conversion": conv(300)},
		"c": {"error-rate": errorsOf(200, 1000), "conversion": conv(900)}, // fails
	}
	d := look(e, r, startState(e, r), obs)
	if d.Winner != "b" || d.Action != PromoteWinner {
		t.Fatalf("winner %q (%s: %s), want b: c converts best but fails its objective", d.Winner, d.Action, d.Reason)
	}
	// A reward no version is shown best on picks nobody: a winner on a
	// point estimate would be a coin toss.
	obs["b"]["conversion"] = conv(105)
	d = look(e, r, startState(e, r), obs)
	if d.Winner != "" || d.Action != Hold || !strings.Contains(d.Reason, "no version shown best on the reward conversion yet") {
		t.Fatalf("conversions 10 %% and 10.5 %%: winner %q (%s: %s), want no winner yet", d.Winner, d.Action, d.Reason)
	}
}

func TestOnFailureKeep(t *testing.T) {
	e, r := canary()
	e.OnFailure = policy.Keep
	st := startState(e, r)
	st.Route = setWeight(st.Route, "v2", "v1", 20)
	st.Failures = 1
	obs := healthy(1000)
	obs["v2"]["mean-latency"] = latencies(metrics.Mean, 1000, 500, 0.5)
	d := look(e, r, st, obs)
	if d.Stage != Failed || d.Route.Weights()["v2"] != 20 {
		t.Fatalf("%s weights %v (%s), want Failed with weights kept", d.Stage, d.Route.Weights(), d.Reason)
	}
}

func TestPercentagesNormalise(t *testing.T) {
	w := func(v uint32) *uint32 { return &v }
	got := Route{Split: percentages([]policy.Backend{{Variant: "a", Weight: w(1)}, {Variant: "b", Weight: w(1)}, {Variant: "c", Weight: w(1)}})}.Weights()
	if got["a"]+got["b"]+got["c"] != 100 || got["a"] != 34 {
		t.Fatalf("1:1:1 → %v, want 34/33/33", got)
	}
}
