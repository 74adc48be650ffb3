package analysis

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"

	"github.com/shadowplane/shadowplane/policy"
)

// Decision is the outcome of one iteration.
type Decision struct {
	Action   Action
	Reason   string
	Verdicts []Verdict
	// Stage, Iteration, NoData, Route and Winner are the experiment's
	// state after the decision.
	Stage     Stage
	Iteration int
	NoData    int
	Route     Route
	Winner    string
}

// Evaluate judges one interval. It is pure: the same inputs give the same
// decision. The rules, in order:
//
//  1. Every version judged needs, for every metric it is judged on, a value
//     read without error and backed by at least MinSamples requests. If any
//     is missing the interval is not judged: Hold — and after MaxNoData
//     such intervals in a row, the experiment fails. Missing data is never
//     a pass.
//  2. Each objective is checked for each version judged (the candidate for
//     Conformance and Canary, every version for AB). A relative objective
//     scales its limits by the baseline's value.
//  3. Canary and Conformance fail when the candidate fails an objective;
//     AB fails when no version passes every objective.
//  4. A pass counts one iteration. After Iterations passes the experiment
//     ends with OnSuccess; before, a Progressive canary moves its candidate
//     up one step, and other patterns keep the weights.
//  5. A failure ends the experiment with OnFailure.
func Evaluate(e *policy.Experiment, pr *policy.Route, st *State, obs Observations) Decision {
	d := Decision{Stage: Running, Iteration: st.Iteration, Route: st.Route}

	if missing := missingData(e, obs); len(missing) > 0 {
		d.NoData = st.NoData + 1
		reason := "no judgement: " + strings.Join(missing, "; ")
		if d.NoData >= e.MaxNoData {
			return fail(e, pr, d, fmt.Sprintf("%s (%d intervals in a row without data)", reason, d.NoData))
		}
		d.Action, d.Reason = Hold, reason
		return d
	}

	d.Verdicts = verdicts(e, obs)
	passing := passingVersions(e, d.Verdicts)
	if e.Testing == policy.AB {
		if len(passing) == 0 {
			return fail(e, pr, d, "no version satisfies every objective: "+failures(d.Verdicts))
		}
	} else if !slices.Contains(passing, e.Candidates[0]) {
		return fail(e, pr, d, fmt.Sprintf("%s fails: %s", e.Candidates[0], failures(d.Verdicts)))
	}

	d.Iteration = st.Iteration + 1
	d.Winner = winner(e, passing, obs)
	if d.Iteration >= e.Iterations {
		return succeed(e, pr, d)
	}
	d.Action = Advance
	d.Reason = fmt.Sprintf("objectives pass (%d of %d)", d.Iteration, e.Iterations)
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

// missingData lists, sorted, what keeps the interval from being judged.
func missingData(e *policy.Experiment, obs Observations) []string {
	var out []string
	for v, metrics := range needs(e) {
		for _, m := range metrics {
			o, ok := obs[v][m]
			switch {
			case !ok:
				out = append(out, fmt.Sprintf("%s %s: not read", v, m))
			case o.Error != "":
				out = append(out, fmt.Sprintf("%s %s: %s", v, m, o.Error))
			case o.Samples < float64(e.MinSamples):
				out = append(out, fmt.Sprintf("%s %s: %.0f requests, need %d", v, m, o.Samples, e.MinSamples))
			case math.IsNaN(o.Value) || math.IsInf(o.Value, 0):
				out = append(out, fmt.Sprintf("%s %s: value %v", v, m, o.Value))
			}
		}
	}
	sort.Strings(out)
	return out
}

func verdicts(e *policy.Experiment, obs Observations) []Verdict {
	var out []Verdict
	for _, v := range judged(e) {
		for _, o := range e.Objectives {
			val := obs[v][o.Metric].Value
			upper, lower := o.UpperLimit, o.LowerLimit
			if o.RelativeTo == "baseline" {
				base := obs[e.Baseline][o.Metric].Value
				upper, lower = scale(upper, base), scale(lower, base)
			}
			pass := (upper == nil || val <= *upper) && (lower == nil || val >= *lower)
			out = append(out, Verdict{Version: v, Metric: o.Metric, Value: val, Upper: upper, Lower: lower, Pass: pass})
		}
	}
	return out
}

func scale(limit *float64, by float64) *float64 {
	if limit == nil {
		return nil
	}
	v := *limit * by
	return &v
}

// passingVersions are the judged versions that pass every objective, in
// judging order.
func passingVersions(e *policy.Experiment, vs []Verdict) []string {
	var out []string
	for _, v := range judged(e) {
		ok := true
		for _, vd := range vs {
			if vd.Version == v && !vd.Pass {
				ok = false
			}
		}
		if ok {
			out = append(out, v)
		}
	}
	return out
}

func failures(vs []Verdict) string {
	var out []string
	for _, v := range vs {
		if v.Pass {
			continue
		}
		limit := ""
		if v.Upper != nil && v.Value > *v.Upper {
			limit = fmt.Sprintf("> %.4g", *v.Upper)
		} else if v.Lower != nil {
			limit = fmt.Sprintf("< %.4g", *v.Lower)
		}
		out = append(out, fmt.Sprintf("%s %s = %.4g %s", v.Version, v.Metric, v.Value, limit))
	}
	return strings.Join(out, ", ")
}

// winner is the candidate for Conformance and Canary, and for AB the
// passing version with the best reward (ties go to the earlier version,
// the baseline first).
func winner(e *policy.Experiment, passing []string, obs Observations) string {
	if e.Testing != policy.AB {
		return e.Candidates[0]
	}
	best := passing[0]
	for _, v := range passing[1:] {
		a, b := obs[v][e.Reward.Metric].Value, obs[best][e.Reward.Metric].Value
		if (e.Reward.PreferHigher && a > b) || (!e.Reward.PreferHigher && a < b) {
			best = v
		}
	}
	return best
}

func succeed(e *policy.Experiment, pr *policy.Route, d Decision) Decision {
	d.Stage = Completed
	switch e.OnSuccess {
	case policy.Promote:
		d.Action, d.Route = PromoteWinner, promoted(d.Winner)
		d.Reason = fmt.Sprintf("objectives passed %d of %d iterations: %s promoted to 100%%", d.Iteration, e.Iterations, d.Winner)
	case policy.Rollback:
		d.Action, d.Route = RollBack, rolledBack(e, pr, d.Route)
		d.Reason = fmt.Sprintf("objectives passed %d of %d iterations; onSuccess is rollback", d.Iteration, e.Iterations)
	default:
		d.Action = Finish
		d.Reason = fmt.Sprintf("objectives passed %d of %d iterations; weights kept (winner %s)", d.Iteration, e.Iterations, d.Winner)
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
