package notify

import (
	"context"
	"errors"
	"fmt"

	"github.com/shadowplane/shadowplane/analysis"
	"github.com/shadowplane/shadowplane/policy"
)

// The Notifier's methods fit RunnerConfig.OnChange and RunnerConfig.Gate.
var (
	_ func(*analysis.State)                                          = (*Notifier)(nil).Observe
	_ func(context.Context, analysis.State, analysis.GateKind) error = (*Notifier)(nil).Gate
)

// Gate asks the confirm webhooks of st's experiment whose type is gate
// (RunnerConfig.Gate): it posts each the json payload, event gate, and
// waits for its answer, trying again as the webhook's retries allow on a
// transport error, a timeout or a 5xx (never past ctx). Every one
// answering 2xx is nil; otherwise the error names each webhook that did
// not and what it answered, and the runner holds the step. An experiment
// with no such webhook passes.
//
// The first hold at a gate makes a "held" event for the notify webhooks
// and a record in the history; the hold ending (2xx) records too. Gate
// must not be called with the runner's lock held, as RunnerConfig.Gate
// never is.
func (n *Notifier) Gate(ctx context.Context, st analysis.State, gate analysis.GateKind) error {
	var errs []error
	now := n.opts.Now()
	p := NewPayload(string(gate), &st, now)
	data, err := body(policy.FormatJSON, p)
	if err != nil {
		return fmt.Errorf("%s gate: encoding the payload: %w", gate, err)
	}
	for _, h := range st.Spec.Webhooks {
		if h.Type != string(gate) {
			continue
		}
		attempts, _, err := n.post(ctx, h, data)
		if err != nil {
			verb := ":"
			var se *statusError
			if errors.As(err, &se) {
				verb = " answered"
			}
			errs = append(errs, fmt.Errorf("webhook %q%s %w (after %s)", h.Name, verb, err, plural(attempts, "attempt")))
		}
	}
	err = errors.Join(errs...)
	n.gateResult(&st, gate, err)
	return err
}

// gateResult records a gate's hold when it starts or changes, and its
// end, and tells the notify webhooks of a new hold.
func (n *Notifier) gateResult(st *analysis.State, gate analysis.GateKind, err error) {
	n.mu.Lock()
	last, wasHeld := n.held[st.Experiment][gate]
	var msg string
	switch {
	case err != nil:
		msg = err.Error()
		if n.held[st.Experiment] == nil {
			n.held[st.Experiment] = map[analysis.GateKind]string{}
		}
		n.held[st.Experiment][gate] = msg
		if !wasHeld && !n.closed {
			held := *st
			held.Reason = fmt.Sprintf("held by the %s gate: %s", gate, msg)
			n.enqueueLocked(NewPayload(policy.EventHeld, &held, n.opts.Now()), st.Spec.Webhooks)
		}
	case wasHeld:
		delete(n.held[st.Experiment], gate)
	}
	n.mu.Unlock()

	action := "gate:" + string(gate)
	switch {
	case err != nil && (!wasHeld || last != msg):
		n.record(st.Experiment, analysis.HistoryEntry{Action: action, Result: "held: " + msg})
	case err == nil && wasHeld:
		n.record(st.Experiment, analysis.HistoryEntry{Action: action, Result: "confirmed"})
	}
}
