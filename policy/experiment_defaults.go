package policy

import "time"

// Defaults fills in every field an experiment may leave out; see the field
// comments. Running it twice changes nothing.
func (e *Experiment) Defaults() {
	if e.Deployment == "" {
		e.Deployment = FixedSplit
		if e.Testing == Canary {
			e.Deployment = Progressive
		}
	}
	if e.Steps.MaxWeight == 0 {
		e.Steps.MaxWeight = 100
		if e.relative() {
			// A relative objective compares the candidate with the
			// baseline over the same step: the last step must leave the
			// baseline traffic. Promotion still moves it all.
			e.Steps.MaxWeight = 90
		}
	}
	if e.Steps.StepWeight == 0 {
		e.Steps.StepWeight = 10
	}
	if e.Interval == 0 {
		e.Interval = 10 * time.Second
	}
	if e.Iterations == 0 {
		e.Iterations = 10
	}
	if e.MinSamples == 0 {
		e.MinSamples = 20
	}
	if e.MaxNoData == 0 {
		e.MaxNoData = 3
	}
	if e.OnNoData == "" {
		e.OnNoData = Pause
	}
	if e.Alpha == 0 {
		e.Alpha = 0.05
	}
	if e.FailureLimit == 0 {
		e.FailureLimit = 1
	}
	if e.MaxStepDuration == 0 {
		e.MaxStepDuration = 30 * time.Minute
	}
	if e.OnInconclusive == "" {
		e.OnInconclusive = Pause
	}
	if e.OnSuccess == "" {
		e.OnSuccess = Promote
		if e.Testing == Conformance {
			e.OnSuccess = Keep
		}
	}
	if e.OnFailure == "" {
		e.OnFailure = Rollback
	}
	if e.Metrics.Provider == "" {
		e.Metrics.Provider = ProviderScrape
	}
	for i := range e.Webhooks {
		e.Webhooks[i].defaults()
	}
}

// relative reports whether an objective is relative to the baseline.
func (e *Experiment) relative() bool {
	for _, o := range e.Objectives {
		if o.RelativeTo == "baseline" {
			return true
		}
	}
	return false
}
