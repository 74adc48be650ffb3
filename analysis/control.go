package analysis

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/shadowplane/shadowplane/policy"
)

// Operator controls: what a person may do to a running experiment. Each is
// recorded in the state's Events, saved durably, and only then acted on,
// so that a control survives a restart (kill -9 included) exactly as a
// decision does. See docs/decisions/0018-operator-controls.md.

// Controls a person may apply (Runner.Control). They share the Action type
// of the decisions: pause is the same word whoever pauses.
const (
	// ActionPause freezes the weights where they are (still served and
	// ACK-tracked) and stops judging, until resume.
	ActionPause Action = "pause"
	// ActionResume judges a paused experiment again, with a fresh step
	// window.
	ActionResume Action = "resume"
	// ActionAbort rolls back at once: the baseline takes the candidates'
	// traffic, a mirror feeding a candidate is withdrawn; the stage is
	// RolledBack.
	ActionAbort Action = "abort"
	// ActionPromote skips the remaining steps and ends the experiment as
	// its onSuccess says (promote: the winner gets 100 %).
	ActionPromote Action = "promote"
	// ActionApprove releases the approval gate a WaitingApproval
	// experiment waits at: the held step is taken.
	ActionApprove Action = "approve"
	// ActionRetry starts an ended experiment (rolled back, aborted,
	// failed, halted, or held for an invalid saved state) again from the
	// policy's weights, as a new run; its history is kept.
	ActionRetry Action = "retry"
)

// Actions are the controls, in the order they are documented.
var Actions = []Action{ActionPause, ActionResume, ActionAbort, ActionPromote, ActionApprove, ActionRetry}

// ControlOptions qualify a control.
type ControlOptions struct {
	// By and Reason say who acted and why; both are recorded.
	By, Reason string
	// Write, for promote: also write the final weights back to the policy
	// (RunnerConfig.WriteBack), as writeBack: true does.
	Write bool
}

var (
	// ErrUnknownExperiment: no experiment of that name is running.
	ErrUnknownExperiment = errors.New("unknown experiment")
	// ErrNotApplicable: the control does not apply to the experiment's
	// stage; nothing changed.
	ErrNotApplicable = errors.New("action does not apply to the experiment's stage")
	// ErrNotLeader: this replica follows; only the leader acts.
	ErrNotLeader = errors.New("not the leader")
)

// reasonError is an error whose text is its own, and which is (errors.Is)
// one of the sentinel errors above.
type reasonError struct {
	kind error
	msg  string
}

func (e *reasonError) Error() string { return e.msg }
func (e *reasonError) Unwrap() error { return e.kind }

func notApplicable(a Action, format string, args ...any) error {
	return &reasonError{kind: ErrNotApplicable, msg: string(a) + ": " + fmt.Sprintf(format, args...)}
}

// GateKind names a point where RunnerConfig.Gate is asked.
type GateKind string

const (
	// GateStep: before a Progressive step moves the weights.
	GateStep GateKind = "confirm-step"
	// GatePromotion: before the winner is promoted.
	GatePromotion GateKind = "confirm-promotion"
)

// HistoryEntry is one thing people or hooks did to an experiment: a
// control, a webhook's result, a write-back.
type HistoryEntry struct {
	Time time.Time `json:"time"`
	// Action is a control ("pause") or an event ("webhook:started",
	// "writeback").
	Action string `json:"action"`
	By     string `json:"by,omitempty"`
	Reason string `json:"reason,omitempty"`
	Result string `json:"result,omitempty"`
}

// maxEvents bounds State.Events: the last maxEvents are kept.
const maxEvents = 200

// appendEvent appends e to a copy of h, keeping the last maxEvents.
func appendEvent(h []HistoryEntry, e HistoryEntry) []HistoryEntry {
	out := append(slices.Clone(h), e)
	if len(out) > maxEvents {
		out = slices.Clone(out[len(out)-maxEvents:])
	}
	return out
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

func (h *HeldDecision) decision() Decision {
	return Decision{Action: h.Action, Stage: h.Stage, Iteration: h.Iteration, Route: h.Route, Winner: h.Winner, Reason: h.Reason}
}

// notLeaderLocked is ErrNotLeader, naming the leader when known.
func (r *Runner) notLeaderLocked() error {
	msg := "not the leader: this replica follows and takes no control; send it to the leader"
	if r.cfg.Leader != nil {
		if l := r.cfg.Leader(); l != "" {
			msg = "not the leader; the leader is " + l
		}
	}
	return &reasonError{kind: ErrNotLeader, msg: msg}
}

// Control applies a to experiment name: it records it in the state's
// Events (time, action, by, reason), saves the state durably, and only
// then acts, so that a crash after the save acts on restart. It returns
// the new state. An unknown experiment is ErrUnknownExperiment; a control
// that does not apply to the stage is ErrNotApplicable and changes
// nothing; a follower refuses every control with ErrNotLeader.
func (r *Runner) Control(ctx context.Context, name string, a Action, opts ControlOptions) (State, error) {
	r.mu.Lock()
	if !r.leading {
		err := r.notLeaderLocked()
		r.mu.Unlock()
		return State{}, err
	}
	cur := r.states[name]
	if cur == nil {
		r.mu.Unlock()
		return State{}, fmt.Errorf("%w: %q", ErrUnknownExperiment, name)
	}
	now := r.cfg.Now()
	next, err := r.controlled(cur, a, opts, now)
	if err != nil {
		r.mu.Unlock()
		return State{}, err
	}
	next.Events = appendEvent(next.Events, HistoryEntry{Time: now, Action: string(a), By: opts.By, Reason: opts.Reason})
	promoted := next.Stage == Completed && next.Winner != "" && next.Route.Weights()[next.Winner] == 100
	writes := (a == ActionPromote && (opts.Write || next.Spec.WriteBack && promoted)) || (a == ActionApprove && next.Spec.WriteBack && promoted)
	if writes {
		next.Events = withWriteBackPending(next.Events, now)
	}
	if err := r.storeLocked(next); err != nil {
		r.mu.Unlock()
		return State{}, fmt.Errorf("%s: the state could not be saved, so nothing was done: %w", a, err)
	}
	// Saved: act. A control that leaves the experiment running gets a new
	// state and a new loop (its window starts at the next ACK); one that
	// stops it is applied in place, under the old loop, which sees its
	// context cancelled and saves nothing more.
	r.stopLocked(name)
	running := next.Stage == Running
	if running {
		r.states[name] = next
		delete(r.loaded, name)
		delete(r.heldLogged, name)
		if r.ctx != nil {
			r.startLocked(name)
		}
	} else {
		*cur = *next
		next = cur
	}
	r.notifyLocked(next)
	out := *next
	out.History, out.Events = slices.Clone(next.History), slices.Clone(next.Events)
	spec := next.Spec
	if writes {
		r.finishingLocked(name)
	}
	r.mu.Unlock()
	r.cfg.Log.Info("experiment control", "experiment", name, "action", string(a), "by", opts.By, "reason", opts.Reason, "stage", string(out.Stage))

	if !running {
		if err := r.publish(ctx, ""); err != nil {
			r.cfg.Log.Error("publishing after a control; it is saved and served at the next publication", "experiment", name, "action", string(a), "error", err)
		}
	}
	if writes {
		r.writeBack(name, &spec, out, "")
	}
	return out, nil
}

// controlled returns the state after a, saved before it is acted on, or
// why a does not apply. Called with r.mu; cur is not changed.
func (r *Runner) controlled(cur *State, a Action, opts ControlOptions, now time.Time) (*State, error) {
	by := opts.By
	if by == "" {
		by = "an operator"
	}
	why := ""
	if opts.Reason != "" {
		why = ": " + opts.Reason
	}
	if cur.invalid != "" && a != ActionRetry {
		return nil, notApplicable(a, "the experiment is held for an invalid saved state (%s): only retry (start it afresh from the policy) applies", cur.invalid)
	}
	next := *cur
	next.UpdatedAt = now
	switch a {
	case ActionPause:
		if cur.Stage != Running {
			return nil, notApplicable(a, "experiment is %s, not running", cur.Stage)
		}
		next.Stage = Paused
		next.Reason = fmt.Sprintf("paused by %s%s; the weights stay where they are; resume to judge again", by, why)
	case ActionResume:
		if cur.Stage != Paused {
			return nil, notApplicable(a, "experiment is %s, not paused", cur.Stage)
		}
		next.Stage, next.NoData, next.Failures = Running, 0, 0
		next.Reason = fmt.Sprintf("resumed by %s%s; the step's evidence starts again", by, why)
	case ActionApprove:
		if cur.Stage != WaitingApproval {
			return nil, notApplicable(a, "experiment is %s: no approval gate is waiting", cur.Stage)
		}
		next.Approved = append(slices.Clone(cur.Approved), cur.Gate)
		reason := fmt.Sprintf("%s approved by %s%s", cur.Gate, by, why)
		if cur.Held != nil {
			d := cur.Held.decision()
			d.Reason = reason + "; " + d.Reason
			next, _ = cur.Apply(d, nil, now)
			next.Approved = append(slices.Clone(cur.Approved), cur.Gate)
		} else {
			next.Stage, next.Reason = Running, reason
		}
		next.Gate, next.Held = "", nil
	case ActionAbort:
		if cur.Stage.Ended() && cur.Stage != Halted {
			return nil, notApplicable(a, "experiment already ended (%s)", cur.Stage)
		}
		pr := findRoute(r.model, &cur.Spec)
		if pr == nil {
			return nil, notApplicable(a, "the experiment's route %q of app %q is not in the policy", cur.Spec.Route, cur.Spec.App)
		}
		d := Decision{Action: RollBack, Stage: RolledBack, Iteration: cur.Iteration, Route: rolledBack(&cur.Spec, pr, cur.Route),
			Reason: fmt.Sprintf("aborted by %s%s: rolled back", by, why)}
		next, _ = cur.Apply(d, nil, now)
		next.Gate, next.Held = "", nil
	case ActionPromote:
		if cur.Stage.Ended() {
			return nil, notApplicable(a, "experiment already ended (%s)", cur.Stage)
		}
		pr := findRoute(r.model, &cur.Spec)
		if pr == nil {
			return nil, notApplicable(a, "the experiment's route %q of app %q is not in the policy", cur.Spec.Route, cur.Spec.App)
		}
		winner, err := winnerNow(cur)
		if err != nil && cur.Spec.OnSuccess == policy.Promote {
			return nil, notApplicable(a, "%v", err)
		}
		d := succeed(&cur.Spec, pr, Decision{Iteration: cur.Iteration, Route: cur.Route, Winner: winner})
		switch d.Action {
		case PromoteWinner:
			d.Reason = fmt.Sprintf("promoted by %s%s: %s gets 100%%", by, why, winner)
		case RollBack:
			d.Reason = fmt.Sprintf("promoted by %s%s; onSuccess is rollback: rolled back", by, why)
		default:
			d.Reason = fmt.Sprintf("promoted by %s%s; onSuccess is keep: the weights stay", by, why)
		}
		next, _ = cur.Apply(d, nil, now)
		next.Gate, next.Held = "", nil
	case ActionRetry:
		if cur.invalid == "" && !cur.Stage.Ended() {
			return nil, notApplicable(a, "experiment is %s, not ended", cur.Stage)
		}
		i := slices.IndexFunc(r.model.Experiments, func(e policy.Experiment) bool { return e.Name == cur.Experiment })
		if i < 0 {
			return nil, notApplicable(a, "the experiment is not in the policy")
		}
		e := &r.model.Experiments[i]
		st := r.newState(r.model, e)
		if st == nil {
			return nil, notApplicable(a, "the experiment's route %q of app %q is not in the policy", e.Route, e.App)
		}
		st.Reason = fmt.Sprintf("retried by %s%s, from the policy's weights; %s", by, why, st.Reason)
		st.Events = cur.Events
		if writeBackUnfinished(cur) {
			// That promotion is undone by the retry: its write-back is
			// not to be finished on behalf of this run.
			st.Events = appendEvent(st.Events, HistoryEntry{Time: now, Action: writeBackAction, Result: "abandoned: the experiment was retried before its write-back ran"})
		}
		if cur.invalid == "" {
			st.History = cur.History
		}
		return st, nil
	default:
		return nil, notApplicable(a, "not a control: use one of %v", Actions)
	}
	return &next, nil
}

// winnerNow is the version a promotion now gives the route: the decided
// winner, else a Canary's or Conformance's candidate, else the one AB
// version the last judged look showed meeting every objective.
func winnerNow(st *State) (string, error) {
	e := &st.Spec
	switch {
	case st.Winner != "":
		return st.Winner, nil
	case e.Testing != policy.AB:
		return e.Candidates[0], nil
	}
	for i := len(st.History) - 1; i >= 0; i-- {
		if len(st.History[i].Verdicts) == 0 {
			continue
		}
		if passing := passingVersions(e, st.History[i].Verdicts); len(passing) == 1 {
			return passing[0], nil
		}
		break
	}
	return "", errors.New("no winner decided yet: an AB experiment promotes only a version shown to meet every objective, alone")
}

// Record appends e to the Events of experiment name and saves the state.
// A zero e.Time is now. It must not be called from OnChange, which runs
// under the runner's lock.
func (r *Runner) Record(name string, e HistoryEntry) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.leading {
		return r.notLeaderLocked()
	}
	cur := r.states[name]
	if cur == nil {
		return fmt.Errorf("%w: %q", ErrUnknownExperiment, name)
	}
	if cur.invalid != "" {
		return fmt.Errorf("experiment %q is held for an invalid saved state, which is never saved over", name)
	}
	if e.Time.IsZero() {
		e.Time = r.cfg.Now()
	}
	next := *cur
	next.Events = appendEvent(cur.Events, e)
	if err := r.storeLocked(&next); err != nil {
		return err
	}
	cur.Events = next.Events
	r.notifyLocked(cur)
	return nil
}

// writeBack calls RunnerConfig.WriteBack after a promotion and records
// the result, with why when it is a retry; a failure is logged and
// recorded, and the promotion stands.
//
// Its result not recorded (the store failing, the Lease lost), the write
// stays marked as running in this process, so it is not run again at
// every policy change; the saved state still says pending, for the next
// leader to finish.
func (r *Runner) writeBack(name string, spec *policy.Experiment, st State, why string) {
	recorded := false
	defer func() {
		if recorded {
			r.mu.Lock()
			delete(r.finishing, name)
			r.mu.Unlock()
		}
	}()
	entry := HistoryEntry{Action: writeBackAction, Result: "ok", Reason: why}
	if r.cfg.WriteBack == nil {
		entry.Result = "failed: no write-back is configured"
	} else if err := r.cfg.WriteBack(spec, st); err != nil {
		entry.Result = "failed: " + err.Error()
	}
	if entry.Result != "ok" {
		r.cfg.Log.Error("writing the promotion back to the policy; the promotion stands", "experiment", name, "error", entry.Result)
	}
	if err := r.Record(name, entry); err != nil {
		r.cfg.Log.Error("recording the write-back", "experiment", name, "error", err)
		return
	}
	recorded = true
}

// gateKind is the hook gate decision d must pass, or "".
func gateKind(st *State, d Decision) GateKind {
	switch {
	case d.Action == PromoteWinner:
		return GatePromotion
	case d.Action == Advance && !slices.Equal(weightsList(d.Route), weightsList(st.Route)):
		return GateStep
	}
	return ""
}

// approvalGate is the approval gate of the experiment's policy that
// decision d, made in state st, must wait at, or "".
func approvalGate(e *policy.Experiment, st *State, d Decision) string {
	a := e.Approval
	if a == nil {
		return ""
	}
	gate := ""
	switch {
	case a.BeforePromotion && d.Action == PromoteWinner:
		gate = "beforePromotion"
	case a.BeforeWeight > 0 && d.Action == Advance && len(e.Candidates) > 0:
		c := e.Candidates[0]
		if st.Route.Weights()[c] < a.BeforeWeight && d.Route.Weights()[c] >= a.BeforeWeight {
			gate = fmt.Sprintf("beforeWeight %d", a.BeforeWeight)
		}
	}
	if gate == "" || slices.Contains(st.Approved, gate) {
		return ""
	}
	return gate
}

// waitAt is st after decision d, made at the look at on obs, held at the
// approval gate: the weights stay, the decision waits in Held.
func waitAt(st *State, gate string, d Decision, obs Observations, at time.Time) State {
	next := *st
	next.Stage, next.Gate, next.UpdatedAt = WaitingApproval, gate, at
	next.Held = &HeldDecision{Action: d.Action, Stage: d.Stage, Iteration: d.Iteration, Route: d.Route, Winner: d.Winner, Reason: d.Reason}
	next.NoData, next.Failures = d.NoData, d.Failures
	next.Reason = fmt.Sprintf("waiting for approval (%s) to %s: %s; approve to go on", gate, d.Action, d.Reason)
	next.History = appendRecord(st.History, Record{
		Iteration: st.Iteration, At: at, WindowStart: st.WindowStart, Observations: summaries(obs), Verdicts: d.Verdicts,
		Action: Pause, Reason: next.Reason, Weights: st.Route.Weights(), MirrorOff: st.Route.MirrorOff,
	})
	return next
}
