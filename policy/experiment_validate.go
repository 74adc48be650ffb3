package policy

import (
	"errors"
	"math"
	"net/url"
	"slices"
	"time"
)

// Validate reports every problem of the experiment on its own, joined.
// References to apps, routes and variants are checked by Assemble, which
// sees every file.
func (e *Experiment) Validate() error {
	fe := e.validate()
	errs := make([]error, len(fe))
	for i, err := range fe {
		errs[i] = err
	}
	return errors.Join(errs...)
}

func (e *Experiment) validate() fieldErrors {
	var fe fieldErrors
	if e.APIVersion != "" && e.APIVersion != APIVersion {
		fe.add("apiVersion", "%q is not supported: use %q or leave it out", e.APIVersion, APIVersion)
	}
	checkName(&fe, "name", "experiment name", e.Name)
	checkName(&fe, "app", "app name", e.App)
	checkName(&fe, "route", "route name", e.Route)
	e.validateVersions(&fe)
	e.validateSteps(&fe)
	e.validateObjectives(&fe)
	e.validateTiming(&fe)
	e.validateActions(&fe)
	e.validateMetrics(&fe)
	e.validateWebhooks(&fe)
	return fe
}

func (e *Experiment) validateVersions(fe *fieldErrors) {
	switch e.Testing {
	case Conformance:
		if e.Baseline != "" {
			fe.add("baseline", "a Conformance experiment tests one version and has no baseline: name it in candidates")
		}
		if len(e.Candidates) != 1 {
			fe.add("candidates", "a Conformance experiment tests exactly one version, got %d", len(e.Candidates))
		}
		if e.Deployment == Progressive {
			fe.add("deployment", "a Conformance experiment does not move traffic: use FixedSplit (the default) or BlueGreen")
		}
	case Canary:
		if e.Baseline == "" {
			fe.add("baseline", "a Canary experiment needs the baseline version")
		}
		if len(e.Candidates) != 1 {
			fe.add("candidates", "a Canary experiment has exactly one candidate, got %d", len(e.Candidates))
		}
	case AB:
		if e.Baseline == "" {
			fe.add("baseline", "an AB experiment needs the baseline version")
		}
		if len(e.Candidates) == 0 {
			fe.add("candidates", "an AB experiment needs at least one candidate")
		}
		if e.Reward == nil || e.Reward.Metric == "" {
			fe.add("reward", "an AB experiment needs a reward metric to pick the winner")
		}
		if e.Deployment == Progressive && len(e.Candidates) > 1 {
			fe.add("deployment", "Progressive moves one candidate's weight: use FixedSplit or BlueGreen with several candidates")
		}
	case "":
		fe.add("testing", "testing is required: Conformance, Canary or AB")
	default:
		fe.add("testing", "%q is not a testing pattern: use Conformance, Canary or AB", e.Testing)
	}
	if !slices.Contains([]string{Progressive, FixedSplit, BlueGreen}, e.Deployment) {
		fe.add("deployment", "%q is not a deployment pattern: use Progressive, FixedSplit or BlueGreen", e.Deployment)
	}
	seen := map[string]bool{}
	for i, v := range e.Versions() {
		path := "baseline"
		if e.Baseline == "" || i > 0 {
			path = index("candidates", i-btoi(e.Baseline != ""))
		}
		checkName(fe, path, "variant name", v)
		if seen[v] && v != "" {
			fe.add(path, "variant %q is named twice", v)
		}
		seen[v] = true
	}
	if e.Reward != nil && e.Testing != AB {
		fe.add("reward", "only an AB experiment has a reward")
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (e *Experiment) validateSteps(fe *fieldErrors) {
	if e.Steps.MaxWeight > 100 {
		fe.add("steps.maxWeight", "%d is more than 100 (weights are percentages of the route)", e.Steps.MaxWeight)
	}
	if e.Steps.StepWeight > 100 {
		fe.add("steps.stepWeight", "%d is more than 100 (weights are percentages of the route)", e.Steps.StepWeight)
	}
	if e.Deployment == Progressive && e.Steps.MaxWeight >= 100 && e.relative() {
		fe.add("steps.maxWeight", "%d leaves the baseline no traffic in the last step, and objectives relative to the baseline compare both over the same step: "+
			"they could never be decided; use at most 99 (90 is the default with relative objectives; promotion still moves all traffic)", e.Steps.MaxWeight)
	}
}

func (e *Experiment) validateObjectives(fe *fieldErrors) {
	if len(e.Objectives) == 0 && e.Testing != AB {
		fe.add("objectives", "at least one objective is required: an experiment with none would pass anything")
	}
	for i, o := range e.Objectives {
		p := index("objectives", i)
		if o.Metric == "" {
			fe.add(join(p, "metric"), "metric is required")
		}
		if o.UpperLimit == nil && o.LowerLimit == nil {
			fe.add(p, "set upperLimit, lowerLimit or both")
		}
		for _, l := range []struct {
			name string
			v    *float64
		}{{"upperLimit", o.UpperLimit}, {"lowerLimit", o.LowerLimit}} {
			if l.v != nil && (math.IsNaN(*l.v) || math.IsInf(*l.v, 0)) {
				fe.add(join(p, l.name), "want a finite number")
			}
		}
		// Every metric shadowplane reads (latencies, rates, counts) is
		// never negative: a negative upper limit can never pass.
		if o.UpperLimit != nil && *o.UpperLimit < 0 {
			fe.add(join(p, "upperLimit"), "%v can never pass: metric values are never negative", *o.UpperLimit)
		}
		if o.UpperLimit != nil && o.LowerLimit != nil && *o.LowerLimit > *o.UpperLimit {
			fe.add(p, "lowerLimit %v is above upperLimit %v: no value can pass", *o.LowerLimit, *o.UpperLimit)
		}
		switch o.RelativeTo {
		case "":
		case "baseline":
			if e.Baseline == "" {
				fe.add(join(p, "relativeTo"), "relative to the baseline, but the experiment has no baseline")
			}
		default:
			fe.add(join(p, "relativeTo"), "%q: use \"baseline\" or leave it out", o.RelativeTo)
		}
	}
}

func (e *Experiment) validateTiming(fe *fieldErrors) {
	if e.Interval < 100*time.Millisecond {
		fe.add("interval", "%v is too short: at least 100ms", e.Interval)
	}
	if e.Iterations < 1 || e.Iterations > 10000 {
		fe.add("iterations", "%d: use 1 to 10000", e.Iterations)
	}
	if e.MinSamples < 1 {
		fe.add("minSamples", "%d: at least 1 — judging on no requests would pass anything", e.MinSamples)
	}
	if e.MaxNoData < 1 {
		fe.add("maxNoData", "%d: at least 1", e.MaxNoData)
	}
	if !(e.Alpha > 0 && e.Alpha <= 0.5) {
		fe.add("alpha", "%v: use a probability in (0, 0.5], e.g. 0.05", e.Alpha)
	}
	if e.FailureLimit < 1 || e.FailureLimit > 100 {
		fe.add("failureLimit", "%d: use 1 to 100 looks", e.FailureLimit)
	}
	if e.MaxStepDuration < e.Interval {
		fe.add("maxStepDuration", "%v is shorter than the interval %v: a step would give up before its first look", e.MaxStepDuration, e.Interval)
	}
}

func (e *Experiment) validateActions(fe *fieldErrors) {
	if !slices.Contains([]string{Promote, Keep, Rollback}, e.OnSuccess) {
		fe.add("onSuccess", "%q: use promote, keep or rollback", e.OnSuccess)
	}
	if !slices.Contains([]string{Rollback, Keep}, e.OnFailure) {
		fe.add("onFailure", "%q: use rollback or keep", e.OnFailure)
	}
	for _, w := range []struct{ path, v string }{{"onInconclusive", e.OnInconclusive}, {"onNoData", e.OnNoData}} {
		if !slices.Contains([]string{Hold, Pause, Rollback}, w.v) {
			fe.add(w.path, "%q: use hold, pause or rollback", w.v)
		}
	}
	e.validateApproval(fe)
	if e.WriteBack && e.OnSuccess != Promote {
		fe.add("writeBack", "writes a promotion back to the policy, but onSuccess is %q: use onSuccess: promote, or leave writeBack out (promote --write still writes)", e.OnSuccess)
	}
}

func (e *Experiment) validateApproval(fe *fieldErrors) {
	a := e.Approval
	if a == nil {
		return
	}
	if !a.BeforePromotion && a.BeforeWeight == 0 {
		fe.add("approval", "names no gate: set beforePromotion: true, beforeWeight: N (percent), or both")
	}
	if a.BeforePromotion && e.OnSuccess != Promote {
		fe.add("approval.beforePromotion", "onSuccess is %q: there is no promotion to approve", e.OnSuccess)
	}
	if a.BeforeWeight > 0 {
		switch {
		case e.Testing != Canary || e.Deployment != Progressive:
			fe.add("approval.beforeWeight", "only a Progressive Canary moves its candidate's weight step by step")
		case a.BeforeWeight > 100:
			fe.add("approval.beforeWeight", "%d is more than 100 (weights are percentages of the route)", a.BeforeWeight)
		case e.Steps.MaxWeight > 0 && a.BeforeWeight > e.Steps.MaxWeight:
			fe.add("approval.beforeWeight", "%d is above steps.maxWeight %d: no step ever reaches it", a.BeforeWeight, e.Steps.MaxWeight)
		}
	}
}

func (e *Experiment) validateMetrics(fe *fieldErrors) {
	m := e.Metrics
	switch m.Provider {
	case ProviderPrometheus:
		if m.Prometheus == "" {
			fe.add("metrics.prometheus", "the prometheus provider needs the server's URL, e.g. http://127.0.0.1:9090")
		} else if err := checkHTTPURL(m.Prometheus); err != "" {
			fe.add("metrics.prometheus", "%s", err)
		}
	case ProviderScrape:
		if len(m.Targets) == 0 {
			fe.add("metrics.targets", "the scrape provider needs targets: the /metrics or /stats/prometheus URLs to read, per version or under \"*\"")
		}
	default:
		fe.add("metrics.provider", "%q: use scrape or prometheus", m.Provider)
	}
	versions := e.Versions()
	for v, urls := range m.Targets {
		p := join("metrics.targets", v)
		if v != "*" && !slices.Contains(versions, v) {
			fe.add(p, "%q is not a version of this experiment (use one of %v, or \"*\")", v, versions)
		}
		for i, u := range urls {
			if err := checkHTTPURL(u); err != "" {
				fe.add(index(p, i), "%s", err)
			}
		}
	}
}

func checkHTTPURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "\"" + s + "\" is not an http(s) URL"
	}
	return ""
}
