package analysis

import (
	"slices"

	"github.com/shadowplane/shadowplane/policy"
)

// Effective is the model proxies are served: the policy's, with each
// experiment's route as its state says. The policy model is not modified;
// apps an experiment touches are copied. A state whose experiment, app or
// route is gone, or whose route no longer fits the app, is ignored.
func Effective(m *policy.Model, states map[string]*State) *policy.Model {
	out := &policy.Model{Apps: slices.Clone(m.Apps), Experiments: m.Experiments}
	for i := range m.Experiments {
		e := &m.Experiments[i]
		st, ok := states[e.Name]
		if !ok || len(st.Route.Split) == 0 {
			continue
		}
		for a := range out.Apps {
			app := &out.Apps[a]
			if app.Name != e.App {
				continue
			}
			changed := *app
			changed.Routes = slices.Clone(app.Routes)
			for r := range changed.Routes {
				if changed.Routes[r].Name == e.Route {
					changed.Routes[r] = override(changed.Routes[r], st.Route)
				}
			}
			// The policy may have been edited under a running experiment
			// (a variant removed, say): an override that no longer makes a
			// valid app is not served, so it can never block the policy.
			if changed.Validate() == nil {
				*app = changed
			}
		}
	}
	return out
}

// override applies an experiment's route to a policy route. A mirror to a
// variant the experiment now sends live traffic to is withdrawn: a dark
// candidate that a canary starts moving live traffic to would otherwise
// get every mirrored request twice (and the policy forbids that route).
func override(r policy.Route, er Route) policy.Route {
	r.Split = slices.Clone(er.Split)
	if er.MirrorOff {
		r.Mirror = nil
	}
	if r.Mirror != nil {
		for _, b := range r.Split {
			if b.Variant == r.Mirror.Variant && weight(b) > 0 {
				r.Mirror = nil
				break
			}
		}
	}
	return r
}
