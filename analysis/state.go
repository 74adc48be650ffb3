// Package analysis runs experiments: each interval it reads metrics for
// the versions of a route, judges them against the experiment's
// objectives, and moves the route's weights forward, back, or to the
// winner. Judging is a pure function (Evaluate); the Runner only fetches,
// calls, applies and records.
package analysis

import (
	"math"
	"time"

	"github.com/shadowplane/shadowplane/analysis/metrics"
	"github.com/shadowplane/shadowplane/policy"
)

// Stage is where an experiment is in its life.
type Stage string

const (
	// Running: judging each interval.
	Running Stage = "Running"
	// Completed: every iteration passed; the success action was applied.
	Completed Stage = "Completed"
	// RolledBack: an objective failed, or data was missing too long; the
	// failure action was applied.
	RolledBack Stage = "RolledBack"
	// Failed: an objective failed and onFailure is keep: the route stays
	// as it was.
	Failed Stage = "Failed"
	// Halted: a proxy rejected a step; the last good weights are back and
	// nothing moves until the experiment is edited.
	Halted Stage = "Halted"
	// Paused: the experiment could not decide (too little traffic by
	// maxStepDuration, or metrics down too long) and waits for a person:
	// the weights stay, and editing the experiment resumes it.
	Paused Stage = "Paused"
	// WaitingApproval: the experiment reached an approval gate of its
	// policy (State.Gate names it) and waits for a person's approve; the
	// weights stay where they are.
	WaitingApproval Stage = "WaitingApproval"
)

// Done reports whether the experiment has stopped deciding: it ended, or
// it is paused or waiting for approval.
func (s Stage) Done() bool { return s != Running }

// Ended reports whether the experiment ended: it completed, rolled back
// (aborted included), failed or halted. Only retry starts it again.
func (s Stage) Ended() bool {
	switch s {
	case Completed, RolledBack, Failed, Halted:
		return true
	}
	return false
}

// Action is what one iteration decided.
type Action string

const (
	// Advance: objectives passed; the next step is applied.
	Advance Action = "advance"
	// Hold: nothing decided at this look: too little evidence yet, the
	// metrics source down, or a failure not yet seen failureLimit times.
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

// Route is what an experiment serves on its route in place of what the
// policy file says: the split, and whether the mirror is off.
type Route struct {
	// Split is the route's split, in the policy's order; weights are
	// percentages of the route.
	Split []policy.Backend `json:"split"`
	// MirrorOff withdraws the route's mirror.
	MirrorOff bool `json:"mirrorOff,omitempty"`
}

// Weights returns the split as a map, for display and tests.
func (r Route) Weights() map[string]uint32 {
	out := make(map[string]uint32, len(r.Split))
	for _, b := range r.Split {
		if b.Weight != nil {
			out[b.Variant] = *b.Weight
		}
	}
	return out
}

// State is an experiment's durable progress: enough to resume after a
// restart, even a kill -9, at the same step with the same weights.
type State struct {
	Experiment string `json:"experiment"`
	// Spec is the experiment as it was when the state was written, to
	// tell an edit from a restart.
	Spec  policy.Experiment `json:"spec"`
	Stage Stage             `json:"stage"`
	// Iteration counts judgements that passed.
	Iteration int `json:"iteration"`
	// NoData counts looks in a row with the metrics source down.
	NoData int `json:"noData"`
	// Failures counts looks in a row with an objective shown failing.
	Failures int `json:"failures,omitempty"`
	// Route is what is served on the experiment's route now.
	Route Route `json:"route"`
	// LastGood is the route before the step now being rolled out, restored
	// if a proxy rejects the step.
	LastGood Route  `json:"lastGood"`
	Winner   string `json:"winner,omitempty"`
	Reason   string `json:"reason"`
	// WindowStart is when every proxy had ACKed the current step: the
	// step is judged on all the data since then.
	WindowStart time.Time `json:"windowStart"`
	StartedAt   time.Time `json:"startedAt"`
	UpdatedAt   time.Time `json:"updatedAt"`
	History     []Record  `json:"history"`
	// Events are what people and hooks did to the experiment (controls,
	// webhook results), oldest first, at most maxEvents.
	Events []HistoryEntry `json:"events,omitempty"`
	// Gate names the approval gate a WaitingApproval experiment waits at
	// ("beforePromotion", "beforeWeight 50").
	Gate string `json:"gate,omitempty"`
	// Held is the decision held at Gate, applied when it is approved.
	Held *HeldDecision `json:"held,omitempty"`
	// Approved are the gates approved in this run: they do not wait again.
	Approved []string `json:"approved,omitempty"`
	// Warning, in answers only (never saved), says what removing an ended
	// experiment from the policy would do to its route (RemovalWarning).
	Warning string `json:"warning,omitempty"`

	// invalid says why the state saved for this experiment could not be
	// used, when it could not: the experiment is held (Paused, with no
	// route of its own, so the policy's is served) and this state is never
	// saved over the file.
	invalid string
}

// Record is one look: what was measured, judged and decided.
type Record struct {
	// Iteration is State.Iteration after the decision.
	Iteration int       `json:"iteration"`
	At        time.Time `json:"at"`
	// WindowStart is when the step judged began.
	WindowStart time.Time `json:"windowStart"`
	// Observations are the values read over the step, per version and
	// metric (without bucket counts).
	Observations Observations `json:"observations"`
	Verdicts     []Verdict    `json:"verdicts"`
	Action       Action       `json:"action"`
	Reason       string       `json:"reason"`
	// Weights are the route's weights after the decision.
	Weights   map[string]uint32 `json:"weights"`
	MirrorOff bool              `json:"mirrorOff,omitempty"`
}

// Observations are metric values per version, then per metric name.
type Observations map[string]map[string]Observation

// Observation is one metric for one version over a window: its value, and
// the counts behind it that say how uncertain the value is.
type Observation struct {
	Value float64 `json:"value"`
	// Samples is the number of requests behind the value.
	Samples float64 `json:"samples"`
	// Type says what Value is (mean, quantile, ratio, count); Quantile
	// and Scale complete it (a ratio's Value is Scale×Events/Samples).
	Type     metrics.Type `json:"type,omitempty"`
	Quantile float64      `json:"quantile,omitempty"`
	Scale    float64      `json:"scale,omitempty"`
	Unit     string       `json:"unit,omitempty"`
	// Events is a ratio's numerator (errors).
	Events float64 `json:"events,omitempty"`
	// Sum and Buckets are a histogram's, in the metric's unit.
	Sum     float64          `json:"sum,omitempty"`
	Buckets []metrics.Bucket `json:"buckets,omitempty"`
	// Error says why the value could not be read; the value is then
	// meaningless and the version is not judged.
	Error string `json:"error,omitempty"`
	// NoData marks an Error that only means nothing to judge yet (no
	// requests, no series): too little traffic, not a source down.
	NoData bool `json:"noData,omitempty"`
}

// finite reports whether the value and the counts are numbers: NaN or
// infinite counts would otherwise be taken as no evidence.
func (o Observation) finite() bool {
	for _, v := range []float64{o.Value, o.Samples, o.Events, o.Sum} {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return false
		}
	}
	for _, b := range o.Buckets {
		if math.IsNaN(b.Count) || math.IsInf(b.Count, 0) {
			return false
		}
	}
	return true
}

// summary is o without its bucket counts, for the history.
func (o Observation) summary() Observation {
	o.Buckets = nil
	return o
}

// Outcome is what the data show of one objective, or of one of its
// limits.
type Outcome string

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
	// Value is the metric over the step, as the metric defines it (a
	// mean, a quantile, a ratio, a count).
	Value float64 `json:"value"`
	// Samples is the number of requests behind it.
	Samples float64 `json:"samples"`
	Outcome Outcome `json:"outcome"`
	// Pass is Outcome == "pass".
	Pass bool `json:"pass"`
	// Leaning is true when the estimates sit within the limits: the step
	// may advance (it paces exposure; it never fails anything).
	Leaning bool `json:"leaning"`
	// Checks are the objective's limits, each with the quantity it
	// bounds and that quantity's anytime-valid interval.
	Checks []Check `json:"checks"`
	// Why says, in words, what was seen and why it passed, failed or is
	// not decided yet.
	Why string `json:"why"`
}

// Check is one limit of an objective against the data.
type Check struct {
	// Quantity is what is limited, in words: "error rate", "share of
	// requests slower than 100 ms", "mean ÷ v1's".
	Quantity string `json:"quantity"`
	// Unit of Estimate, Low, High and Limit: "ms", "%", "×".
	Unit string `json:"unit,omitempty"`
	// Op is "<=" or ">=".
	Op    string  `json:"op"`
	Limit float64 `json:"limit"`
	// Estimate is the quantity over the step, and Samples the requests
	// behind it.
	Estimate float64 `json:"estimate"`
	Samples  float64 `json:"samples"`
	// Low and High bound the quantity, anytime-valid: for a "<=" limit,
	// Low at the level of the test that can fail the check (alpha split
	// over every check and step), High at the level of the one that can
	// pass it (alpha); the other way round for ">=". Nil is unbounded.
	Low     *float64 `json:"low,omitempty"`
	High    *float64 `json:"high,omitempty"`
	Outcome Outcome  `json:"outcome"`
	// Need is about how many requests in the step would decide the check
	// if the data went on as so far; nil when decided or never.
	Need *float64 `json:"need,omitempty"`
	// Note qualifies the check (a limit inside a histogram bucket, a
	// ratio of rates near zero).
	Note string `json:"note,omitempty"`
}
