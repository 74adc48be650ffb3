package policy

import (
	"fmt"
	"slices"
)

// checkExperiments checks what experiments name against the model's apps:
// the app, the route, the versions and their place in the route, and that
// no two experiments drive one route or share a name. Each problem is at
// the experiment's declaration.
func (m *Model) checkExperiments() []Problem {
	var problems []Problem
	metrics := map[string]*Metric{}
	for i := range m.Metrics {
		mt := &m.Metrics[i]
		if prev, ok := metrics[mt.Name]; ok {
			problems = append(problems, Problem{File: mt.Source.File, Line: mt.Source.Line,
				Message: fmt.Sprintf("metric %q is already defined at %s:%d", mt.Name, prev.Source.File, prev.Source.Line)})
			continue
		}
		metrics[mt.Name] = mt
	}
	names := map[string]*Experiment{}
	routes := map[string]*Experiment{}
	for i := range m.Experiments {
		e := &m.Experiments[i]
		bad := func(format string, args ...any) {
			problems = append(problems, Problem{File: e.Source.File, Line: e.Source.Line, Message: fmt.Sprintf("experiment %q: ", e.Name) + fmt.Sprintf(format, args...)})
		}
		if prev, ok := names[e.Name]; ok {
			bad("the name is already used at %s:%d", prev.Source.File, prev.Source.Line)
			continue
		}
		names[e.Name] = e
		app, ok := m.App(e.App)
		if !ok {
			bad("unknown app %q", e.App)
			continue
		}
		var route *Route
		for j := range app.Routes {
			if app.Routes[j].Name == e.Route {
				route = &app.Routes[j]
			}
		}
		if route == nil {
			bad("app %q has no route %q", e.App, e.Route)
			continue
		}
		key := e.App + "/" + e.Route
		if prev, ok := routes[key]; ok {
			bad("route %s is already driven by experiment %q (%s:%d)", key, prev.Name, prev.Source.File, prev.Source.Line)
			continue
		}
		routes[key] = e
		for _, v := range e.Versions() {
			if _, ok := app.Variant(v); !ok {
				bad("app %q has no variant %q", e.App, v)
			}
		}
		inSplit := func(v string) bool {
			return slices.ContainsFunc(route.Split, func(b Backend) bool { return b.Variant == v })
		}
		switch e.Testing {
		case Conformance:
			c := e.Candidates[0]
			if !inSplit(c) && (route.Mirror == nil || route.Mirror.Variant != c) {
				bad("route %s neither sends nor mirrors traffic to %q: nothing would measure it", key, c)
			}
		default:
			for _, v := range e.Versions() {
				if !inSplit(v) {
					bad("variant %q is not in route %s's split: add it (with weight 0 for a candidate that starts dark)", v, key)
				}
			}
		}
	}
	return problems
}
