// Package analysis runs experiments: each interval it reads metrics for
// the versions of a route, judges them against the experiment's
// objectives, and moves the route's weights forward, back, or to the
// winner. Judging is a pure function (Evaluate); the Runner only fetches,
// calls, applies and records.
package analysis

import (
	"time"

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
)

// Done reports whether the experiment has ended.
func (s Stage) Done() bool { return s != Running }

// Action is what one iteration decided.
type Action string

const (
	// Advance: objectives passed; the next step is applied.
	Advance Action = "advance"
	// Hold: no judgement this interval (no data, too few samples).
	Hold Action = "hold"
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
	// NoData counts intervals in a row without a judgement.
	NoData int `json:"noData"`
	// Route is what is served on the experiment's route now.
	Route Route `json:"route"`
	// LastGood is the route before the step now being rolled out, restored
	// if a proxy rejects the step.
	LastGood Route  `json:"lastGood"`
	Winner   string `json:"winner,omitempty"`
	Reason   string `json:"reason"`
	// WindowStart is when every proxy had ACKed the current step: metrics
	// are read from then on.
	WindowStart time.Time `json:"windowStart"`
	StartedAt   time.Time `json:"startedAt"`
	UpdatedAt   time.Time `json:"updatedAt"`
	History     []Record  `json:"history"`
}

// Record is one iteration: what was measured, judged and decided.
type Record struct {
	// Iteration is State.Iteration after the decision.
	Iteration   int       `json:"iteration"`
	At          time.Time `json:"at"`
	WindowStart time.Time `json:"windowStart"`
	// Observations are the values read, per version and metric.
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

// Observation is one metric's value for one version over the window.
type Observation struct {
	Value float64 `json:"value"`
	// Samples is the number of requests behind the value.
	Samples float64 `json:"samples"`
	// Error says why the value could not be read; the value is then
	// meaningless and the version is not judged.
	Error string `json:"error,omitempty"`
}

// Verdict is one objective checked for one version.
type Verdict struct {
	Version string  `json:"version"`
	Metric  string  `json:"metric"`
	Value   float64 `json:"value"`
	// Upper and Lower are the limits applied, after scaling relative
	// limits by the baseline's value.
	Upper *float64 `json:"upper,omitempty"`
	Lower *float64 `json:"lower,omitempty"`
	Pass  bool     `json:"pass"`
}
