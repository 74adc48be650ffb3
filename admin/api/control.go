package api

// The controls a person may apply to an experiment with
// POST /api/v1/experiments/{name}/{action}; the answer is the
// experiment's new state, an Experiment.
const (
	// ActionPause freezes the weights where they are.
	ActionPause Action = "pause"
	// ActionResume resumes a paused experiment.
	ActionResume Action = "resume"
	// ActionAbort ends the experiment and rolls its route back.
	ActionAbort Action = "abort"
	// ActionPromote skips the remaining steps and promotes.
	ActionPromote Action = "promote"
	// ActionApprove lets an experiment waiting at a gate go on.
	ActionApprove Action = "approve"
	// ActionRetry starts an ended experiment again.
	ActionRetry Action = "retry"
)

// ControlActions are the controls, in the order the web view shows them.
var ControlActions = []Action{ActionPause, ActionResume, ActionAbort, ActionPromote, ActionApprove, ActionRetry}

// ControlRequest is the body of a control; an empty body is an empty
// request. Unknown fields are refused.
type ControlRequest struct {
	// Reason says why, for the experiment's history.
	Reason string `json:"reason,omitempty"`
	// Write, with promote, also rewrites the route in the policy file.
	Write bool `json:"write,omitempty"`
}

// Error is the body of every answer that is not a success (4xx, 5xx) on
// the JSON endpoints.
type Error struct {
	// Message says what went wrong.
	Message string `json:"error"`
}
