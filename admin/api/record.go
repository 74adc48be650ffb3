package api

import "time"

// Record is one look an experiment took: what it measured and judged,
// what it decided, and the weights after.
type Record struct {
	// Iteration is the experiment's iteration after the decision.
	Iteration int       `json:"iteration"`
	At        time.Time `json:"at"`
	// WindowStart is when the step judged began.
	WindowStart time.Time `json:"windowStart"`
	// Observations are the values read over the step.
	Observations Observations `json:"observations"`
	// Verdicts are the objectives judged, per version.
	Verdicts []Verdict `json:"verdicts"`
	Action   Action    `json:"action"`
	Reason   string    `json:"reason"`
	// Weights are the route's weights after the decision, by variant.
	Weights   map[string]uint32 `json:"weights"`
	MirrorOff bool              `json:"mirrorOff,omitempty"`
}

// Action is what a look decided, or a control a person applies
// (POST /api/v1/experiments/{name}/{action}).
type Action string

// What a look decides.
const (
	// Advance: objectives passed; the next step is applied.
	Advance Action = "advance"
	// Hold: nothing decided at this look.
	Hold Action = "hold"
	// Pause: the experiment could not decide and waits for a person.
	Pause Action = "pause"
	// RollBack: the experiment failed; the baseline takes the traffic.
	RollBack Action = "rollback"
	// PromoteWinner: the experiment passed; the winner takes the traffic.
	PromoteWinner Action = "promote"
	// Finish: the experiment passed and leaves the route as it is.
	Finish Action = "finish"
	// Halt: a proxy rejected the step.
	Halt Action = "halt"
)

// Observations are metric values per version, then per metric name.
type Observations map[string]map[string]Observation

// Observation is one metric for one version over a step: its value and
// the counts behind it.
type Observation struct {
	Value float64 `json:"value"`
	// Samples is the number of requests behind the value.
	Samples float64 `json:"samples"`
	// Type is mean, quantile, ratio or count; Quantile and Scale
	// complete it (a ratio's Value is Scale×Events/Samples).
	Type     string  `json:"type,omitempty"`
	Quantile float64 `json:"quantile,omitempty"`
	Scale    float64 `json:"scale,omitempty"`
	Unit     string  `json:"unit,omitempty"`
	// Events is a ratio's numerator (errors).
	Events float64 `json:"events,omitempty"`
	// Sum and Buckets are a histogram's, in the metric's unit.
	Sum     float64  `json:"sum,omitempty"`
	Buckets []Bucket `json:"buckets,omitempty"`
	// Error says why the value could not be read; Value then means
	// nothing.
	Error string `json:"error,omitempty"`
	// NoData marks an Error that only means nothing to judge yet.
	NoData bool `json:"noData,omitempty"`
}

// Bucket is one cumulative histogram bucket: Count observations were at
// most the bound Le, written as Prometheus writes le ("0.1", "+Inf":
// JSON has no infinity).
type Bucket struct {
	Le    string  `json:"le"`
	Count float64 `json:"count"`
}

// Outcome is what the data show of an objective, or of one of its
// limits.
type Outcome string

// The outcomes.
const (
	// Pass: shown within the limits, at the experiment's confidence.
	Pass Outcome = "pass"
	// Fail: shown beyond a limit.
	Fail Outcome = "fail"
	// Pending: not shown either way yet.
	Pending Outcome = "pending"
)

// Verdict is one objective judged for one version.
type Verdict struct {
	Version string `json:"version"`
	Metric  string `json:"metric"`
	// Objective is the objective's index in the spec.
	Objective int `json:"objective"`
	// Value is the metric over the step; Samples the requests behind it.
	Value   float64 `json:"value"`
	Samples float64 `json:"samples"`
	Outcome Outcome `json:"outcome"`
	// Pass is Outcome == "pass".
	Pass bool `json:"pass"`
	// Leaning is true when the estimates sit within the limits: the
	// step may advance.
	Leaning bool `json:"leaning"`
	// Checks are the objective's limits, each against the data.
	Checks []Check `json:"checks"`
	// Why says, in words, what was seen and why it passed, failed or
	// is not decided yet.
	Why string `json:"why"`
}

// Check is one limit of an objective against the data, with the
// anytime-valid interval of the quantity it bounds.
type Check struct {
	// Quantity is what is limited, in words ("error rate", "mean ÷
	// v1's").
	Quantity string `json:"quantity"`
	// Unit of Estimate, Low, High and Limit ("ms", "%", "×").
	Unit string `json:"unit,omitempty"`
	// Op is "<=" or ">=".
	Op    string  `json:"op"`
	Limit float64 `json:"limit"`
	// Estimate is the quantity over the step; Samples the requests
	// behind it.
	Estimate float64 `json:"estimate"`
	Samples  float64 `json:"samples"`
	// Low and High bound the quantity; nil is unbounded.
	Low     *float64 `json:"low,omitempty"`
	High    *float64 `json:"high,omitempty"`
	Outcome Outcome  `json:"outcome"`
	// Need is about how many requests in the step would decide the
	// check if the data went on as so far; nil when decided or never.
	Need *float64 `json:"need,omitempty"`
	// Note qualifies the check.
	Note string `json:"note,omitempty"`
}
