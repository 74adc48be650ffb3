package analysis

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/shadowplane/shadowplane/policy"
)

// controlRunner is a leading runner on the file store in dir, started,
// with the RunnerConfig changed by with; its goroutines are stopped
// before dir is removed.
func controlRunner(t *testing.T, dir string, obs Observer, pub Publisher, with func(*RunnerConfig)) *Runner {
	t.Helper()
	store, err := NewStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	cfg := RunnerConfig{Store: store, Observer: obs, Publisher: pub}
	if with != nil {
		with(&cfg)
	}
	r, err := NewRunner(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.Start(ctx)
	t.Cleanup(func() {
		cancel()
		r.Wait()
	})
	return r
}

// only is the only experiment's state.
func only(t *testing.T, r *Runner) State {
	t.Helper()
	sts := r.States()
	if len(sts) != 1 {
		t.Fatalf("%d experiments, want 1", len(sts))
	}
	return sts[0]
}

// slowModel is segmentModel with ten iterations, so that the canary is
// still running when a test acts on it.
func slowModel() *policy.Model {
	m := segmentModel(time.Second)
	m.Experiments[0].Iterations = 10
	return m
}

func stateFile(t *testing.T, dir string) []byte {
	t.Helper()
	b, err := os.ReadFile(dir + "/wakanda" + stateSuffix)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func lastEvent(st State) HistoryEntry {
	if len(st.Events) == 0 {
		return HistoryEntry{}
	}
	return st.Events[len(st.Events)-1]
}

// Pause freezes the weights and the judgement; resume judges again with a
// fresh window, and the canary goes on to its promotion.
func TestControlPauseAndResume(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		pub := &recorder{}
		r := controlRunner(t, dir, constant(healthy(5000)), pub, nil)
		r.SetModel(t.Context(), slowModel())
		for only(t, r).Iteration < 1 {
			time.Sleep(time.Second)
		}
		synctest.Wait()
		st, err := r.Control(t.Context(), "wakanda", ActionPause, ControlOptions{By: "alice", Reason: "checking a dashboard"})
		if err != nil {
			t.Fatal(err)
		}
		if st.Stage != Paused || !strings.Contains(st.Reason, "paused by alice: checking a dashboard") {
			t.Fatalf("after pause: %s %q", st.Stage, st.Reason)
		}
		if e := lastEvent(st); e.Action != "pause" || e.By != "alice" || e.Reason != "checking a dashboard" || e.Time.IsZero() {
			t.Fatalf("event %+v, want the pause with who and why", e)
		}
		if !bytes.Contains(stateFile(t, dir), []byte(`"stage": "Paused"`)) {
			t.Fatal("the pause is not in the state file")
		}
		weights, iteration := st.Route.Weights(), st.Iteration
		time.Sleep(20 * time.Second)
		synctest.Wait()
		if now := only(t, r); now.Stage != Paused || now.Iteration != iteration || now.Route.Weights()["v2"] != weights["v2"] {
			t.Fatalf("paused experiment moved: %s iteration %d weights %v, want %d %v", now.Stage, now.Iteration, now.Route.Weights(), iteration, weights)
		}
		if w, _ := lastServed(pub); w["v2"] != weights["v2"] {
			t.Fatalf("served %v while paused, want the frozen %v", w, weights)
		}

		resumedAt := time.Now()
		st, err = r.Control(t.Context(), "wakanda", ActionResume, ControlOptions{By: "alice"})
		if err != nil {
			t.Fatal(err)
		}
		if st.Stage != Running {
			t.Fatalf("after resume: %s", st.Stage)
		}
		synctest.Wait()
		if ws := only(t, r).WindowStart; ws.Before(resumedAt) {
			t.Fatalf("window starts %s, before the resume at %s: want a fresh window", ws, resumedAt)
		}
		done := waitStage(t, r, Completed, time.Second)
		if done.Route.Weights()["v2"] != 100 || len(done.Events) != 2 {
			t.Fatalf("completed at %v with events %+v", done.Route.Weights(), done.Events)
		}
	})
}

// A pause from onInconclusive is a pause like any other: resume judges
// again.
func TestResumeAfterAnInconclusivePause(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := controlRunner(t, t.TempDir(), constant(healthy(10)), &recorder{}, nil)
		m := segmentModel(time.Second)
		m.Experiments[0].MaxStepDuration = 5 * time.Second
		r.SetModel(t.Context(), m)
		waitStage(t, r, Paused, time.Second)
		st, err := r.Control(t.Context(), "wakanda", ActionResume, ControlOptions{By: "bob"})
		if err != nil || st.Stage != Running {
			t.Fatalf("resume: %s %v", st.Stage, err)
		}
		// Still too little traffic: a fresh maxStepDuration, then paused
		// again.
		st = waitStage(t, r, Paused, time.Second)
		if !strings.Contains(st.Reason, "maxStepDuration") {
			t.Fatalf("paused again for %q", st.Reason)
		}
	})
}

// Abort rolls back at once, and retry starts a new run from the policy's
// weights, keeping the history.
func TestControlAbortThenRetry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		pub := &recorder{}
		r := controlRunner(t, dir, constant(healthy(5000)), pub, nil)
		r.SetModel(t.Context(), slowModel())
		for only(t, r).Iteration < 1 {
			time.Sleep(time.Second)
		}
		synctest.Wait()
		st, err := r.Control(t.Context(), "wakanda", ActionAbort, ControlOptions{By: "carol", Reason: "pager"})
		if err != nil {
			t.Fatal(err)
		}
		if st.Stage != RolledBack || st.Route.Weights()["v2"] != 0 || st.Route.Weights()["v1"] != 100 {
			t.Fatalf("after abort: %s %v", st.Stage, st.Route.Weights())
		}
		if !strings.HasPrefix(st.Reason, "aborted by carol: pager") || st.History[len(st.History)-1].Action != RollBack {
			t.Fatalf("reason %q, last record %+v", st.Reason, st.History[len(st.History)-1])
		}
		if w, _ := lastServed(pub); w["v2"] != 0 {
			t.Fatalf("served %v after the abort, want v2 0", w)
		}
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if now := only(t, r); now.Stage != RolledBack {
			t.Fatalf("aborted experiment went on: %s", now.Stage)
		}
		records := len(st.History)

		st, err = r.Control(t.Context(), "wakanda", ActionRetry, ControlOptions{By: "carol"})
		if err != nil {
			t.Fatal(err)
		}
		if st.Stage != Running || st.Iteration != 0 || st.Route.Weights()["v2"] != 20 {
			t.Fatalf("after retry: %s iteration %d %v, want a new run at the first step", st.Stage, st.Iteration, st.Route.Weights())
		}
		if len(st.Events) != 2 || st.Events[0].Action != "abort" || st.Events[1].Action != "retry" || len(st.History) != records {
			t.Fatalf("retry lost the history: events %+v, %d records (want %d)", st.Events, len(st.History), records)
		}
		waitStage(t, r, Completed, time.Second)
	})
}

// Promote skips the remaining steps, and writes back when asked: once,
// with the final weights.
func TestControlPromoteWritesBack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		var written []map[string]uint32
		r := controlRunner(t, t.TempDir(), constant(healthy(5000)), &recorder{}, func(c *RunnerConfig) {
			c.WriteBack = func(e *policy.Experiment, st State) error {
				mu.Lock()
				defer mu.Unlock()
				written = append(written, st.Route.Weights())
				return nil
			}
		})
		r.SetModel(t.Context(), slowModel())
		synctest.Wait()
		st, err := r.Control(t.Context(), "wakanda", ActionPromote, ControlOptions{By: "dan", Write: true})
		if err != nil {
			t.Fatal(err)
		}
		if st.Stage != Completed || st.Winner != "v2" || st.Route.Weights()["v2"] != 100 || st.Iteration != 0 {
			t.Fatalf("after promote: %s winner %q %v iteration %d", st.Stage, st.Winner, st.Route.Weights(), st.Iteration)
		}
		time.Sleep(10 * time.Second)
		synctest.Wait()
		mu.Lock()
		defer mu.Unlock()
		if len(written) != 1 || written[0]["v2"] != 100 || written[0]["v1"] != 0 {
			t.Fatalf("write-back called with %v, want once with v2 100", written)
		}
		if e := lastEvent(only(t, r)); e.Action != "writeback" || e.Result != "ok" {
			t.Fatalf("last event %+v, want the write-back recorded", e)
		}
	})
}

// writeBack: true writes the experiment's own promotion back, once; a
// failing write-back is recorded and the promotion stands.
func TestPromotionWritesBackWhenTheExperimentSaysSo(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var calls int
		r := controlRunner(t, t.TempDir(), constant(healthy(5000)), &recorder{}, func(c *RunnerConfig) {
			c.WriteBack = func(e *policy.Experiment, st State) error {
				calls++
				if !e.WriteBack || st.Route.Weights()["v2"] != 100 {
					t.Errorf("write-back of %v (writeBack %v)", st.Route.Weights(), e.WriteBack)
				}
				return errors.New("policy file is read-only")
			}
		})
		m := segmentModel(time.Second)
		m.Experiments[0].WriteBack = true
		r.SetModel(t.Context(), m)
		st := waitStage(t, r, Completed, time.Second)
		synctest.Wait()
		st = only(t, r)
		if calls != 1 {
			t.Fatalf("write-back called %d times, want 1", calls)
		}
		if e := lastEvent(st); e.Action != "writeback" || !strings.Contains(e.Result, "read-only") || st.Route.Weights()["v2"] != 100 {
			t.Fatalf("event %+v, weights %v: want the failure recorded and the promotion standing", e, st.Route.Weights())
		}
	})
}

// A control that does not apply changes nothing, not even the file.
func TestControlsThatDoNotApplyChangeNothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		r := controlRunner(t, dir, constant(healthy(5000)), &recorder{}, nil)
		r.SetModel(t.Context(), slowModel())
		synctest.Wait()
		check := func(a Action, want error) {
			t.Helper()
			before, state := stateFile(t, dir), only(t, r)
			_, err := r.Control(t.Context(), "wakanda", a, ControlOptions{By: "eve"})
			if !errors.Is(err, want) {
				t.Fatalf("%s on %s: %v, want %v", a, state.Stage, err, want)
			}
			if !bytes.Equal(before, stateFile(t, dir)) {
				t.Fatalf("%s on %s changed the state file", a, state.Stage)
			}
			if after := only(t, r); after.Stage != state.Stage || after.Reason != state.Reason || len(after.Events) != len(state.Events) {
				t.Fatalf("%s on %s changed the state", a, state.Stage)
			}
		}
		for _, a := range []Action{ActionResume, ActionApprove, ActionRetry, "explode"} {
			check(a, ErrNotApplicable)
		}
		if _, err := r.Control(t.Context(), "nope", ActionPause, ControlOptions{}); !errors.Is(err, ErrUnknownExperiment) || !strings.Contains(err.Error(), `"nope"`) {
			t.Fatalf("unknown experiment: %v", err)
		}
		_, err := r.Control(t.Context(), "wakanda", ActionResume, ControlOptions{})
		if err.Error() != "resume: experiment is Running, not paused" {
			t.Errorf("message %q", err)
		}
		if _, err := r.Control(t.Context(), "wakanda", ActionPause, ControlOptions{}); err != nil {
			t.Fatal(err)
		}
		for _, a := range []Action{ActionPause, ActionApprove, ActionRetry} {
			check(a, ErrNotApplicable)
		}
		if _, err := r.Control(t.Context(), "wakanda", ActionAbort, ControlOptions{}); err != nil {
			t.Fatal(err)
		}
		for _, a := range []Action{ActionPause, ActionResume, ActionApprove, ActionAbort, ActionPromote} {
			check(a, ErrNotApplicable)
		}
	})
}

// A control is saved before it acts: a new runner on the same store finds
// the experiment paused, keeps it paused, and can resume it.
func TestControlSurvivesARestart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		store, err := NewStore(dir)
		if err != nil {
			t.Fatal(err)
		}
		r, err := NewRunner(RunnerConfig{Store: store, Observer: constant(healthy(5000)), Publisher: &recorder{}})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		r.Start(ctx)
		m := slowModel()
		r.SetModel(ctx, m)
		for only(t, r).Iteration < 1 {
			time.Sleep(time.Second)
		}
		paused, err := r.Control(ctx, "wakanda", ActionPause, ControlOptions{By: "frank", Reason: "night"})
		if err != nil {
			t.Fatal(err)
		}
		cancel()
		r.Wait()

		pub := &recorder{}
		again := controlRunner(t, dir, constant(healthy(5000)), pub, nil)
		if got := wakanda(again.Effective(m)); got["v2"] != paused.Route.Weights()["v2"] {
			t.Fatalf("after restart serves %v, want the paused %v", got, paused.Route.Weights())
		}
		again.SetModel(t.Context(), m)
		time.Sleep(10 * time.Second)
		synctest.Wait()
		st := only(t, again)
		if st.Stage != Paused || st.Iteration != paused.Iteration || lastEvent(st).By != "frank" {
			t.Fatalf("after restart: %s iteration %d events %+v, want still paused by frank", st.Stage, st.Iteration, st.Events)
		}
		if _, err := again.Control(t.Context(), "wakanda", ActionResume, ControlOptions{}); err != nil {
			t.Fatal(err)
		}
		waitStage(t, again, Completed, time.Second)
	})
}

// An approval gate before a weight waits there, with the weights where
// they were, until approve; the held step is then taken at once.
func TestApprovalBeforeAWeight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		r := controlRunner(t, dir, constant(healthy(5000)), &recorder{}, nil)
		m := segmentModel(time.Second)
		m.Experiments[0].Approval = &policy.Approval{BeforeWeight: 60}
		r.SetModel(t.Context(), m)
		st := waitStage(t, r, WaitingApproval, time.Second)
		if st.Gate != "beforeWeight 60" || st.Route.Weights()["v2"] != 40 || st.Held == nil || st.Held.Route.Weights()["v2"] != 60 {
			t.Fatalf("waiting at %q with %v, held %+v", st.Gate, st.Route.Weights(), st.Held)
		}
		time.Sleep(20 * time.Second)
		synctest.Wait()
		if now := only(t, r); now.Stage != WaitingApproval || now.Route.Weights()["v2"] != 40 {
			t.Fatalf("did not wait: %s %v", now.Stage, now.Route.Weights())
		}
		// The wait survives a restart.
		if !bytes.Contains(stateFile(t, dir), []byte(`"stage": "WaitingApproval"`)) {
			t.Fatal("the wait is not saved")
		}
		st, err := r.Control(t.Context(), "wakanda", ActionApprove, ControlOptions{By: "grace"})
		if err != nil {
			t.Fatal(err)
		}
		if st.Stage != Running || st.Route.Weights()["v2"] != 60 || st.Iteration != 2 || st.Gate != "" {
			t.Fatalf("after approve: %s %v iteration %d gate %q", st.Stage, st.Route.Weights(), st.Iteration, st.Gate)
		}
		done := waitStage(t, r, Completed, time.Second)
		if done.Route.Weights()["v2"] != 100 {
			t.Fatalf("completed at %v", done.Route.Weights())
		}
	})
}

// beforePromotion waits before the promotion; approve promotes.
func TestApprovalBeforePromotion(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := controlRunner(t, t.TempDir(), constant(healthy(5000)), &recorder{}, nil)
		m := segmentModel(time.Second)
		m.Experiments[0].Approval = &policy.Approval{BeforePromotion: true}
		r.SetModel(t.Context(), m)
		st := waitStage(t, r, WaitingApproval, time.Second)
		if st.Gate != "beforePromotion" || st.Route.Weights()["v2"] == 100 {
			t.Fatalf("waiting at %q with %v", st.Gate, st.Route.Weights())
		}
		st, err := r.Control(t.Context(), "wakanda", ActionApprove, ControlOptions{By: "heidi"})
		if err != nil {
			t.Fatal(err)
		}
		if st.Stage != Completed || st.Route.Weights()["v2"] != 100 || !slicesContains(st.Approved, "beforePromotion") {
			t.Fatalf("after approve: %s %v approved %v", st.Stage, st.Route.Weights(), st.Approved)
		}
	})
}

func slicesContains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// A Gate hook's error holds the step, asked again each look, and the step
// proceeds once it answers nil. It is never asked with the lock held.
func TestGateHookHoldsTheStep(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		open := false
		var asked []GateKind
		var r *Runner
		r = controlRunner(t, t.TempDir(), constant(healthy(5000)), &recorder{}, func(c *RunnerConfig) {
			c.Gate = func(ctx context.Context, st State, g GateKind) error {
				if !r.mu.TryLock() {
					t.Error("gate asked with the runner's lock held")
				} else {
					r.mu.Unlock()
				}
				mu.Lock()
				defer mu.Unlock()
				asked = append(asked, g)
				if !open {
					return errors.New("confirm-step webhook answered 503")
				}
				return nil
			}
		})
		r.SetModel(t.Context(), segmentModel(time.Second))
		time.Sleep(5500 * time.Millisecond)
		synctest.Wait()
		st := only(t, r)
		if st.Stage != Running || st.Route.Weights()["v2"] != 20 || !strings.Contains(st.Reason, "answered 503") {
			t.Fatalf("with the gate closed: %s %v %q", st.Stage, st.Route.Weights(), st.Reason)
		}
		mu.Lock()
		if len(asked) < 3 || asked[0] != GateStep {
			t.Fatalf("asked %v, want the step gate at every look", asked)
		}
		open = true
		mu.Unlock()
		done := waitStage(t, r, Completed, time.Second)
		mu.Lock()
		defer mu.Unlock()
		if done.Route.Weights()["v2"] != 100 || asked[len(asked)-1] != GatePromotion {
			t.Fatalf("completed %v, gates asked %v", done.Route.Weights(), asked)
		}
	})
}

// A follower refuses every control and record: only the leader acts.
func TestFollowerRefusesControls(t *testing.T) {
	dir := t.TempDir()
	leader := newTestRunner(t, dir, constant(healthy(5000)), &recorder{})
	leader.SetModel(t.Context(), segmentModel(time.Hour))
	// The leader steps down: its loop would otherwise go on saving (the
	// step's window opening on the ACK) while the follower is checked.
	leader.Follow()
	leader.Wait()
	f, store := newFollower(t, dir, constant(healthy(5000)), &recorder{})
	states, invalid, err := store.LoadAll()
	if err != nil {
		t.Fatal(err)
	}
	f.SetStates(t.Context(), states, invalid)
	f.cfg.Leader = func() string { return "replica-0" }
	before := stateFile(t, dir)
	for _, a := range Actions {
		if _, err := f.Control(t.Context(), "wakanda", a, ControlOptions{}); !errors.Is(err, ErrNotLeader) || !strings.Contains(err.Error(), "replica-0") {
			t.Fatalf("%s on a follower: %v, want ErrNotLeader naming the leader", a, err)
		}
	}
	if err := f.Record("wakanda", HistoryEntry{Action: "webhook:started"}); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("record on a follower: %v", err)
	}
	if !bytes.Equal(before, stateFile(t, dir)) {
		t.Fatal("a follower changed the state file")
	}
}

// Record appends to the events, saved, and keeps the last maxEvents.
func TestRecordIsBounded(t *testing.T) {
	dir := t.TempDir()
	r := newTestRunner(t, dir, constant(healthy(5000)), &recorder{})
	r.SetModel(t.Context(), segmentModel(time.Hour))
	for i := range maxEvents + 5 {
		if err := r.Record("wakanda", HistoryEntry{Action: "webhook:step", Result: strings.Repeat("x", i%3)}); err != nil {
			t.Fatal(err)
		}
	}
	st := only(t, r)
	if len(st.Events) != maxEvents || st.Events[0].Time.IsZero() {
		t.Fatalf("%d events, want %d, timed", len(st.Events), maxEvents)
	}
	if !bytes.Contains(stateFile(t, dir), []byte("webhook:step")) {
		t.Fatal("the record is not saved")
	}
	if err := r.Record("nope", HistoryEntry{Action: "x"}); !errors.Is(err, ErrUnknownExperiment) {
		t.Fatalf("record of an unknown experiment: %v", err)
	}
}

// crashingStore is a Store that saves nothing once crashed is set: what
// is on disk is what a process killed at that moment would leave.
type crashingStore struct {
	*Store
	crashed *bool
}

func (s crashingStore) Save(st *State) error {
	if *s.crashed {
		return errors.New("the process is gone")
	}
	return s.Store.Save(st)
}

// A promotion saved but not yet written back when the control plane
// stops is written back by the next leader, once, and recorded as such.
func TestWriteBackInterruptedByAStopIsFinishedOnRestart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		store, err := NewStore(dir)
		if err != nil {
			t.Fatal(err)
		}
		crashed := false
		first, err := NewRunner(RunnerConfig{Store: crashingStore{store, &crashed}, Observer: constant(healthy(5000)), Publisher: &recorder{},
			WriteBack: func(*policy.Experiment, State) error {
				crashed = true // killed as the write-back starts: the file is never written
				return errors.New("killed")
			}})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		first.Start(ctx)
		m := segmentModel(time.Second)
		m.Experiments[0].WriteBack = true
		first.SetModel(ctx, m)
		waitStage(t, first, Completed, time.Second)
		synctest.Wait()
		cancel()
		first.Wait()
		saved := func() *State {
			t.Helper()
			sts, _, err := store.LoadAll()
			if err != nil || sts["wakanda"] == nil {
				t.Fatalf("loading the saved state: %v, %v", sts, err)
			}
			return sts["wakanda"]
		}
		if st := saved(); !crashed || st.Stage != Completed || !writeBackUnfinished(st) {
			t.Fatalf("test setup: the saved promotion should carry a pending write-back:\n%s", stateFile(t, dir))
		}

		var written []map[string]uint32
		again := controlRunner(t, dir, constant(healthy(5000)), &recorder{}, func(c *RunnerConfig) {
			c.WriteBack = func(e *policy.Experiment, st State) error {
				written = append(written, st.Route.Weights())
				return nil
			}
		})
		again.SetModel(t.Context(), m)
		again.SetModel(t.Context(), m) // taken once, not again
		synctest.Wait()
		if len(written) != 1 || written[0]["v2"] != 100 {
			t.Fatalf("write-backs after the restart: %v, want one with v2 at 100", written)
		}
		e := lastEvent(only(t, again))
		if e.Action != "writeback" || e.Result != "ok" || !strings.Contains(e.Reason, "finished after a restart") {
			t.Fatalf("last event %+v, want the write-back finished and saying why", e)
		}
		if writeBackUnfinished(saved()) {
			t.Fatalf("the state file still has the write-back pending:\n%s", stateFile(t, dir))
		}
	})
}

// A write-back whose result cannot be recorded is not run again by the
// same leader at every policy change: the state still says pending, for
// the next leader, and this one knows it ran it.
func TestWriteBackNotRerunWhenItsResultCannotBeRecorded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store, err := NewStore(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		failing := false
		calls := 0
		r, err := NewRunner(RunnerConfig{Store: crashingStore{store, &failing}, Observer: constant(healthy(5000)), Publisher: &recorder{},
			WriteBack: func(*policy.Experiment, State) error {
				calls++
				failing = true // the store fails from here on: the result is not recorded
				return nil
			}})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		defer func() { cancel(); r.Wait() }()
		r.Start(ctx)
		m := segmentModel(time.Second)
		m.Experiments[0].WriteBack = true
		r.SetModel(ctx, m)
		waitStage(t, r, Completed, time.Second)
		synctest.Wait()
		for range 3 {
			r.SetModel(ctx, m)
		}
		synctest.Wait()
		if calls != 1 {
			t.Fatalf("write-back ran %d times, want once", calls)
		}
		if !writeBackUnfinished(new(only(t, r))) {
			t.Fatal("the unrecorded write-back should still show pending")
		}
	})
}
