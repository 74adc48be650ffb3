package analysis

import (
	"fmt"
	"slices"
	"time"

	"github.com/shadowplane/shadowplane/policy"
)

// maxHeldLooks bounds the history: every decision that changed something
// is kept, and the last maxHeldLooks looks that held (at a 10 s interval,
// the last 20 minutes of a step that is still gathering evidence).
const maxHeldLooks = 120

// Start is an experiment's state when it begins at now on route pr: the
// route's split as the policy writes it. A Progressive canary whose
// candidate starts dark gets its first step at once: with no traffic it
// could never gather evidence.
func Start(e *policy.Experiment, pr *policy.Route, now time.Time) *State {
	route := initialRoute(pr)
	st := &State{
		Experiment: e.Name, Spec: *e, Stage: Running, Route: route, LastGood: route,
		Reason: "started", StartedAt: now, UpdatedAt: now,
	}
	if c := e.Candidates[0]; e.Testing == policy.Canary && e.Deployment == policy.Progressive && route.Weights()[c] == 0 {
		st.Route = nextStep(e, route)
		st.Reason = fmt.Sprintf("started: %s gets its first step, %d%%", c, st.Route.Weights()[c])
	}
	return st
}

// StepStarted records that every proxy serves the current step since at:
// the step's window, which it is judged on, starts.
func (st *State) StepStarted(at time.Time) {
	st.WindowStart = at
}

// Apply returns the state after decision d, made at the look at on the
// observations obs, and whether the route's weights or mirror moved (a new
// step to roll out, whose window StepStarted then opens). It is pure: the
// Runner saves the result before serving it, and simulations call it as
// the Runner does.
func (st *State) Apply(d Decision, obs Observations, at time.Time) (State, bool) {
	moved := !slices.Equal(weightsList(d.Route), weightsList(st.Route)) || d.Route.MirrorOff != st.Route.MirrorOff
	next := *st
	if moved {
		next.LastGood = st.Route
	}
	next.Stage, next.Iteration, next.NoData, next.Failures = d.Stage, d.Iteration, d.NoData, d.Failures
	next.Route, next.Winner, next.Reason, next.UpdatedAt = d.Route, d.Winner, d.Reason, at
	next.History = appendRecord(st.History, Record{
		Iteration: d.Iteration, At: at, WindowStart: st.WindowStart, Observations: summaries(obs), Verdicts: d.Verdicts,
		Action: d.Action, Reason: d.Reason, Weights: d.Route.Weights(), MirrorOff: d.Route.MirrorOff,
	})
	return next, moved
}

// appendRecord appends r to a copy of h, dropping the oldest held look
// past maxHeldLooks.
func appendRecord(h []Record, r Record) []Record {
	out := append(slices.Clone(h), r)
	held := 0
	for _, rec := range out {
		if rec.Action == Hold {
			held++
		}
	}
	if held <= maxHeldLooks {
		return out
	}
	for i, rec := range out {
		if rec.Action == Hold {
			return slices.Delete(out, i, i+1)
		}
	}
	return out
}

// summaries are observations without bucket counts, for the history.
func summaries(obs Observations) Observations {
	out := make(Observations, len(obs))
	for v, ms := range obs {
		out[v] = make(map[string]Observation, len(ms))
		for m, o := range ms {
			out[v][m] = o.summary()
		}
	}
	return out
}
