package analysis

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/shadowplane/shadowplane/analysis/metrics"
	"github.com/shadowplane/shadowplane/policy"
)

// CheckModel reports, at each experiment's file and line, what in the model's
// experiments can never be decided (problems: validate fails) and what
// will be decided only roughly or slowly (warnings). Both are about
// judging, so they need the metric definitions; the policy package
// checks the rest.
func CheckModel(m *policy.Model, defs *metrics.Definitions) (problems, warnings []policy.Problem) {
	for i := range m.Experiments {
		e := &m.Experiments[i]
		at := func(format string, a ...any) policy.Problem {
			return policy.Problem{File: e.Source.File, Line: e.Source.Line, Message: fmt.Sprintf("experiment %q: ", e.Name) + fmt.Sprintf(format, a...)}
		}
		for _, name := range UnknownMetrics(e, defs) {
			problems = append(problems, at("unknown metric %q (known: %s)", name, strings.Join(defs.Names(), ", ")))
		}
		if p := relativeWithoutBaseline(m, e); p != "" {
			problems = append(problems, at("%s", p))
		}
		for j, o := range e.Objectives {
			def, ok := defs.Lookup(o.Metric)
			if !ok {
				continue
			}
			if def.Type == metrics.Quantile && o.RelativeTo == "" && len(def.Bounds) > 0 {
				for _, l := range []*float64{o.UpperLimit, o.LowerLimit} {
					if l == nil || slices.Contains(def.Bounds, *l) {
						continue
					}
					lo, hi := bracket(def.Bounds, *l)
					warnings = append(warnings, at("objectives[%d]: the limit %s of %s lies inside its histogram bucket (%s, %s]: "+
						"a request counts as over it to fail only past %s, and to pass already past %s, so the check is slower to decide; "+
						"a bucket bound at %s (or a limit of %s or %s) would make it exact",
						j, formatValue(*l, def.Unit), o.Metric, formatNumber(lo), formatValue(hi, def.Unit), formatValue(hi, def.Unit),
						formatValue(lo, def.Unit), formatValue(*l, def.Unit), formatValue(lo, def.Unit), formatValue(hi, def.Unit)))
				}
			}
			if def.Type == metrics.Quantile && o.RelativeTo == "baseline" && o.UpperLimit != nil && len(def.Bounds) > 1 {
				if r := narrowest(def.Bounds); r > *o.UpperLimit {
					warnings = append(warnings, at("objectives[%d]: %s relative to the baseline's is judged on whole histogram buckets, and its buckets are at least %s× apart: "+
						"≤ %s× the baseline's can only be shown met when the candidate's quantile is a bucket lower; a mean relative to the baseline's, or finer buckets, can decide",
						j, o.Metric, formatNumber(r), formatNumber(*o.UpperLimit)))
				}
			}
			if def.Type == metrics.Ratio && o.RelativeTo == "baseline" {
				warnings = append(warnings, at("objectives[%d]: a limit on %s relative to the baseline's compares two rates that are often near zero: "+
					"it takes many events on both sides to decide; an absolute limit decides sooner", j, o.Metric))
			}
		}
	}
	return problems, warnings
}

// relativeWithoutBaseline says why a relative objective can never be
// judged: its baseline starts with no traffic, and nothing will give it
// any.
func relativeWithoutBaseline(m *policy.Model, e *policy.Experiment) string {
	relative := slices.ContainsFunc(e.Objectives, func(o policy.Objective) bool { return o.RelativeTo == "baseline" })
	if !relative || e.Baseline == "" {
		return ""
	}
	pr := findRoute(m, e)
	if pr == nil {
		return ""
	}
	start := Start(e, pr, time.Time{})
	if w := start.Route.Weights()[e.Baseline]; w == 0 {
		return fmt.Sprintf("objectives relative to the baseline %s cannot be judged: %s starts with weight 0 on route %s and nothing gives it traffic", e.Baseline, e.Baseline, e.Route)
	}
	return ""
}

// bracket is the bucket of bounds holding v: the largest bound below it
// (0 if none) and the smallest above (+Inf past the last).
func bracket(bounds []float64, v float64) (lo, hi float64) {
	i, _ := slices.BinarySearch(bounds, v)
	if i > 0 {
		lo = bounds[i-1]
	}
	if i < len(bounds) {
		return lo, bounds[i]
	}
	return lo, math.Inf(1)
}

// narrowest is the smallest ratio between two neighbouring positive
// bucket bounds.
func narrowest(bounds []float64) float64 {
	r := math.Inf(1)
	for i := 1; i < len(bounds); i++ {
		if bounds[i-1] > 0 {
			r = math.Min(r, bounds[i]/bounds[i-1])
		}
	}
	return r
}
