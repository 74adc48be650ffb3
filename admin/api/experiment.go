package api

import "time"

// Experiment is one experiment as /api/v1/experiments shows it: the
// spec it runs, where it is (stage, iteration), what it serves on its
// route now, every look it took (History) and what people and hooks did
// to it (Events). A control's answer is one Experiment too. URLs and
// texts that may hold credentials are shown redacted.
type Experiment struct {
	// Name is the experiment's name, unique in the control plane.
	Name string `json:"experiment"`
	// Spec is the experiment as the policy declared it when the state
	// was last written.
	Spec  ExperimentSpec `json:"spec"`
	Stage Stage          `json:"stage"`
	// Iteration counts the looks that passed.
	Iteration int `json:"iteration"`
	// NoData counts looks in a row with the metrics source down.
	NoData int `json:"noData"`
	// Failures counts looks in a row that showed an objective failing.
	Failures int `json:"failures,omitempty"`
	// Route is what the experiment serves on its route now.
	Route Route `json:"route"`
	// LastGood is the route before the step being rolled out, restored
	// if a proxy rejects the step.
	LastGood Route `json:"lastGood"`
	// Winner is the version promoted, or to be.
	Winner string `json:"winner,omitempty"`
	// Reason says, in words, why the experiment is where it is.
	Reason string `json:"reason"`
	// WindowStart is when every proxy had ACKed the current step: the
	// step is judged on all the data since then.
	WindowStart time.Time `json:"windowStart"`
	StartedAt   time.Time `json:"startedAt"`
	UpdatedAt   time.Time `json:"updatedAt"`
	// History is every look, oldest first.
	History []Record `json:"history"`
	// Events are what people and hooks did, oldest first.
	Events []Event `json:"events,omitempty"`
	// Gate names the approval gate a WaitingApproval experiment waits
	// at ("beforePromotion", "beforeWeight 50").
	Gate string `json:"gate,omitempty"`
	// Held is the decision waiting at Gate, taken as it is on approve.
	Held *HeldDecision `json:"held,omitempty"`
	// Approved are the gates approved in this run.
	Approved []string `json:"approved,omitempty"`
	// Warning says what removing an ended experiment from the policy
	// would do to its route.
	Warning string `json:"warning,omitempty"`
}

// Stage is where an experiment is in its life.
type Stage string

// The stages.
const (
	// Running: judging each interval.
	Running Stage = "Running"
	// Paused: could not decide, or paused by a person; the weights stay
	// until someone acts.
	Paused Stage = "Paused"
	// WaitingApproval: at an approval gate (Experiment.Gate), waiting
	// for approve.
	WaitingApproval Stage = "WaitingApproval"
	// Completed: every iteration passed; the success action was applied.
	Completed Stage = "Completed"
	// RolledBack: failed, or aborted; the baseline takes the traffic.
	RolledBack Stage = "RolledBack"
	// Failed: an objective failed and the policy said keep the route.
	Failed Stage = "Failed"
	// Halted: a proxy rejected a step; the last good weights are back.
	Halted Stage = "Halted"
)

// Stages are every stage, in the order the metrics list them.
var Stages = []Stage{Running, Paused, WaitingApproval, Completed, RolledBack, Failed, Halted}

// Done reports whether the experiment has stopped deciding on its own:
// it ended, or waits for a person.
func (s Stage) Done() bool { return s != Running }

// Ended reports whether the experiment ended; only retry starts it again.
func (s Stage) Ended() bool {
	switch s {
	case Completed, RolledBack, Failed, Halted:
		return true
	}
	return false
}

// Route is what an experiment serves on its route in place of what the
// policy file says: the split, and whether the mirror is off.
type Route struct {
	// Split is in the policy's order; weights are percent of the route.
	Split     []Backend `json:"split"`
	MirrorOff bool      `json:"mirrorOff,omitempty"`
}

// Weights returns the split as a map from variant to weight; a backend
// without a weight is left out.
func (r Route) Weights() map[string]uint32 {
	out := make(map[string]uint32, len(r.Split))
	for _, b := range r.Split {
		if b.Weight != nil {
			out[b.Variant] = *b.Weight
		}
	}
	return out
}

// Backend is one variant of a route's split and its weight (percent);
// nil when the route gives none.
type Backend struct {
	Variant string  `json:"variant"`
	Weight  *uint32 `json:"weight,omitempty"`
}

// HeldDecision is a decision held at an approval gate, taken as it is
// when the gate is approved.
type HeldDecision struct {
	Action    Action `json:"action"`
	Stage     Stage  `json:"stage"`
	Iteration int    `json:"iteration"`
	Route     Route  `json:"route"`
	Winner    string `json:"winner,omitempty"`
	Reason    string `json:"reason"`
}

// Event is one thing a person or a hook did to an experiment: a control,
// a webhook's result, a write-back of the route into the policy file.
type Event struct {
	Time time.Time `json:"time"`
	// Action is a control ("pause") or an event ("webhook:started",
	// "writeback").
	Action string `json:"action"`
	// By is who acted (the X-Shadowplane-Actor of a control, or "token").
	By     string `json:"by,omitempty"`
	Reason string `json:"reason,omitempty"`
	Result string `json:"result,omitempty"`
}

// Leadership says which replica runs the experiments, when replicas run
// under leader election; a follower shows the leader's experiments but
// takes no control.
type Leadership struct {
	// Identity is this replica's name in the Lease.
	Identity string `json:"identity"`
	// Leader is the replica holding the Lease, "" if none is known.
	Leader string `json:"leader"`
	// Leading is true on the leader.
	Leading bool `json:"leading"`
}

// ExperimentList is the answer to GET /api/v1/experiments: a page of the
// experiments by name. The fields are in name order, as the API wrote
// them before it had types of its own.
type ExperimentList struct {
	Experiments []Experiment `json:"experiments"`
	// Leadership is set under leader election.
	Leadership *Leadership `json:"leadership,omitempty"`
	// Next, when set, is the ?after= of the next page.
	Next string `json:"next,omitempty"`
	// Total counts every experiment, on every page.
	Total int `json:"total"`
}
