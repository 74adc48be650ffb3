package policy

import "time"

// KindExperiment is the document kind that declares an Experiment.
const KindExperiment = "Experiment"

// Testing patterns: what an experiment decides.
const (
	// Conformance checks one version against objectives, typically a dark
	// version fed by mirrored traffic.
	Conformance = "Conformance"
	// Canary checks a candidate, beside the baseline, against objectives.
	Canary = "Canary"
	// AB picks, among versions that satisfy the objectives, the best by a
	// reward metric.
	AB = "AB"
)

// Deployment patterns: how traffic moves while an experiment runs.
const (
	// Progressive moves the candidate's weight up by a step each
	// iteration whose objectives pass.
	Progressive = "Progressive"
	// FixedSplit keeps the route's weights as written.
	FixedSplit = "FixedSplit"
	// BlueGreen keeps the weights while testing and moves all traffic to
	// the winner at the end.
	BlueGreen = "BlueGreen"
)

// End actions: what an experiment does with the route when it ends.
const (
	// Promote gives the winner 100 % and removes the split and mirror.
	Promote = "promote"
	// Keep leaves the route as the experiment left it.
	Keep = "keep"
	// Rollback gives the baseline 100 % and turns the mirror off.
	Rollback = "rollback"
)

// Wait actions: what an experiment does when it cannot decide (too
// little traffic by MaxStepDuration, or metrics down MaxNoData looks).
const (
	// Hold keeps the weights and goes on collecting and looking.
	Hold = "hold"
	// Pause keeps the weights and stops deciding until a person acts
	// (edits the experiment).
	Pause = "pause"
	// Rollback (above) rolls the candidates back.
)

// Experiment drives one route of one app from metrics: each interval it
// reads the objectives' metrics for every version, and advances, holds,
// rolls back or promotes. It changes only weights and the mirror of its
// route; the rest of the app stays as the policy says.
type Experiment struct {
	APIVersion string `yaml:"apiVersion,omitempty" json:"apiVersion,omitempty"`
	Kind       string `yaml:"kind" json:"kind"`
	// Name identifies the experiment; a DNS label.
	Name string `yaml:"name" json:"name"`
	// App and Route name the route the experiment drives.
	App   string `yaml:"app" json:"app"`
	Route string `yaml:"route" json:"route"`

	// Testing is Conformance, Canary or AB.
	Testing string `yaml:"testing" json:"testing"`
	// Deployment is Progressive, FixedSplit or BlueGreen. Defaults to
	// Progressive for Canary, FixedSplit otherwise.
	Deployment string `yaml:"deployment,omitempty" json:"deployment,omitempty"`
	// Baseline is the version serving now. Required for Canary and AB;
	// Conformance has none.
	Baseline string `yaml:"baseline,omitempty" json:"baseline,omitempty"`
	// Candidates are the versions under test: exactly one for
	// Conformance and Canary, one or more for AB.
	Candidates []string `yaml:"candidates" json:"candidates"`

	// Steps bounds a Progressive experiment's weights.
	Steps Steps `yaml:"steps,omitempty" json:"steps,omitempty"`
	// Objectives must all hold, for every version judged.
	Objectives []Objective `yaml:"objectives" json:"objectives"`
	// Reward picks the winner of an AB experiment.
	Reward *Reward `yaml:"reward,omitempty" json:"reward,omitempty"`

	// Interval is how often the experiment looks at its metrics. Evidence
	// accumulates between looks: it is how often we look, not how much
	// we remember. Default 10s.
	Interval time.Duration `yaml:"interval,omitempty" json:"interval,omitempty"`
	// Iterations is how many looks that find nothing failing the
	// experiment needs; each advances a Progressive canary one step, and
	// the last one also needs every objective shown to pass. Default 10.
	Iterations int `yaml:"iterations,omitempty" json:"iterations,omitempty"`
	// MinSamples is the number of requests each version needs in a step
	// before the step can advance. Default 20.
	MinSamples int `yaml:"minSamples,omitempty" json:"minSamples,omitempty"`
	// Alpha bounds the chance of a wrong verdict over the whole
	// experiment, however often it looks: of rolling back a version that
	// meets its objectives at every step, and of passing an objective a
	// version misses in its last step (independent requests assumed; see
	// docs/experiments.md). Default 0.05.
	Alpha float64 `yaml:"alpha,omitempty" json:"alpha,omitempty"`
	// FailureLimit is how many looks in a row must show an objective
	// failing before the experiment fails. Default 1: a failure is shown
	// at the experiment's confidence already (see docs/decision-quality.md).
	FailureLimit int `yaml:"failureLimit,omitempty" json:"failureLimit,omitempty"`
	// MaxStepDuration is how long a step may stay undecided (too little
	// traffic to tell) before OnInconclusive. Default 30m.
	MaxStepDuration time.Duration `yaml:"maxStepDuration,omitempty" json:"maxStepDuration,omitempty"`
	// OnInconclusive is what an undecided step does at MaxStepDuration:
	// hold (keep collecting), pause (wait for a person) or rollback.
	// Default pause.
	OnInconclusive string `yaml:"onInconclusive,omitempty" json:"onInconclusive,omitempty"`
	// MaxNoData is how many looks in a row the metrics source may be down
	// (unreachable, failing, stale) before OnNoData. Too few requests is
	// not "no data": that is an undecided step. Default 3.
	MaxNoData int `yaml:"maxNoData,omitempty" json:"maxNoData,omitempty"`
	// OnNoData is what a metrics outage longer than MaxNoData looks does:
	// hold, pause or rollback. Default pause. An outage never promotes.
	OnNoData string `yaml:"onNoData,omitempty" json:"onNoData,omitempty"`

	// OnSuccess is promote, keep or rollback. Defaults to promote, except
	// keep for Conformance.
	OnSuccess string `yaml:"onSuccess,omitempty" json:"onSuccess,omitempty"`
	// OnFailure is rollback or keep. Default rollback.
	OnFailure string `yaml:"onFailure,omitempty" json:"onFailure,omitempty"`
	// Approval names the points where the experiment waits for a
	// person's approve before it goes on.
	Approval *Approval `yaml:"approval,omitempty" json:"approval,omitempty"`
	// WriteBack, after a promotion, writes the route's final weights into
	// the policy file, so that the promotion outlives the experiment.
	WriteBack bool `yaml:"writeBack,omitempty" json:"writeBack,omitempty"`

	// Metrics says where metric values come from.
	Metrics MetricsSource `yaml:"metrics,omitempty" json:"metrics,omitempty"`

	// Webhooks are told of the experiment's events, or asked before a
	// step or a promotion; see Webhook and docs/webhooks.md.
	Webhooks []Webhook `yaml:"webhooks,omitempty" json:"webhooks,omitempty"`

	// Source says where the experiment was declared.
	Source Source `yaml:"-" json:"source"`
}

// Steps bounds how a Progressive experiment moves traffic: the candidate's
// share of the route, in percent.
type Steps struct {
	// MaxWeight is the most the candidate gets before the end. Default
	// 100, or 90 with objectives relative to the baseline, which need the
	// baseline's traffic in the last step too.
	MaxWeight uint32 `yaml:"maxWeight,omitempty" json:"maxWeight,omitempty"`
	// StepWeight is the most the candidate gains in one step. Default 10.
	StepWeight uint32 `yaml:"stepWeight,omitempty" json:"stepWeight,omitempty"`
}

// Approval gates: where an experiment stops in WaitingApproval until a
// person approves (shadowplane approve EXPERIMENT).
type Approval struct {
	// BeforePromotion waits before the winner is promoted.
	BeforePromotion bool `yaml:"beforePromotion,omitempty" json:"beforePromotion,omitempty"`
	// BeforeWeight waits before the step that would give a Progressive
	// canary's candidate this weight (percent) or more; once approved, the
	// step is taken and later steps do not wait again.
	BeforeWeight uint32 `yaml:"beforeWeight,omitempty" json:"beforeWeight,omitempty"`
}

// Objective is a limit on a metric. A version passes when its value is at
// most UpperLimit and at least LowerLimit; with RelativeTo "baseline", the
// limits multiply the baseline's value (candidate p95 ≤ 1.2 × baseline
// p95).
type Objective struct {
	Metric     string   `yaml:"metric" json:"metric"`
	UpperLimit *float64 `yaml:"upperLimit,omitempty" json:"upperLimit,omitempty"`
	LowerLimit *float64 `yaml:"lowerLimit,omitempty" json:"lowerLimit,omitempty"`
	RelativeTo string   `yaml:"relativeTo,omitempty" json:"relativeTo,omitempty"`
}

// Reward is the metric an AB experiment maximises (or minimises).
type Reward struct {
	Metric string `yaml:"metric" json:"metric"`
	// PreferHigher is true when more is better (conversions), false when
	// less is (latency).
	PreferHigher bool `yaml:"preferHigher,omitempty" json:"preferHigher,omitempty"`
}

// Metric providers.
const (
	// ProviderScrape scrapes Prometheus-format endpoints directly: the
	// embedded default, no Prometheus server needed.
	ProviderScrape = "scrape"
	// ProviderPrometheus queries a Prometheus server's HTTP API.
	ProviderPrometheus = "prometheus"
)

// MetricsSource says where an experiment's metrics come from.
type MetricsSource struct {
	// Provider is "scrape" (default) or "prometheus".
	Provider string `yaml:"provider,omitempty" json:"provider,omitempty"`
	// Prometheus is the server's base URL, for the prometheus provider.
	Prometheus string `yaml:"prometheus,omitempty" json:"prometheus,omitempty"`
	// Targets are the URLs the scrape provider reads, per version
	// (an app's /metrics) — or under "*" for every version (an Envoy's
	// /stats/prometheus, where the cluster label tells versions apart).
	Targets map[string][]string `yaml:"targets,omitempty" json:"targets,omitempty"`
}

// Versions are the versions an experiment judges: the candidates, and the
// baseline when there is one.
func (e *Experiment) Versions() []string {
	var out []string
	if e.Baseline != "" {
		out = append(out, e.Baseline)
	}
	return append(out, e.Candidates...)
}
