package analysis

import (
	"context"
	"fmt"
	"maps"
	"reflect"
	"sync"
	"time"
)

// Leadership. Several replicas may serve the same sources; one of them,
// elected, runs the experiments and saves their states, and the others
// follow: they serve the model with the states the leader saved, so that
// every proxy gets the same weights from whichever replica it talks to.
//
//   - A runner made with RunnerConfig.Follower starts following. SetStates
//     gives it the states in the store (a watch on it); it checks them as
//     it checks states read at start (decision 0014), serves them, and
//     publishes when what is served changes.
//   - Lead, when the replica is elected, reads every state from the store
//     again and runs the model's experiments from their saved steps, as a
//     restart does.
//   - Follow, when the replica loses the election (or Lead's context
//     ends), stops every experiment at once and waits for them: after it
//     returns, this runner saves and publishes no decision.
//
// A runner made without Follower leads from the start and never needs
// these: that is the single process with --state-dir.

// savedStates are states as a StateStore reads them.
type savedStates struct {
	states  map[string]*State
	invalid map[string]error
}

// leadRetry is how long Lead waits before reading the store again after
// it could not.
const leadRetry = 2 * time.Second

// SetStates gives a follower the states saved in the store, as LoadAll
// returns them (invalid: the states that cannot be their experiment's,
// with why), typically from a watch on the store each time they change.
// They replace the runner's states; each is checked, held if invalid, and
// served once checked against the model, exactly as states read at start
// are. The effective model is published when what is served changed.
//
// A leader keeps its own states; the last states given are taken when it
// follows again (Follow). The runner keeps the maps; the caller must not
// change them after the call.
func (r *Runner) SetStates(ctx context.Context, states map[string]*State, invalid map[string]error) error {
	r.mu.Lock()
	r.saved = &savedStates{states: states, invalid: invalid}
	if r.leading {
		r.mu.Unlock()
		return nil
	}
	changed := r.takeStatesLocked(r.saved)
	publish := changed && r.modelSet
	r.mu.Unlock()
	if !publish {
		return nil
	}
	return r.publish(ctx, "")
}

// Lead makes the runner the leader under ctx: it reads every state from
// the store again (they may have moved since SetStates last said), then
// runs the model's experiments, each resuming at its saved step, and
// publishes. If the store cannot be read it says so and tries again every
// leadRetry, leading nothing meanwhile, until ctx ends.
//
// The leadership ends when ctx does (the runner then follows, as after
// Follow) or at Follow, whichever comes first. It returns ctx's error if
// ctx ended before it could lead.
func (r *Runner) Lead(ctx context.Context) error {
	var saved savedStates
	for {
		states, invalid, err := r.cfg.Store.LoadAll()
		if err == nil {
			saved = savedStates{states: states, invalid: invalid}
			break
		}
		r.cfg.Log.Error("elected, but the experiments' states cannot be read: running no experiment until they can", "error", err, "retry", leadRetry)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-r.cfg.After(leadRetry):
		}
	}
	r.mu.Lock()
	if err := ctx.Err(); err != nil {
		r.mu.Unlock()
		return err
	}
	if r.leading {
		r.mu.Unlock()
		return fmt.Errorf("analysis: Lead while leading")
	}
	r.takeStatesLocked(&saved)
	r.leading, r.ctx = true, ctx
	r.term++
	term := r.term
	r.loops = &sync.WaitGroup{}
	modelSet := r.modelSet
	var unfinished []pendingWrite
	if modelSet {
		r.applyModelLocked()
		unfinished = r.takeUnfinishedWriteBacksLocked()
	}
	r.mu.Unlock()
	context.AfterFunc(ctx, func() { r.follow(term) })
	r.cfg.Log.Info("leading: running the experiments from their saved steps", "experiments", len(saved.states)+len(saved.invalid))
	if !modelSet {
		return nil // the first SetModel starts them
	}
	err := r.publish(ctx, "")
	r.finishWriteBacks(unfinished)
	return err
}

// Follow ends the leadership, if the runner leads: it stops every
// experiment at once and returns once they have all stopped, so that
// nothing is saved or published for them after it. The runner then
// serves the states last given by SetStates, if any (else the ones it
// had), and publishes them if they differ.
func (r *Runner) Follow() {
	r.mu.Lock()
	term := r.term
	r.mu.Unlock()
	r.follow(term)
}

// follow ends leadership term, if it is still the current one.
func (r *Runner) follow(term uint64) {
	r.mu.Lock()
	if r.term != term {
		r.mu.Unlock()
		return
	}
	loops := r.loops
	if r.leading {
		r.leading, r.ctx = false, nil
		for name := range r.cancels {
			r.stopLocked(name)
		}
		r.cfg.Log.Info("following: experiments stopped; the leader's states are served")
	}
	r.mu.Unlock()
	loops.Wait()

	r.mu.Lock()
	if r.term != term || r.leading || r.saved == nil {
		r.mu.Unlock()
		return
	}
	publish := r.takeStatesLocked(r.saved) && r.modelSet
	r.mu.Unlock()
	if publish {
		if err := r.publish(context.Background(), ""); err != nil {
			r.cfg.Log.Error("publishing the leader's states", "error", err)
		}
	}
}

// followModelLocked serves r.model with the states taken: each is checked
// against it again, as at start, since the model may have made its
// experiment a new one (the leader will restart it; until then its state
// is not served). Called by a follower, with r.mu.
func (r *Runner) followModelLocked() {
	for name := range r.states {
		r.loaded[name] = true
	}
	r.checkLoadedLocked(r.model)
}

// takeStatesLocked makes saved the runner's states. Each one is checked
// as one read at start is: a state that cannot be its experiment's is
// held, and each is served only once checked against the model
// (checkLoadedLocked). It reports whether what is served changed. Called
// with r.mu.
func (r *Runner) takeStatesLocked(saved *savedStates) bool {
	before := r.servedRoutesLocked()
	prev := r.states
	states := make(map[string]*State, len(saved.states)+len(saved.invalid))
	for name, st := range saved.states {
		if err := st.CheckSaved(name); err != nil {
			// Stores check this already; a state given from elsewhere
			// is held all the same.
			err = fmt.Errorf("%s: %w", r.cfg.Store.Where(name), err)
			r.logHeldLocked(name, err)
			states[name] = held(name, err, r.cfg.Now())
			continue
		}
		cp := *st
		states[name] = &cp
	}
	// A state that cannot be its experiment's holds the experiment: it is
	// neither served nor silently replaced by a new start.
	for name, err := range saved.invalid {
		r.logHeldLocked(name, err)
		states[name] = held(name, err, r.cfg.Now())
	}
	r.states = states
	r.loaded = make(map[string]bool, len(states))
	for name := range states {
		r.loaded[name] = true
	}
	for name := range r.heldLogged {
		if st := states[name]; st == nil || st.invalid == "" {
			delete(r.heldLogged, name)
		}
	}
	if r.modelSet {
		r.checkLoadedLocked(r.model)
	}
	for name, st := range r.states {
		if p := prev[name]; p == nil || !reflect.DeepEqual(*p, *st) {
			r.notifyLocked(st)
		}
	}
	return !maps.EqualFunc(before, r.servedRoutesLocked(), func(a, b Route) bool { return reflect.DeepEqual(a, b) })
}

// servedRoutesLocked is each served state's route.
func (r *Runner) servedRoutesLocked() map[string]Route {
	out := map[string]Route{}
	for name, st := range r.servedLocked(r.model) {
		out[name] = st.Route
	}
	return out
}

// logHeldLocked logs that experiment name is held for err, once for each
// reason: a follower takes the same invalid state at every change.
func (r *Runner) logHeldLocked(name string, err error) {
	if r.heldLogged[name] == err.Error() {
		return
	}
	r.heldLogged[name] = err.Error()
	r.cfg.Log.Error("experiment state invalid: the experiment is held, its route follows the policy, and the saved state is left as it is", "experiment", name, "error", err)
}
