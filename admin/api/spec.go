package api

import "time"

// ExperimentSpec is an experiment as its policy document declares it
// (kind: Experiment), defaults filled in. Durations are nanoseconds in
// JSON. The metrics and webhook URLs are shown redacted: passwords,
// tokens and query values hidden, and a webhook's path too.
type ExperimentSpec struct {
	APIVersion string `json:"apiVersion,omitempty"`
	Kind       string `json:"kind"`
	Name       string `json:"name"`
	// App and Route name the route the experiment drives.
	App   string `json:"app"`
	Route string `json:"route"`
	// Testing is Conformance, Canary or AB.
	Testing string `json:"testing"`
	// Deployment is Progressive, FixedSplit or BlueGreen.
	Deployment string `json:"deployment,omitempty"`
	// Baseline is the version serving now; none for Conformance.
	Baseline string `json:"baseline,omitempty"`
	// Candidates are the versions under test.
	Candidates []string `json:"candidates"`
	// Steps bounds a Progressive experiment's weights.
	Steps Steps `json:"steps,omitempty"`
	// Objectives must all hold, for every version judged.
	Objectives []Objective `json:"objectives"`
	// Reward picks the winner of an AB experiment.
	Reward *Reward `json:"reward,omitempty"`
	// Interval is how often the experiment looks at its metrics.
	Interval time.Duration `json:"interval,omitempty"`
	// Iterations is how many passing looks the experiment needs.
	Iterations int `json:"iterations,omitempty"`
	// MinSamples is the requests each version needs in a step before
	// the step can advance.
	MinSamples int `json:"minSamples,omitempty"`
	// Alpha bounds the chance of a wrong verdict over the experiment.
	Alpha float64 `json:"alpha,omitempty"`
	// FailureLimit is how many looks in a row must show an objective
	// failing before the experiment fails.
	FailureLimit int `json:"failureLimit,omitempty"`
	// MaxStepDuration is how long a step may stay undecided before
	// OnInconclusive.
	MaxStepDuration time.Duration `json:"maxStepDuration,omitempty"`
	// OnInconclusive is hold, pause or rollback.
	OnInconclusive string `json:"onInconclusive,omitempty"`
	// MaxNoData is how many looks in a row the metrics may be down
	// before OnNoData.
	MaxNoData int `json:"maxNoData,omitempty"`
	// OnNoData is hold, pause or rollback.
	OnNoData string `json:"onNoData,omitempty"`
	// OnSuccess is promote, keep or rollback.
	OnSuccess string `json:"onSuccess,omitempty"`
	// OnFailure is rollback or keep.
	OnFailure string `json:"onFailure,omitempty"`
	// Approval names where the experiment waits for a person's approve.
	Approval *Approval `json:"approval,omitempty"`
	// WriteBack writes the final weights into the policy file after a
	// promotion.
	WriteBack bool `json:"writeBack,omitempty"`
	// Metrics says where the metric values come from.
	Metrics MetricsSource `json:"metrics,omitempty"`
	// Webhooks are told of the experiment's events, or asked before a
	// step or a promotion.
	Webhooks []Webhook `json:"webhooks,omitempty"`
	// Source is where the experiment was declared.
	Source Source `json:"source"`
}

// Steps bounds how a Progressive experiment moves traffic: the
// candidate's share of the route, in percent.
type Steps struct {
	// MaxWeight is the most the candidate gets before the end.
	MaxWeight uint32 `json:"maxWeight,omitempty"`
	// StepWeight is the most it gains in one step.
	StepWeight uint32 `json:"stepWeight,omitempty"`
}

// Objective is a limit on a metric: a version passes when its value is
// at most UpperLimit and at least LowerLimit; with RelativeTo
// "baseline", the limits multiply the baseline's value.
type Objective struct {
	Metric     string   `json:"metric"`
	UpperLimit *float64 `json:"upperLimit,omitempty"`
	LowerLimit *float64 `json:"lowerLimit,omitempty"`
	RelativeTo string   `json:"relativeTo,omitempty"`
}

// Reward is the metric an AB experiment maximises, or minimises when
// PreferHigher is false.
type Reward struct {
	Metric       string `json:"metric"`
	PreferHigher bool   `json:"preferHigher,omitempty"`
}

// Approval names the gates where an experiment waits for approve.
type Approval struct {
	// BeforePromotion waits before the winner is promoted.
	BeforePromotion bool `json:"beforePromotion,omitempty"`
	// BeforeWeight waits before the step that gives the candidate this
	// weight (percent) or more.
	BeforeWeight uint32 `json:"beforeWeight,omitempty"`
}

// MetricsSource says where an experiment's metrics come from.
type MetricsSource struct {
	// Provider is "scrape" or "prometheus".
	Provider string `json:"provider,omitempty"`
	// Prometheus is the server's base URL, redacted.
	Prometheus string `json:"prometheus,omitempty"`
	// Targets are the URLs scraped per version ("*": every version),
	// redacted.
	Targets map[string][]string `json:"targets,omitempty"`
}

// Webhook is an endpoint told of an experiment's events, or asked to
// confirm a step or a promotion.
type Webhook struct {
	Name string `json:"name"`
	// URL shows the scheme and host only: a hook's path is often its
	// secret.
	URL     string        `json:"url"`
	Events  []string      `json:"events,omitempty"`
	Type    string        `json:"type,omitempty"`
	Format  string        `json:"format,omitempty"`
	Timeout time.Duration `json:"timeout,omitempty"`
	Retries *int          `json:"retries,omitempty"`
}

// Source is where a policy document was declared: the file and line.
type Source struct {
	File string `json:"file"`
	Line int    `json:"line"`
}
