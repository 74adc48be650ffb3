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
	e  *policy.Experiment
	ev Evidence
	// alphaFail is the level of each test that can fail a check: alpha
	// split over every check of the experiment, so that the chance of any
	// false failure stays under alpha. alphaPass is the level of each
	// test that can pass one: all must pass, so each may use alpha whole
	// (an intersection-union test).
	alphaFail, alphaPass float64
	// elapsed is how long evidence has been gathered, for "about N
	// minutes more".
	elapsed time.Duration
}

func newJudge(e *policy.Experiment, ev Evidence, elapsed time.Duration) *judge {
	k := 0
	for _, o := range e.Objectives {
		k += limitCount(o)
	}
	k *= len(judged(e))
	j := &judge{e: e, ev: ev, alphaFail: e.Alpha, alphaPass: e.Alpha, elapsed: elapsed}
	if k > 1 {
		j.alphaFail = e.Alpha / float64(k)
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

// condition is one limit of an objective, ready to check: the measure over
// the evidence window and over the step.
type condition struct {
	metric         string
	quantity, unit string
	op             string // "<=" or ">="
	limit          float64
	m              measure
	samples        float64
	step           measure // nil when the step has nothing to show
	stepSamples    float64
	note           string
}

// verdict judges objective i for version.
func (j *judge) verdict(i int, version string) Verdict {
	o := j.e.Objectives[i]
	obs := j.ev.Experiment[version][o.Metric]
	vd := Verdict{Version: version, Metric: o.Metric, Objective: i, Value: obs.Value, Samples: obs.Samples}
	if obs.Samples < float64(j.e.MinSamples) {
		vd.Outcome = Pending
		vd.Why = fmt.Sprintf("%s requests so far; judged from %d (minSamples)", formatCount(obs.Samples), j.e.MinSamples)
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
		if ck.StepEstimate == nil || !within(*ck.StepEstimate, c.op, c.limit) {
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
	ck := Check{Quantity: c.quantity, Unit: c.unit, Op: c.op, Limit: c.limit, Estimate: finiteOr(c.m.estimate(), 0), StepSamples: c.stepSamples, Note: c.note}
	if c.step != nil {
		ck.StepEstimate = finite(c.step.estimate())
	}
	if c.samples < float64(j.e.MinSamples) {
		ck.Outcome = Pending
		ck.Need = finite(float64(j.e.MinSamples))
		return ck
	}
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

// need is how many requests in all would decide c if the data went on in
// the same proportions: the side the estimate is on is the side it would
// be shown on.
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
	cur := j.ev.Experiment[version][o.Metric]
	step := j.ev.Step[version][o.Metric]
	if o.RelativeTo == "baseline" {
		return j.relative(o, version, cur, step)
	}
	var out []condition
	add := func(op string, limit float64, quantity, unit string, m measure, stepM measure, note string) {
		c := condition{metric: o.Metric, quantity: quantity, unit: unit, op: op, limit: limit, m: m, samples: cur.Samples, stepSamples: step.Samples, note: note}
		if step.Samples > 0 {
			c.step = stepM
		}
		out = append(out, c)
	}
	limits := func(each func(op string, limit float64)) {
		if o.UpperLimit != nil {
			each("<=", *o.UpperLimit)
		}
		if o.LowerLimit != nil {
			each(">=", *o.LowerLimit)
		}
	}
	switch cur.Type {
	case metrics.Ratio:
		scale := scaleOf(cur)
		limits(func(op string, l float64) {
			add(op, l, o.Metric, unitOf(cur), rate{x: cur.Events, n: cur.Samples, scale: scale}, rate{x: step.Events, n: step.Samples, scale: scale}, "")
		})
	case metrics.Mean:
		m, ok := meanOf(cur)
		if !ok {
			return nil, fmt.Sprintf("%s has no histogram bucket counts to bound its mean: not judged", o.Metric)
		}
		sm, sok := meanOf(step)
		var stepM measure
		if sok {
			stepM = sm
		}
		limits(func(op string, l float64) { add(op, l, o.Metric, unitOf(cur), m, stepM, "") })
	case metrics.Quantile:
		if len(cur.Buckets) == 0 {
			return nil, fmt.Sprintf("%s has no histogram bucket counts: not judged", o.Metric)
		}
		limits(func(op string, l float64) {
			m, note := shareAbove(cur, l)
			var sm measure
			if len(step.Buckets) > 0 {
				sm, _ = shareAbove(step, l)
			}
			q := fmt.Sprintf("share of requests over %s", formatValue(l, unitOf(cur)))
			// 1 − q rounded: 1 − 0.95 is 0.050000000000000044 in floats.
			add(op, math.Round((1-cur.Quantile)*1e9)/1e9, q, "share", m, sm, note)
		})
	case metrics.Count:
		limits(func(op string, l float64) { add(op, l, o.Metric, unitOf(cur), exact(cur.Value), exact(step.Value), "") })
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
	u := unitOf(o)
	return s, fmt.Sprintf("%s lies inside the histogram bucket (%s, %s]: a request counts as over it to fail only past %s, and to pass already past %s; a bucket boundary at %s would make the check exact",
		formatValue(limit, u), formatNumber(lo), formatValue(hi, u), formatValue(hi, u), formatValue(lo, u), formatValue(limit, u))
}

// relative builds a relativeTo: baseline objective's limits: the ratio of
// version's metric to the baseline's, both over the same windows.
func (j *judge) relative(o policy.Objective, version string, cur, step Observation) ([]condition, string) {
	base := j.ev.Experiment[j.e.Baseline][o.Metric]
	if base.Samples < float64(j.e.MinSamples) {
		return nil, fmt.Sprintf("the baseline %s has %.0f requests in the experiment, %d needed to compare with it", j.e.Baseline, base.Samples, j.e.MinSamples)
	}
	// The step's ratio compares with the baseline's step when it had
	// traffic in it, else with all of its evidence (a candidate at 100 %
	// leaves the baseline none).
	baseStep := j.ev.Step[j.e.Baseline][o.Metric]
	if baseStep.Samples < float64(j.e.MinSamples) {
		baseStep = base
	}
	quantity := fmt.Sprintf("%s ÷ %s's", o.Metric, j.e.Baseline)
	var m, sm measure
	note := ""
	switch cur.Type {
	case metrics.Mean:
		c, ok1 := meanOf(cur)
		b, ok2 := meanOf(base)
		if !ok1 || !ok2 {
			return nil, fmt.Sprintf("%s has no histogram bucket counts to bound its mean: not judged", o.Metric)
		}
		m = ratioOf(c, b)
		if sc, ok := meanOf(step); ok {
			if sb, ok := meanOf(baseStep); ok {
				sm = ratioOf(sc, sb)
			}
		}
	case metrics.Ratio:
		m, sm = rateRatio(cur, base), rateRatio(step, baseStep)
		if base.Events < 10 || cur.Events < 10 {
			note = "fewer than 10 events on a side: a ratio of rates this rare is wide; an absolute limit decides sooner"
		}
	case metrics.Quantile:
		if len(cur.Buckets) == 0 || len(base.Buckets) == 0 {
			return nil, fmt.Sprintf("%s has no histogram bucket counts: not judged", o.Metric)
		}
		m = quantileRatio{num: histogram(cur), den: histogram(base), q: cur.Quantile}
		sm = quantileRatio{num: histogram(step), den: histogram(baseStep), q: cur.Quantile}
		note = "quantiles interpolate inside histogram buckets, as histogram_quantile does"
	case metrics.Count:
		if base.Value <= 0 {
			return nil, fmt.Sprintf("the baseline %s counted nothing to compare with", j.e.Baseline)
		}
		m = exact(cur.Value / base.Value)
		if baseStep.Value > 0 {
			sm = exact(step.Value / baseStep.Value)
		}
	default:
		return nil, fmt.Sprintf("%s: metric type %q unknown: not judged", o.Metric, cur.Type)
	}
	var out []condition
	for _, l := range []struct {
		op string
		v  *float64
	}{{"<=", o.UpperLimit}, {">=", o.LowerLimit}} {
		if l.v == nil {
			continue
		}
		c := condition{metric: o.Metric, quantity: quantity, unit: "×", op: l.op, limit: *l.v, m: m, samples: math.Min(cur.Samples, base.Samples), stepSamples: step.Samples, note: note}
		if step.Samples > 0 && sm != nil {
			c.step = sm
		}
		out = append(out, c)
	}
	return out, ""
}

func scaleOf(o Observation) float64 {
	if o.Scale == 0 {
		return 1
	}
	return o.Scale
}

func unitOf(o Observation) string { return o.Unit }

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
