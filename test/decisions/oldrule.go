package decisions

import (
	"math"

	"github.com/shadowplane/shadowplane/analysis"
	"github.com/shadowplane/shadowplane/analysis/stats"
	"github.com/shadowplane/shadowplane/policy"
)

// RunOld simulates one experiment under the rule shadowplane used before
// evidence accumulated (analysis.Evaluate up to commit 5f451e5), kept
// here only to measure against: each window is judged alone on point
// estimates; a window with fewer than minSamples requests for any metric
// is held and read again with the next (the window grows); maxNoData holds
// in a row roll back; one window beyond a limit rolls back; iterations
// passing windows promote, a Progressive canary stepping up at each.
func (c Case) RunOld(run int) Result {
	e, _ := c.Spec()
	gens := c.generators(run)
	route := analysis.Start(e, &policy.Route{Split: c.startSplit()}, t0).Route
	iteration, noData := 0, 0
	window := map[string]*Counts{"v1": {}, "v2": {}}
	for at := e.Interval; at < horizon; at += e.Interval {
		c.draw(gens, route, e.Interval.Seconds(), window)
		values, ok := oldValues(e, window)
		if !ok {
			if noData++; noData >= e.MaxNoData {
				return Result{Outcome: RolledBack, After: at}
			}
			continue
		}
		noData = 0
		window = map[string]*Counts{"v1": {}, "v2": {}}
		if !oldPasses(e, values) {
			return Result{Outcome: RolledBack, After: at}
		}
		if iteration++; iteration >= e.Iterations {
			return Result{Outcome: Promoted, After: at}
		}
		if !c.Conformance {
			route = stepUp(route, e.Steps.StepWeight, e.Steps.MaxWeight)
		}
	}
	return Result{Outcome: Unfinished, After: horizon}
}

func (c Case) startSplit() []policy.Backend {
	_, r := c.Spec()
	return r.Split
}

// oldValues are each version's metric values over the window, or false
// when a version judged lacks minSamples for one of them.
func oldValues(e *policy.Experiment, window map[string]*Counts) (map[string]map[string]float64, bool) {
	out := map[string]map[string]float64{}
	for _, v := range e.Versions() {
		out[v] = map[string]float64{}
		cnt := window[v]
		for _, o := range e.Objectives {
			judged := v == "v2" || o.RelativeTo == "baseline"
			if cnt.Requests < float64(e.MinSamples) {
				if judged {
					return nil, false
				}
				continue
			}
			switch definitions[o.Metric].Type {
			case "ratio":
				out[v][o.Metric] = cnt.Errors / cnt.Requests
			case "mean":
				out[v][o.Metric] = cnt.Sum / cnt.Requests
			default:
				h := stats.Histogram{}
				for _, b := range cnt.cumulative() {
					h.Bounds, h.Counts = append(h.Bounds, b.UpperBound), append(h.Counts, b.Count)
				}
				out[v][o.Metric] = h.Quantile(definitions[o.Metric].Quantile)
			}
		}
	}
	return out, true
}

// oldPasses checks the candidate's point values against the limits,
// relative ones scaled by the baseline's value.
func oldPasses(e *policy.Experiment, values map[string]map[string]float64) bool {
	for _, o := range e.Objectives {
		val := values["v2"][o.Metric]
		scale := 1.0
		if o.RelativeTo == "baseline" {
			scale = values["v1"][o.Metric]
		}
		if o.UpperLimit != nil && val > *o.UpperLimit*scale {
			return false
		}
		if o.LowerLimit != nil && val < *o.LowerLimit*scale {
			return false
		}
		if math.IsNaN(val) {
			return false
		}
	}
	return true
}

// stepUp moves v2 up one step, taking it from v1.
func stepUp(r analysis.Route, step, max uint32) analysis.Route {
	w := r.Weights()
	v2 := min(w["v2"]+step, max)
	moved := v2 - w["v2"]
	if moved > w["v1"] {
		moved = w["v1"]
	}
	a, b := w["v1"]-moved, w["v2"]+moved
	return analysis.Route{Split: []policy.Backend{{Variant: "v1", Weight: &a}, {Variant: "v2", Weight: &b}}}
}
