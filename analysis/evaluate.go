package analysis

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/shadowplane/shadowplane/policy"
)

// Decision is the outcome of one look.
type Decision struct {
	Action   Action
	Reason   string
	Verdicts []Verdict
	// Stage, Iteration, NoData, Failures, Route and Winner are the
	// experiment's state after the decision.
	Stage     Stage
	Iteration int
	NoData    int
	Failures  int
	Route     Route
	Winner    string
}

// Evaluate judges one look, at now, on obs: every version's metrics since
// the current step was in place on every proxy. It is pure: the same
// inputs give the same decision. The rules, in order:
//
//  1. The metrics source must answer. A metric a judged version needs that
//     could not be read (an error other than "no requests yet") means
//     nothing is judged at this look: hold; after MaxNoData such looks in
//     a row, OnNoData (pause, by default). An outage never passes
//     anything.
//  2. Each objective is judged for each version judged (the candidate for
//     Conformance and Canary, every version for AB) on the step's data,
//     with anytime-valid intervals: pass when the interval is within the
//     limits, fail when it is wholly beyond one, otherwise pending.
//     Failing tests spend Alpha over the steps (most on the first ones)
//     and split it over every check; passing ones each use Alpha (all
//     must pass), split over the versions of an AB experiment.
//  3. Canary and Conformance fail when the candidate fails an objective,
//     AB when every version fails one — at FailureLimit looks in a row
//     (before that, hold). Then OnFailure.
//  4. A step is ready when every version judged has MinSamples requests in
//     it and, for Canary and Conformance, the candidate's estimates sit
//     within every limit. A ready step counts an iteration; a Progressive
//     canary then moves up one step. The last iteration also needs every
//     objective shown to pass on the last step's own data (for AB, one
//     version passing all and shown better on the reward than any other
//     that does); then OnSuccess.
//  5. A step not ready, or a last iteration not yet shown to pass, holds
//     and collects; after MaxStepDuration in the step, OnInconclusive.
func Evaluate(e *policy.Experiment, pr *policy.Route, st *State, obs Observations, now time.Time) Decision {
	d := Decision{Stage: Running, Iteration: st.Iteration, Route: st.Route}

	if down := sourceDown(e, obs); len(down) > 0 {
		d.NoData = st.NoData + 1
		reason := "metrics source down: " + strings.Join(down, "; ")
		if d.NoData >= e.MaxNoData {
			return wait(e, pr, d, e.OnNoData, fmt.Sprintf("%s (%d looks in a row)", reason, d.NoData), "onNoData")
		}
		d.Action, d.Reason = Hold, fmt.Sprintf("%s; nothing judged (%d of %d looks before %s)", reason, d.NoData, e.MaxNoData, e.OnNoData)
		return d
	}

	stepAge := now.Sub(st.WindowStart)
	j := newJudge(e, pr, st, obs, stepAge)
	for _, v := range judged(e) {
		for i := range e.Objectives {
			d.Verdicts = append(d.Verdicts, j.verdict(i, v))
		}
	}

	if failing := failingVersions(e, d.Verdicts); len(failing) > 0 {
		d.Failures = st.Failures + 1
		why := failures(e, d.Verdicts)
		if d.Failures >= e.FailureLimit {
			if e.Testing == policy.AB {
				return fail(e, pr, d, "every version fails an objective: "+why)
			}
			return fail(e, pr, d, fmt.Sprintf("%s fails: %s", e.Candidates[0], why))
		}
		d.Action, d.Reason = Hold, fmt.Sprintf("failing at %d of %d looks in a row needed to fail: %s", d.Failures, e.FailureLimit, why)
		return d
	}

	final := st.Iteration+1 >= e.Iterations
	waiting := notReady(e, obs, d.Verdicts)
	passing := passingVersions(e, d.Verdicts)
	if final && len(waiting) == 0 && len(passing) == 0 {
		waiting = pendingReasons(d.Verdicts)
	}
	if final && len(waiting) == 0 {
		var why string
		if d.Winner, why = bestByReward(e, passing, obs); d.Winner == "" {
			waiting = []string{why}
		}
	}
	if len(waiting) > 0 {
		reason := "not decided yet: " + strings.Join(waiting, "; ")
		if stepAge >= e.MaxStepDuration {
			return wait(e, pr, d, e.OnInconclusive, fmt.Sprintf("%s — still undecided after %s in this step (maxStepDuration %s)", reason, stepAge.Round(time.Second), e.MaxStepDuration), "onInconclusive")
		}
		d.Action, d.Reason = Hold, reason
		return d
	}

	d.Iteration = st.Iteration + 1
	if final {
		return succeed(e, pr, d)
	}
	d.Action = Advance
	d.Reason = fmt.Sprintf("nothing failing and the step's estimates within the limits (%d of %d iterations)", d.Iteration, e.Iterations)
	if e.Deployment == policy.Progressive && e.Testing == policy.Canary {
		d.Route = nextStep(e, st.Route)
		c := e.Candidates[0]
		d.Reason += fmt.Sprintf("; %s %d%% → %d%%", c, st.Route.Weights()[c], d.Route.Weights()[c])
	}
	return d
}

// judged are the versions whose objectives decide.
func judged(e *policy.Experiment) []string {
	if e.Testing == policy.AB {
		return e.Versions()
	}
	return e.Candidates[:1]
}

// needs maps each version that must have data to the metrics it needs.
func needs(e *policy.Experiment) map[string][]string {
	out := map[string][]string{}
	add := func(v, m string) {
		if !slices.Contains(out[v], m) {
			out[v] = append(out[v], m)
		}
	}
	for _, v := range judged(e) {
		for _, o := range e.Objectives {
			add(v, o.Metric)
			if o.RelativeTo == "baseline" {
				add(e.Baseline, o.Metric)
			}
		}
		if e.Reward != nil {
			add(v, e.Reward.Metric)
		}
	}
	return out
}

// sourceDown lists, sorted, the metrics that could not be read: a look
// with any is not judged. "No requests yet" is not among them: that is
// evidence of nothing, and the verdicts say so.
func sourceDown(e *policy.Experiment, obs Observations) []string {
	var out []string
	for v, names := range needs(e) {
		for _, m := range names {
			o, ok := obs[v][m]
			switch {
			case !ok:
				out = append(out, fmt.Sprintf("%s %s: not read", v, m))
			case o.Error != "" && !o.NoData:
				out = append(out, fmt.Sprintf("%s %s: %s", v, m, o.Error))
			case o.Error == "" && !o.finite():
				out = append(out, fmt.Sprintf("%s %s: value %v from counts %v/%v", v, m, o.Value, o.Events, o.Samples))
			}
		}
	}
	sort.Strings(out)
	return out
}

// failingVersions are the judged versions with an objective shown
// failing, when that fails the experiment: the candidate's for Canary and
// Conformance, every version's for AB.
func failingVersions(e *policy.Experiment, vs []Verdict) []string {
	var out []string
	for _, v := range judged(e) {
		for _, vd := range vs {
			if vd.Version == v && vd.Outcome == Fail {
				out = append(out, v)
				break
			}
		}
	}
	if e.Testing == policy.AB && len(out) < len(judged(e)) {
		return nil
	}
	return out
}

// passingVersions are the judged versions shown to pass every objective,
// in judging order; for Canary and Conformance, the candidate or none.
func passingVersions(e *policy.Experiment, vs []Verdict) []string {
	var out []string
	for _, v := range judged(e) {
		ok := true
		for _, vd := range vs {
			if vd.Version == v && vd.Outcome != Pass {
				ok = false
			}
		}
		if ok {
			out = append(out, v)
		}
	}
	return out
}

// notReady says why the step cannot count an iteration yet: a judged
// version with fewer than MinSamples requests in the step, or (Canary,
// Conformance) a candidate whose estimates are beyond a limit.
func notReady(e *policy.Experiment, obs Observations, vs []Verdict) []string {
	var out []string
	for v, names := range needs(e) {
		if !slices.Contains(judged(e), v) {
			continue
		}
		for _, m := range names {
			if n := obs[v][m].Samples; n < float64(e.MinSamples) {
				out = append(out, fmt.Sprintf("%s has %s requests in this step, %d needed (minSamples)", v, formatCount(n), e.MinSamples))
				break
			}
		}
	}
	sort.Strings(out)
	if len(out) > 0 || e.Testing == policy.AB {
		return out
	}
	for _, vd := range vs {
		switch {
		case vd.Leaning:
		case len(vd.Checks) == 0:
			out = append(out, vd.Version+": "+vd.Why)
		default:
			out = append(out, fmt.Sprintf("%s %s looks beyond its limit in this step (not shown yet): %s", vd.Version, vd.Metric, estimates(vd)))
		}
	}
	return out
}

// estimates says what a verdict's estimates are against its limits.
func estimates(vd Verdict) string {
	var parts []string
	for _, ck := range vd.Checks {
		parts = append(parts, fmt.Sprintf("%s %s from %s requests (limit %s %s)", ck.Quantity, formatValue(ck.Estimate, ck.Unit), formatCount(ck.Samples), opText(ck.Op), formatValue(ck.Limit, ck.Unit)))
	}
	return strings.Join(parts, ", ")
}

// pendingReasons are the whys of the verdicts not shown to pass.
func pendingReasons(vs []Verdict) []string {
	var out []string
	for _, vd := range vs {
		if vd.Outcome != Pass {
			out = append(out, vd.Version+": "+vd.Why)
		}
	}
	return out
}

// failures are the whys of the failing verdicts, each with its version
// when several are judged (AB).
func failures(e *policy.Experiment, vs []Verdict) string {
	var out []string
	for _, v := range vs {
		if v.Outcome != Fail {
			continue
		}
		if e.Testing == policy.AB {
			out = append(out, v.Version+": "+v.Why)
		} else {
			out = append(out, v.Why)
		}
	}
	return strings.Join(out, "; ")
}

func succeed(e *policy.Experiment, pr *policy.Route, d Decision) Decision {
	d.Stage = Completed
	switch e.OnSuccess {
	case policy.Promote:
		d.Action, d.Route = PromoteWinner, promoted(d.Winner)
		d.Reason = fmt.Sprintf("every objective shown to pass after %d of %d iterations: %s promoted to 100%%", d.Iteration, e.Iterations, d.Winner)
	case policy.Rollback:
		d.Action, d.Route = RollBack, rolledBack(e, pr, d.Route)
		d.Reason = fmt.Sprintf("every objective shown to pass after %d of %d iterations; onSuccess is rollback", d.Iteration, e.Iterations)
	default:
		d.Action = Finish
		d.Reason = fmt.Sprintf("every objective shown to pass after %d of %d iterations; weights kept (winner %s)", d.Iteration, e.Iterations, d.Winner)
	}
	return d
}

func fail(e *policy.Experiment, pr *policy.Route, d Decision, reason string) Decision {
	d.Reason = reason
	if e.OnFailure == policy.Keep {
		d.Action, d.Stage = Finish, Failed
		return d
	}
	d.Action, d.Stage = RollBack, RolledBack
	d.Route = rolledBack(e, pr, d.Route)
	return d
}

// wait applies what the experiment says to do when it cannot decide
// (field names the setting, for the reason): hold keeps looking, pause
// waits for a person, rollback rolls back.
func wait(e *policy.Experiment, pr *policy.Route, d Decision, action, reason, field string) Decision {
	switch action {
	case policy.Hold:
		d.Action, d.Reason = Hold, reason+"; "+field+" is hold: still looking"
	case policy.Rollback:
		d.Action, d.Stage, d.Route = RollBack, RolledBack, rolledBack(e, pr, d.Route)
		d.Reason = reason + "; " + field + " is rollback"
	default:
		d.Action, d.Stage = Pause, Paused
		d.Reason = reason + "; paused for a person: the weights stay; resume it (shadowplane resume), or edit the experiment (e.g. a longer maxStepDuration)"
	}
	return d
}
