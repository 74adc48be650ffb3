package analysis

import (
	"time"

	"github.com/shadowplane/shadowplane/policy"
)

// A promotion that writes itself back into the policy file is two acts:
// the promotion, saved with the experiment's state, and the write-back,
// which edits the file afterwards. A stop between the two (a crash, a
// lost Lease) would leave the promotion standing only for as long as the
// experiment stays in the policy, with nothing saying the write never
// happened. So the promotion is saved with a "writeback" event whose
// result is pending, and the write-back records its result after it; a
// leader that finds a loaded state's last write-back still pending runs
// it then, once, and records why.

// writeBackAction is the Action of write-back events.
const writeBackAction = "writeback"

// writeBackPending is the Result of the write-back event saved with the
// promotion, until the write-back records its own.
const writeBackPending = "pending"

// withWriteBackPending is events with a pending write-back at now.
func withWriteBackPending(events []HistoryEntry, now time.Time) []HistoryEntry {
	return appendEvent(events, HistoryEntry{Time: now, Action: writeBackAction, Result: writeBackPending})
}

// writeBackUnfinished reports whether st's last write-back event is
// still pending.
func writeBackUnfinished(st *State) bool {
	for i := len(st.Events) - 1; i >= 0; i-- {
		if st.Events[i].Action == writeBackAction {
			return st.Events[i].Result == writeBackPending
		}
	}
	return false
}

// pendingWrite is a write-back to finish.
type pendingWrite struct {
	name string
	spec policy.Experiment
	st   State
}

// takeUnfinishedWriteBacksLocked returns the write-backs that states
// left pending and no one is running, each once: running it records its
// result, and until then it is not taken again. Called by the leader,
// with r.mu, after applyModelLocked.
func (r *Runner) takeUnfinishedWriteBacksLocked() []pendingWrite {
	var out []pendingWrite
	for name, st := range r.states {
		promoted := st.Winner != "" && st.Route.Weights()[st.Winner] == 100
		if st.invalid != "" || st.Stage != Completed || !promoted || r.finishing[name] || !writeBackUnfinished(st) {
			continue
		}
		r.finishingLocked(name)
		cp := *st
		out = append(out, pendingWrite{name: name, spec: st.Spec, st: cp})
	}
	return out
}

// finishingLocked marks the write-back of experiment name as running,
// so that takeUnfinishedWriteBacksLocked leaves it alone. Called with
// r.mu, in the critical section that saves the pending event.
func (r *Runner) finishingLocked(name string) {
	if r.finishing == nil {
		r.finishing = map[string]bool{}
	}
	r.finishing[name] = true
}

// finishWriteBacks runs the write-backs taken by
// takeUnfinishedWriteBacksLocked. Called without r.mu.
func (r *Runner) finishWriteBacks(ws []pendingWrite) {
	for _, w := range ws {
		r.cfg.Log.Warn("finishing the write-back of a promotion: the control plane stopped before it was done", "experiment", w.name)
		r.writeBack(w.name, &w.spec, w.st, "finished after a restart: the write-back saved with the promotion had not run")
	}
}
