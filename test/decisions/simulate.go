package decisions

import (
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/shadowplane/shadowplane/analysis"
	"github.com/shadowplane/shadowplane/analysis/metrics"
	"github.com/shadowplane/shadowplane/analysis/stats"
	"github.com/shadowplane/shadowplane/policy"
)

// Case is one simulated situation: a route's traffic, how the two
// versions behave, the experiment judging them, and whether the candidate
// is bad (a rollback is the right answer) or as good as the baseline.
type Case struct {
	Name string
	// Group names the row the case belongs to in the report.
	Group string
	// Conformance: v2 is dark, fed by a Mirror percent of v1's traffic;
	// otherwise a progressive canary of v2 against v1.
	Conformance bool
	Mirror      float64
	RPS         float64
	StepWeight  uint32
	Baseline    Behaviour
	Candidate   Behaviour
	Objectives  []policy.Objective
	// LoadErrors, if set, is a version's error rate at the candidate's
	// weight: a version fine at 10 % and failing at 100 %, say.
	LoadErrors func(version string, weight uint32) float64
	// Bad: the candidate misses an objective, and only a rollback (or a
	// pause) is right. AtLimit: it sits exactly at a limit, where neither
	// a rollback nor a promotion should be common.
	Bad, AtLimit bool
	// Tune, if set, changes the experiment's spec after the defaults.
	Tune func(*policy.Experiment)
}

// Outcome is how one simulated experiment ended.
type Outcome string

// Outcomes.
const (
	Promoted   Outcome = "promoted"
	RolledBack Outcome = "rolled back"
	Paused     Outcome = "paused"
	Unfinished Outcome = "unfinished"
)

// Result is one simulated experiment.
type Result struct {
	Outcome Outcome
	// After is the time from the experiment's start to its end.
	After time.Duration
}

// horizon stops a simulated experiment that never ends.
const horizon = 12 * time.Hour

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// Spec is the case's experiment: the seeds' defaults (10 s × 10
// iterations, minSamples 20, maxNoData 3) and every other default.
func (c Case) Spec() (*policy.Experiment, *policy.Route) {
	w := func(v uint32) *uint32 { return &v }
	e := &policy.Experiment{
		Kind: policy.KindExperiment, Name: "sim", App: "app", Route: "r",
		Candidates: []string{"v2"}, Objectives: c.Objectives,
		Metrics: policy.MetricsSource{Targets: map[string][]string{"*": {"http://127.0.0.1:1/metrics"}}},
	}
	r := &policy.Route{Name: "r"}
	if c.Conformance {
		e.Testing = policy.Conformance
		r.Split = []policy.Backend{{Variant: "v1", Weight: w(100)}}
		r.Mirror = &policy.Mirror{Variant: "v2", Percent: &c.Mirror}
	} else {
		e.Testing, e.Baseline = policy.Canary, "v1"
		e.Steps.StepWeight = c.StepWeight
		r.Split = []policy.Backend{{Variant: "v1", Weight: w(100)}, {Variant: "v2", Weight: w(0)}}
	}
	e.Defaults()
	if c.Tune != nil {
		c.Tune(e)
	}
	return e, r
}

// rates are each version's request rate under the route as served.
func (c Case) rates(route analysis.Route) map[string]float64 {
	out := map[string]float64{}
	for v, w := range route.Weights() {
		out[v] = c.RPS * float64(w) / 100
	}
	if c.Conformance && !route.MirrorOff {
		out["v2"] += out["v1"] * c.Mirror / 100
	}
	return out
}

// versions are the simulated versions, in the order their traffic is
// drawn.
var versions = []string{"v1", "v2"}

// generators are each version's traffic for one run, each with its own
// random stream derived from the case, the run and the version alone: the
// same whatever order runs are scheduled in, and the same for the new and
// the old rule.
func (c Case) generators(run int) map[string]*generator {
	out := map[string]*generator{}
	for _, v := range versions {
		h := fnv.New64a()
		fmt.Fprintf(h, "%s/%d/%s", c.Name, run, v)
		rng := rand.New(rand.NewPCG(h.Sum64(), uint64(run)))
		b := c.Baseline
		if v == "v2" {
			b = c.Candidate
		}
		out[v] = newGenerator(b, rng)
	}
	return out
}

// draw adds one interval of traffic under route to each version's counts,
// versions in a fixed order.
func (c Case) draw(gens map[string]*generator, route analysis.Route, seconds float64, into ...map[string]*Counts) {
	rates := c.rates(route)
	for _, v := range versions {
		if c.LoadErrors != nil {
			gens[v].b.ErrorRate = c.LoadErrors(v, route.Weights()["v2"])
		}
		got := gens[v].draw(rates[v], seconds)
		for _, m := range into {
			m[v].Add(got)
		}
	}
}

// definitions are the built-in metrics by name.
var definitions = func() map[string]metrics.Definition {
	out := map[string]metrics.Definition{}
	for _, d := range metrics.Builtin() {
		out[d.Name] = d
	}
	return out
}()

// observe is what the sample app's metrics say of counts, read the way
// the metrics observer reads them.
func observe(e *policy.Experiment, counts map[string]*Counts) analysis.Observations {
	obs := analysis.Observations{}
	for _, v := range e.Versions() {
		obs[v] = map[string]analysis.Observation{}
		c := counts[v]
		for _, o := range e.Objectives {
			def := definitions[o.Metric]
			val, err := value(def, c)
			obs[v][o.Metric] = analysis.ObservationOf(def, val, err)
		}
	}
	return obs
}

// value computes a built-in sample-app metric from counts, in ms and
// fractions, as the scrape provider does.
func value(def metrics.Definition, c *Counts) (metrics.Value, error) {
	if c == nil || c.Requests == 0 {
		return metrics.Value{}, fmt.Errorf("no requests in the window: %w", metrics.ErrNoData)
	}
	switch def.Type {
	case metrics.Ratio:
		return metrics.Value{Value: c.Errors / c.Requests, Samples: c.Requests, Events: c.Errors}, nil
	case metrics.Mean, metrics.Quantile:
		v := metrics.Value{Samples: c.Requests, Sum: c.Sum, Buckets: c.cumulative(), Value: c.Sum / c.Requests}
		if def.Type == metrics.Quantile {
			h := stats.Histogram{}
			for _, b := range v.Buckets {
				h.Bounds, h.Counts = append(h.Bounds, b.UpperBound), append(h.Counts, b.Count)
			}
			v.Value = h.Quantile(def.Quantile)
		}
		return v, nil
	}
	return metrics.Value{}, errors.New("unsupported metric type " + string(def.Type))
}

// RunNew simulates one experiment under shadowplane's decision code: a
// look every interval on all the data since the step began, Evaluate,
// then Apply, as the Runner does; a moved route starts a new step at once
// (the ACK wait, milliseconds, is left out).
func (c Case) RunNew(run int) Result {
	e, r := c.Spec()
	gens := c.generators(run)
	now := t0
	st := analysis.Start(e, r, now)
	st.StepStarted(now)
	step := map[string]*Counts{"v1": {}, "v2": {}}
	for now.Sub(t0) < horizon {
		c.draw(gens, st.Route, e.Interval.Seconds(), step)
		now = now.Add(e.Interval)
		obs := observe(e, step)
		d := analysis.Evaluate(e, r, st, obs, now)
		next, moved := st.Apply(d, obs, now)
		st = &next
		if moved {
			step = map[string]*Counts{"v1": {}, "v2": {}}
			st.StepStarted(now)
		}
		if st.Stage.Done() {
			return Result{Outcome: outcomeOf(st.Stage), After: now.Sub(t0)}
		}
	}
	return Result{Outcome: Unfinished, After: horizon}
}

func outcomeOf(s analysis.Stage) Outcome {
	switch s {
	case analysis.Completed:
		return Promoted
	case analysis.RolledBack, analysis.Failed:
		return RolledBack
	case analysis.Paused:
		return Paused
	}
	return Unfinished
}

// Tally sums a case's results.
type Tally struct {
	Runs                                int
	Promoted, RolledBack, Paused, Other int
	// Median and P90 time to the right end, of the runs that ended so: a
	// promotion for a good candidate, a rollback for a bad one.
	Median, P90 time.Duration
}

// Rate is n as a share of the runs.
func (t Tally) Rate(n int) float64 { return float64(n) / float64(t.Runs) }

// Simulate runs a case runs times under rule (RunNew or RunOld),
// spreading runs over the CPUs; results depend only on the case and run.
func Simulate(c Case, runs int, rule func(Case, int) Result) Tally {
	results := make([]Result, runs)
	var wg sync.WaitGroup
	next := make(chan int)
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for i := range next {
				results[i] = rule(c, i)
			}
		})
	}
	for i := range runs {
		next <- i
	}
	close(next)
	wg.Wait()
	t := Tally{Runs: runs}
	right := Promoted
	if c.Bad {
		right = RolledBack
	}
	var times []time.Duration
	for _, r := range results {
		switch r.Outcome {
		case Promoted:
			t.Promoted++
		case RolledBack:
			t.RolledBack++
		case Paused:
			t.Paused++
		default:
			t.Other++
		}
		if r.Outcome == right {
			times = append(times, r.After)
		}
	}
	t.Median, t.P90 = quantile(times, 0.5), quantile(times, 0.9)
	return t
}

func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[int(math.Min(float64(len(s)-1), math.Floor(q*float64(len(s)))))]
}
