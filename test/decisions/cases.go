package decisions

import (
	"fmt"

	"github.com/shadowplane/shadowplane/policy"
)

func limit(v float64) *float64 { return &v }

// Seeds are the objectives of the seeds' experiments (Iter8's tutorials):
// mean latency under 50 ms, p95 under 100 ms, errors under 1 %.
func Seeds() []policy.Objective {
	return []policy.Objective{
		{Metric: "app/mean-latency", UpperLimit: limit(50)},
		{Metric: "app/p95-latency", UpperLimit: limit(100)},
		{Metric: "app/error-rate", UpperLimit: limit(0.01)},
	}
}

// Relative is the seeds' mean latency objective relative to the
// baseline (at most 1.2× its mean), with their absolute p95 and error
// limits. (A p95 relative to the baseline's is judged on whole buckets:
// with the sample app's, 2 to 2.5× apart, 1.2× can only be shown met when
// the candidate's p95 is a bucket lower, and validate says so.)
func Relative() []policy.Objective {
	return []policy.Objective{
		{Metric: "app/mean-latency", UpperLimit: limit(1.2), RelativeTo: "baseline"},
		{Metric: "app/p95-latency", UpperLimit: limit(100)},
		{Metric: "app/error-rate", UpperLimit: limit(0.01)},
	}
}

// healthy is the simulated service: lognormal latency with a
// 20 ms median (p95 ≈ 46 ms, mean ≈ 23 ms) and the given error rate.
func healthy(errors float64) Behaviour {
	return Behaviour{ErrorRate: errors, Median: 20, Sigma: 0.5}
}

// Rates are the route rates simulated, in requests a second: the seeds'
// own (1 to 4) and up.
var Rates = []float64{1, 2, 4, 10, 50, 200}

// Cases are the situations the report covers: candidates as good as
// their baseline (A/A), where any rollback is wrong, and regressions,
// where a rollback is right.
func Cases() []Case {
	var out []Case
	add := func(group string, rates []float64, c Case) {
		for _, rps := range rates {
			c.Group, c.RPS = group, rps
			c.Name = fmt.Sprintf("%s @ %g rps", group, rps)
			out = append(out, c)
		}
	}
	aa := func(errors float64, step uint32, objectives []policy.Objective) Case {
		return Case{StepWeight: step, Baseline: healthy(errors), Candidate: healthy(errors), Objectives: objectives}
	}
	add("A/A canary, 0 % errors, stepWeight 10", Rates, aa(0, 10, Seeds()))
	add("A/A canary, 0.3 % errors, stepWeight 10", Rates, aa(0.003, 10, Seeds()))
	add("A/A canary, 0.5 % errors, stepWeight 20", Rates, aa(0.005, 20, Seeds()))
	add("A/A canary, relative objectives, 0 % errors", Rates, aa(0, 10, Relative()))
	add("A/A canary, relative objectives, 0.5 % errors", Rates, aa(0.005, 10, Relative()))
	conf := aa(0, 0, Seeds())
	conf.Conformance, conf.Mirror = true, 40
	add("A/A conformance, 40 % mirror, 0 % errors", Rates[:5], conf)

	bad := func(c Case) Case { c.Bad = true; return c }
	add("+2 points of errors (3 %), stepWeight 10", Rates, bad(Case{StepWeight: 10, Baseline: healthy(0.001), Candidate: healthy(0.03), Objectives: Seeds()}))
	add("20 % errors, stepWeight 10", []float64{4, 10, 40, 200}, bad(Case{StepWeight: 10, Baseline: healthy(0), Candidate: healthy(0.2), Objectives: Seeds()}))
	slow := Case{StepWeight: 10,
		Baseline: Behaviour{Median: 10, Sigma: 0.5}, Candidate: Behaviour{Median: 20, Sigma: 0.5},
		Objectives: []policy.Objective{{Metric: "app/mean-latency", UpperLimit: limit(1.2), RelativeTo: "baseline"}}}
	add("2× mean latency (10 → 20 ms), relative 1.2×", []float64{4, 10, 50, 200}, bad(slow))
	dark := Case{Conformance: true, Mirror: 40, Baseline: healthy(0), Candidate: Behaviour{Median: 300, Sigma: 0.05}, Objectives: Seeds()}
	add("300 ms dark version, 40 % mirror", []float64{1, 2, 4, 10}, bad(dark))

	// Hard cases: at a limit, just past it, and past it only under load.
	limitCase := Case{StepWeight: 10, Baseline: healthy(0.01), Candidate: healthy(0.01), Objectives: Seeds(), AtLimit: true}
	add("at the limit: 1 % errors against 1 %", []float64{10, 50, 200}, limitCase)
	add("near miss: 1.5 % errors against 1 %", []float64{10, 50, 200},
		bad(Case{StepWeight: 10, Baseline: healthy(0.001), Candidate: healthy(0.015), Objectives: Seeds()}))
	loaded := Case{StepWeight: 10, Baseline: healthy(0.001), Candidate: healthy(0.001), Objectives: Seeds(),
		LoadErrors: func(v string, w uint32) float64 {
			if v == "v2" && w >= 100 {
				return 0.015
			}
			return 0.001
		}}
	add("only under load: 0.1 % errors, 1.5 % at 100 %", []float64{10, 50, 200}, bad(loaded))
	return out
}
