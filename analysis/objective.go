package analysis

import (
	"fmt"
	"math"
	"time"

	"github.com/shadowplane/shadowplane/analysis/metrics"
	"github.com/shadowplane/shadowplane/analysis/stats"
	"github.com/shadowplane/shadowplane/policy"
)

// judge holds what judging one look needs.
type judge struct {
	e   *policy.Experiment
	obs Observations
	// alphaFail is the level of each test that can fail a check: alpha
	// spent over the steps the experiment takes — 6/(π²s²) of it on step
	// s, so that however many steps there are the shares add up to at
	// most alpha, and most of it goes to the first steps, where the
	// candidate has least traffic and a quick rollback matters most — and
	// split evenly over every check of every version judged. So the chance
	// of any false failure in the whole experiment stays under alpha.
	// alphaPass is the level of each test that can pass one: all must
	// pass, so each may use alpha (an intersection-union test) — split
	// over the versions of an AB experiment, any of which may pass.
	alphaFail, alphaPass float64
	// elapsed is how long the step has run, for "about N minutes more".
	elapsed time.Duration
}

func newJudge(e *policy.Experiment, pr *policy.Route, st *State, obs Observations, elapsed time.Duration) *judge {
	k := 0
	for _, o := range e.Objectives {
		k += limitCount(o)
	}
	k *= len(judged(e))
	s := float64(stepIndex(e, pr, st.Route))
	j := &judge{e: e, obs: obs, alphaFail: e.Alpha * 6 / (math.Pi * math.Pi * s * s), alphaPass: e.Alpha, elapsed: elapsed}
	if k > 1 {
		j.alphaFail /= float64(k)
	}
	if e.Testing == policy.AB {
		j.alphaPass = e.Alpha / float64(len(judged(e)))
	}
	return j
}

func limitCount(o policy.Objective) int {
	n := 0
	if o.UpperLimit != nil {
		n++
	}
	if o.LowerLimit != nil {
		n++
	}
	return n
}

// stepIndex counts the steps so far, this one included: for a
// Progressive canary, the weights its candidate has had from the first
// up to the one served; otherwise 1.
func stepIndex(e *policy.Experiment, pr *policy.Route, route Route) int {
	if e.Testing != policy.Canary || e.Deployment != policy.Progressive || pr == nil || e.Steps.StepWeight == 0 {
		return 1
	}
	c := e.Candidates[0]
	first, now := Start(e, pr, time.Time{}).Route.Weights()[c], route.Weights()[c]
	if now <= first {
		return 1
	}
	return 1 + int((now-first+e.Steps.StepWeight-1)/e.Steps.StepWeight)
}

// condition is one limit of an objective, ready to check.
type condition struct {
	metric         string
	quantity, unit string
	op             string // "<=" or ">="
	limit          float64
	m              measure
	samples        float64
	note           string
	// paces: the estimate must sit within the limit for the step to
	// advance. Counts do not pace: a count grows with the step.
	paces bool
}

// verdict judges objective i for version on the step's data.
func (j *judge) verdict(i int, version string) Verdict {
	o := j.e.Objectives[i]
	obs := j.obs[version][o.Metric]
	vd := Verdict{Version: version, Metric: o.Metric, Objective: i, Value: obs.Value, Samples: obs.Samples}
	if obs.Samples < float64(j.e.MinSamples) {
		vd.Outcome = Pending
		vd.Why = fmt.Sprintf("%s requests in this step; judged from %d (minSamples)", formatCount(obs.Samples), j.e.MinSamples)
		if obs.NoData {
			vd.Why += ": " + obs.Error
		}
		return vd
	}
	conds, problem := j.conditions(o, version)
	if problem != "" {
		vd.Outcome, vd.Why = Pending, problem
		return vd
	}
	vd.Outcome, vd.Leaning = Pass, true
	var whys [3][]string // by outcome: fail, pending, pass
	for _, c := range conds {
		ck := j.check(c)
		vd.Checks = append(vd.Checks, ck)
		switch ck.Outcome {
		case Fail:
			vd.Outcome = Fail
			whys[0] = append(whys[0], j.explain(c, ck))
		case Pending:
			if vd.Outcome == Pass {
				vd.Outcome = Pending
			}
			whys[1] = append(whys[1], j.explain(c, ck))
		default:
			whys[2] = append(whys[2], j.explain(c, ck))
		}
		if c.paces && !within(ck.Estimate, c.op, c.limit) {
			vd.Leaning = false
		}
	}
	vd.Pass = vd.Outcome == Pass
	for _, w := range whys {
		if len(w) > 0 {
			vd.Why = w[0]
			break
		}
	}
	return vd
}

func within(v float64, op string, limit float64) bool {
	if op == ">=" {
		return v >= limit
	}
	return v <= limit
}

// check runs one condition: its bounds at the levels that can fail and
// pass it, the outcome, and how much data would decide it.
func (j *judge) check(c condition) Check {
	ck := Check{Quantity: c.quantity, Unit: c.unit, Op: c.op, Limit: c.limit, Estimate: finiteOr(c.m.estimate(), 0), Samples: c.samples, Note: c.note}
	var lo, hi float64
	if c.op == ">=" {
		lo, hi = c.m.lower(j.alphaPass), c.m.upper(j.alphaFail)
		ck.Outcome = outcomeOf(hi < c.limit, lo >= c.limit)
	} else {
		lo, hi = c.m.lower(j.alphaFail), c.m.upper(j.alphaPass)
		ck.Outcome = outcomeOf(lo > c.limit, hi <= c.limit)
	}
	ck.Low, ck.High = finite(lo), finite(hi)
	if ck.Outcome == Pending {
		ck.Need = finite(j.need(c))
	}
	return ck
}

func outcomeOf(fail, pass bool) Outcome {
	switch {
	case fail:
		return Fail
	case pass:
		return Pass
	}
	return Pending
}

// need is how many requests in the step would decide c if the data went
// on in the same proportions: the side the estimate is on is the side it
// would be shown on.
func (j *judge) need(c condition) float64 {
	est := c.m.estimate()
	if math.IsNaN(est) || est == c.limit || c.samples <= 0 {
		return math.Inf(1)
	}
	var decided func(m measure) bool
	switch {
	case c.op == "<=" && est < c.limit:
		decided = func(m measure) bool { return m.below(c.limit, j.alphaPass) }
	case c.op == "<=":
		decided = func(m measure) bool { return m.above(c.limit, j.alphaFail) }
	case est > c.limit:
		decided = func(m measure) bool { return m.above(c.limit, j.alphaPass) }
	default:
		decided = func(m measure) bool { return m.below(c.limit, j.alphaFail) }
	}
	return stats.SamplesNeeded(c.samples, func(n float64) bool { return decided(c.m.scaled(n / c.samples)) })
}

// conditions builds an objective's limits for version, or says why it
// cannot be judged yet.
func (j *judge) conditions(o policy.Objective, version string) ([]condition, string) {
	cur := j.obs[version][o.Metric]
	if o.RelativeTo == "baseline" {
		return j.relative(o, version, cur)
	}
	var out []condition
	limits := func(each func(op string, limit float64)) {
		if o.UpperLimit != nil {
			each("<=", *o.UpperLimit)
		}
		if o.LowerLimit != nil {
			each(">=", *o.LowerLimit)
		}
	}
	add := func(op string, limit float64, quantity, unit string, m measure, note string, paces bool) {
		out = append(out, condition{metric: o.Metric, quantity: quantity, unit: unit, op: op, limit: limit, m: m, samples: cur.Samples, note: note, paces: paces})
	}
	switch cur.Type {
	case metrics.Ratio:
		m := rate{x: cur.Events, n: cur.Samples, scale: scaleOf(cur)}
		limits(func(op string, l float64) { add(op, l, o.Metric, cur.Unit, m, "", true) })
	case metrics.Mean:
		m, problem := meanOf(cur)
		if problem != "" {
			return nil, o.Metric + ": " + problem
		}
		limits(func(op string, l float64) { add(op, l, o.Metric, cur.Unit, m, "", true) })
	case metrics.Quantile:
		if len(cur.Buckets) == 0 {
			return nil, fmt.Sprintf("%s has no histogram bucket counts: not judged", o.Metric)
		}
		limits(func(op string, l float64) {
			m, note := shareAbove(cur, l)
			q := fmt.Sprintf("share of requests over %s", formatValue(l, cur.Unit))
			// 1 − q rounded: 1 − 0.95 is 0.050000000000000044 in floats.
			add(op, math.Round((1-cur.Quantile)*1e9)/1e9, q, "share", m, note, true)
		})
	case metrics.Count:
		limits(func(op string, l float64) { add(op, l, o.Metric, cur.Unit, exact(cur.Value), "", false) })
	default:
		return nil, fmt.Sprintf("%s: metric type %q unknown: not judged", o.Metric, cur.Type)
	}
	return out, ""
}

// shareAbove is the share of o's requests above limit, from its
// histogram, with a note when the limit falls inside a bucket.
func shareAbove(o Observation, limit float64) (share, string) {
	h := histogram(o)
	n := h.Total()
	lo, hi, atLo, atHi := h.Bracket(limit)
	s := share{sure: n - atHi, maybe: n - atLo, est: n - h.At(limit), n: n, scale: 1}
	if lo == hi {
		return s, ""
	}
	u := o.Unit
	return s, fmt.Sprintf("%s lies inside the histogram bucket (%s, %s]: a request counts as over it to fail only past %s, and to pass already past %s; a bucket bound at %s would make the check exact",
		formatValue(limit, u), formatNumber(lo), formatValue(hi, u), formatValue(hi, u), formatValue(lo, u), formatValue(limit, u))
}

// relative builds a relativeTo: baseline objective's limits: the ratio of
// version's metric to the baseline's over the same step, so that both are
// measured on the same stretch of time.
func (j *judge) relative(o policy.Objective, version string, cur Observation) ([]condition, string) {
	base := j.obs[j.e.Baseline][o.Metric]
	if base.Samples < float64(j.e.MinSamples) {
		return nil, fmt.Sprintf("the baseline %s has %s requests in this step, %d needed to compare with it", j.e.Baseline, formatCount(base.Samples), j.e.MinSamples)
	}
	quantity := fmt.Sprintf("%s ÷ %s's", o.Metric, j.e.Baseline)
	var m measure
	note := ""
	paces := true
	switch cur.Type {
	case metrics.Mean:
		c, p1 := meanOf(cur)
		b, p2 := meanOf(base)
		if p1 != "" || p2 != "" {
			return nil, o.Metric + ": " + p1 + p2
		}
		m = ratioOf(c, b)
	case metrics.Ratio:
		m = rateRatio(cur, base)
		if base.Events < 10 || cur.Events < 10 {
			note = "fewer than 10 events on a side: a ratio of rates this rare is wide; an absolute limit decides sooner"
		}
	case metrics.Quantile:
		if len(cur.Buckets) == 0 || len(base.Buckets) == 0 {
			return nil, fmt.Sprintf("%s has no histogram bucket counts: not judged", o.Metric)
		}
		m = quantileRatio{num: histogram(cur), den: histogram(base), q: cur.Quantile}
		note = "each quantile is bounded by whole histogram buckets, so the ratio's interval is at least as wide as the buckets"
	case metrics.Count:
		if base.Value <= 0 {
			return nil, fmt.Sprintf("the baseline %s counted nothing to compare with", j.e.Baseline)
		}
		m, paces = exact(cur.Value/base.Value), false
	default:
		return nil, fmt.Sprintf("%s: metric type %q unknown: not judged", o.Metric, cur.Type)
	}
	var out []condition
	for _, l := range []struct {
		op string
		v  *float64
	}{{"<=", o.UpperLimit}, {">=", o.LowerLimit}} {
		if l.v != nil {
			out = append(out, condition{metric: o.Metric, quantity: quantity, unit: "×", op: l.op, limit: *l.v, m: m,
				samples: math.Min(cur.Samples, base.Samples), note: note, paces: paces})
		}
	}
	return out, ""
}

func scaleOf(o Observation) float64 {
	if o.Scale == 0 {
		return 1
	}
	return o.Scale
}

// finite returns a pointer to v, or nil when v is not a finite number
// (JSON has none).
func finite(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

func finiteOr(v, or float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return or
	}
	return v
}
