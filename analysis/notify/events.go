package notify

import (
	"maps"
	"time"

	"github.com/shadowplane/shadowplane/analysis"
	"github.com/shadowplane/shadowplane/policy"
)

// seen is what the Notifier keeps of the last state it observed of an
// experiment: enough to tell what changed, and nothing shared with the
// runner.
type seen struct {
	stage     analysis.Stage
	startedAt time.Time
	weights   map[string]uint32
}

func seenOf(st *analysis.State) *seen {
	return &seen{stage: st.Stage, startedAt: st.StartedAt, weights: st.Route.Weights()}
}

// Events are the webhook events (policy.EventStarted, ...) that the change
// from prev to next makes, in order. A nil prev is the first state seen:
// after a restart of shadowplane, an experiment already under way makes
// no event; only a fresh one (no look yet) makes "started".
func Events(prev, next *analysis.State) []string {
	var p *seen
	if prev != nil {
		p = seenOf(prev)
	}
	return events(p, next)
}

func events(prev *seen, next *analysis.State) []string {
	if next.Stage == analysis.Running {
		fresh := prev == nil && len(next.History) == 0
		restarted := prev != nil && (!prev.startedAt.Equal(next.StartedAt) || prev.stage.Ended())
		if fresh || restarted {
			return []string{policy.EventStarted}
		}
	}
	if prev == nil {
		return nil
	}
	moved := !maps.Equal(prev.weights, next.Route.Weights())
	if prev.stage == next.Stage {
		if next.Stage == analysis.Running && moved {
			return []string{policy.EventStep}
		}
		return nil
	}
	switch next.Stage {
	case analysis.Running:
		if moved {
			return []string{policy.EventStep}
		}
	case analysis.Paused:
		return []string{policy.EventPaused}
	case analysis.WaitingApproval:
		return []string{policy.EventHeld}
	case analysis.Completed:
		if next.Winner != "" && next.Route.Weights()[next.Winner] == 100 {
			return []string{policy.EventPromoted}
		}
		return []string{policy.EventCompleted}
	case analysis.RolledBack:
		if n := len(next.Events); n > 0 && next.Events[n-1].Action == string(analysis.ActionAbort) {
			return []string{policy.EventAborted}
		}
		return []string{policy.EventRolledBack}
	case analysis.Failed, analysis.Halted:
		return []string{policy.EventFailed}
	}
	return nil
}
