package analysis

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/shadowplane/shadowplane/policy"
)

// stages are the stages a saved state may be in.
var stages = []Stage{Running, Completed, RolledBack, Failed, Halted, Paused, WaitingApproval}

// checkFile reports why st, read from the state file of experiment name,
// cannot be that experiment's state: no identity (an empty object), the
// identity of another experiment (a file copied under this name), an
// unknown stage, or a route that is not a split in percent. Nothing here
// needs the policy; checkModel does the rest once it is known.
func (st *State) checkFile(name string) error {
	switch {
	case st.Experiment == "":
		return errors.New("no experiment name: not the state of an experiment (an empty or foreign file)")
	case st.Experiment != name:
		return fmt.Errorf("holds the state of experiment %q, not of %q", st.Experiment, name)
	case st.Spec.Name != st.Experiment:
		return fmt.Errorf("spec is of experiment %q, not of %q", st.Spec.Name, name)
	case st.Spec.App == "" || st.Spec.Route == "":
		return errors.New("spec names no app or no route")
	case !slices.Contains(stages, st.Stage):
		return fmt.Errorf("stage %q is not one of %v", st.Stage, stages)
	case st.Iteration < 0 || st.NoData < 0 || st.Failures < 0:
		return fmt.Errorf("negative counts (iteration %d, noData %d, failures %d)", st.Iteration, st.NoData, st.Failures)
	}
	if err := st.Route.check(); err != nil {
		return fmt.Errorf("route: %w", err)
	}
	if err := st.LastGood.check(); err != nil {
		return fmt.Errorf("lastGood: %w", err)
	}
	if st.Held != nil {
		if err := st.Held.Route.check(); err != nil {
			return fmt.Errorf("held: route: %w", err)
		}
	}
	return nil
}

// CheckSaved reports why st, saved as the state of experiment name (read
// from its file, its ConfigMap), cannot be that experiment's state, as
// checkFile does. A StateStore's LoadAll puts a state that fails it in
// invalid.
func (st *State) CheckSaved(name string) error { return st.checkFile(name) }

// check reports why r is not a split in percent: every backend named
// once, with a weight from 0 to 100, the weights summing to 100.
func (r Route) check() error {
	if len(r.Split) == 0 {
		return errors.New("no split")
	}
	seen := map[string]bool{}
	var sum uint64
	for _, b := range r.Split {
		switch {
		case b.Variant == "":
			return errors.New("a backend names no variant")
		case seen[b.Variant]:
			return fmt.Errorf("variant %q is in the split twice", b.Variant)
		case b.Weight == nil:
			return fmt.Errorf("variant %q has no weight", b.Variant)
		case *b.Weight > 100:
			return fmt.Errorf("variant %q has weight %d, more than 100", b.Variant, *b.Weight)
		}
		seen[b.Variant] = true
		sum += uint64(*b.Weight)
	}
	if sum != 100 {
		return fmt.Errorf("weights sum to %d, want 100", sum)
	}
	return nil
}

// checkModel reports why st, whose identity matches e's, cannot be served
// for e under m: its split (or the last good one, or its winner) names a
// variant that e's app does not have. A route or app that is not in m is
// not an error here: the state cannot be served until it is, and is
// checked then.
func (st *State) checkModel(m *policy.Model, e *policy.Experiment) error {
	app, ok := m.App(e.App)
	if !ok {
		return nil
	}
	known := func(v string) bool {
		return slices.ContainsFunc(app.Variants, func(x policy.Variant) bool { return x.Name == v })
	}
	for _, r := range []struct {
		field string
		route Route
	}{{"route", st.Route}, {"lastGood", st.LastGood}} {
		for _, b := range r.route.Split {
			if !known(b.Variant) {
				return fmt.Errorf("%s: variant %q is not a variant of app %q", r.field, b.Variant, e.App)
			}
		}
	}
	if st.Winner != "" && !known(st.Winner) {
		return fmt.Errorf("winner %q is not a variant of app %q", st.Winner, e.App)
	}
	return nil
}

// held is the state of an experiment whose saved state could not be used
// (err says why, naming the file): it is paused, serves nothing of its own (the
// route follows the policy), and is never saved, so the file stays as it
// is for a person to look at.
func held(name string, err error, now time.Time) *State {
	reason := fmt.Sprintf("held: the saved state is invalid (%v); it is not used and not overwritten: the route serves the policy's weights "+
		"and nothing is judged until it is removed (its file or ConfigMap; then restart, or edit the policy) or the experiment is made a new one "+
		"(its app, route, testing, deployment, baseline or candidates changed)", err)
	return &State{
		Experiment: name, Stage: Paused, Reason: reason, UpdatedAt: now, invalid: err.Error(),
		History: []Record{{At: now, Action: Pause, Reason: reason}},
	}
}
