package analysis

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/shadowplane/shadowplane/policy"
)

// newFollower returns a runner that follows, on a store in dir; its
// goroutines are stopped before the test's directory is removed.
func newFollower(t *testing.T, dir string, obs Observer, pub Publisher) (*Runner, *Store) {
	t.Helper()
	store, err := NewStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewRunner(RunnerConfig{Store: store, Observer: obs, Publisher: pub, Follower: true})
	if err != nil {
		t.Fatal(err)
	}
	r.Start(t.Context()) // does nothing for a follower, as serve calls it
	t.Cleanup(func() {
		r.Follow()
		r.Wait()
	})
	return r, store
}

// lastServed is the wakanda weights served last, and how many models were
// served.
func lastServed(p *recorder) (map[string]uint32, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.served) == 0 {
		return nil, 0
	}
	return p.served[len(p.served)-1], len(p.served)
}

func stateFiles(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// A follower serves the leader's states as they come, checked as states
// read at start are, and never runs, saves or deletes anything itself.
func TestFollowerServesTheLeadersStates(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := segmentModel(time.Second)
		dir := t.TempDir()
		pub := &recorder{}
		r, _ := newFollower(t, dir, constant(healthy(5000)), pub)
		if err := r.SetModel(t.Context(), m); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Second)
		synctest.Wait()
		// Before the leader's first state, what the leader starts the
		// experiment with: proxies of every replica get the same weights.
		if w, _ := lastServed(pub); fmt.Sprint(w) != fmt.Sprint(started(t, m)) || policyWeights(w) {
			t.Fatalf("a follower with no state serves %v, want what the leader starts with, %v", w, started(t, m))
		}
		if sts := r.States(); len(sts) != 0 {
			t.Fatalf("a follower started experiments: %+v", sts)
		}
		if files := stateFiles(t, dir); len(files) != 0 {
			t.Fatalf("a follower saved %v", files)
		}

		leaders := twoStepsIn(m)
		if err := r.SetStates(t.Context(), map[string]*State{"wakanda": leaders}, nil); err != nil {
			t.Fatal(err)
		}
		w, n := lastServed(pub)
		if w["v2"] != 40 || w["v1"] != 60 {
			t.Fatalf("after the leader's state, served %v, want its v1 60 / v2 40", w)
		}
		if st := r.States()[0]; st.Iteration != 2 || st.Stage != Running {
			t.Fatalf("follower shows %s iteration %d, want the leader's Running iteration 2", st.Stage, st.Iteration)
		}
		// The same states again change nothing served: nothing published.
		if err := r.SetStates(t.Context(), map[string]*State{"wakanda": twoStepsIn(m)}, nil); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if _, again := lastServed(pub); again != n {
			t.Errorf("the same states published again (%d models, want %d)", again, n)
		}
		if st := r.States()[0]; st.Iteration != 2 {
			t.Errorf("a follower moved the experiment on to iteration %d", st.Iteration)
		}
		if files := stateFiles(t, dir); len(files) != 0 {
			t.Fatalf("a follower saved %v", files)
		}

		// States that cannot be served hold the experiment, on the
		// policy's weights, with the reason, as at start.
		sum160 := twoStepsIn(m)
		*sum160.Route.Split[1].Weight = 100
		unknown := twoStepsIn(m)
		unknown.Route.Split[1].Variant = "v3"
		for _, tc := range []struct {
			name    string
			states  map[string]*State
			invalid map[string]error
			want    string
		}{
			{"reported invalid by the store", nil, map[string]error{"wakanda": os.ErrInvalid}, "held: the saved state is invalid (invalid argument)"},
			{"weights that do not sum to 100", map[string]*State{"wakanda": sum160}, nil, "route: weights sum to 160, want 100"},
			{"a variant the app has not", map[string]*State{"wakanda": unknown}, nil, `route: variant "v3" is not a variant of app "sample-app"`},
		} {
			if err := r.SetStates(t.Context(), map[string]*State{"wakanda": twoStepsIn(m)}, nil); err != nil {
				t.Fatal(err)
			}
			if err := r.SetStates(t.Context(), tc.states, tc.invalid); err != nil {
				t.Fatal(err)
			}
			st := r.States()[0]
			if w, _ := lastServed(pub); !policyWeights(w) || st.Stage != Paused || !strings.Contains(st.Reason, tc.want) {
				t.Errorf("%s: serves %v, %s %q; want the policy's weights, held, saying %q", tc.name, w, st.Stage, st.Reason, tc.want)
			}
		}

		// A policy edit that makes the experiment a new one: the leader
		// will restart it; until its new state comes, the old one is not
		// served, the new one's start is.
		if err := r.SetStates(t.Context(), map[string]*State{"wakanda": twoStepsIn(m)}, nil); err != nil {
			t.Fatal(err)
		}
		edited := segmentModel(time.Second)
		edited.Experiments[0].Testing, edited.Experiments[0].Deployment = policy.AB, policy.FixedSplit
		if err := r.SetModel(t.Context(), edited); err != nil {
			t.Fatal(err)
		}
		if w, _ := lastServed(pub); fmt.Sprint(w) != fmt.Sprint(started(t, edited)) {
			t.Errorf("after an identity edit a follower serves %v, want the edited experiment's start %v until the leader's new state", w, started(t, edited))
		}
		// An experiment the leader removed: its state goes.
		if err := r.SetStates(t.Context(), nil, nil); err != nil {
			t.Fatal(err)
		}
		if sts := r.States(); len(sts) != 0 {
			t.Errorf("states %+v after the leader removed them all", sts)
		}
	})
}

// Lead reads the states from the store again (the watch may lag) and
// resumes each experiment at its saved step; it is then the only one that
// saves.
func TestLeadResumesAtTheSavedStep(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := segmentModel(time.Second)
		m.Experiments[0].Iterations = 10
		dir := t.TempDir()
		pub := &recorder{}
		r, store := newFollower(t, dir, constant(healthy(5000)), pub)
		if err := r.SetModel(t.Context(), m); err != nil {
			t.Fatal(err)
		}
		// The watch last said iteration 1, v2 at 20; the old leader has
		// saved iteration 2, v2 at 40, since.
		stale := Start(&m.Experiments[0], &m.Apps[0].Routes[0], t0)
		stale.Iteration = 1
		if err := r.SetStates(t.Context(), map[string]*State{"wakanda": stale}, nil); err != nil {
			t.Fatal(err)
		}
		if err := store.Save(twoStepsIn(m)); err != nil {
			t.Fatal(err)
		}

		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		if err := r.Lead(ctx); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if w, _ := lastServed(pub); w["v2"] != 40 {
			t.Fatalf("the new leader serves %v, want the saved v2 40", w)
		}
		if st := r.States()[0]; st.Iteration != 2 || st.Stage != Running {
			t.Fatalf("the new leader is at %s iteration %d, want Running from the saved iteration 2", st.Stage, st.Iteration)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		states, _, err := store.LoadAll()
		if err != nil {
			t.Fatal(err)
		}
		if st := states["wakanda"]; st.Iteration != 3 || st.Route.Weights()["v2"] != 60 {
			t.Fatalf("after one look the store has iteration %d weights %v, want iteration 3 at v2 60, saved by the leader", st.Iteration, st.Route.Weights())
		}
		if err := r.Lead(ctx); err == nil {
			t.Error("Lead while leading: no error")
		}
	})
}

// blockingObserver holds every look until released, whatever its context
// says: a metrics query that does not notice the leadership ended.
type blockingObserver struct {
	release chan struct{}
	mu      sync.Mutex
	looks   int
}

func (o *blockingObserver) Observe(context.Context, *policy.Experiment, time.Time, time.Time) Observations {
	o.mu.Lock()
	o.looks++
	o.mu.Unlock()
	<-o.release
	return healthy(5000)
}

func (o *blockingObserver) count() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.looks
}

// Follow stops every experiment at once and returns only once they have
// stopped: a look under way when the lease is lost is not saved, and
// nothing is published after Follow returns. The follower then serves the
// states the watch gave last, and can lead again.
func TestFollowStopsEveryExperimentBeforeItReturns(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := segmentModel(time.Second)
		dir := t.TempDir()
		pub := &recorder{}
		obs := &blockingObserver{release: make(chan struct{})}
		r, store := newFollower(t, dir, obs, pub)
		if err := r.SetModel(t.Context(), m); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		if err := r.Lead(ctx); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second) // the first look starts, and blocks
		synctest.Wait()
		if n := obs.count(); n != 1 {
			t.Fatalf("%d looks, want one under way", n)
		}
		path := store.Where("wakanda")
		before, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		// What the watch says meanwhile: the leader's own last save.
		var own State
		if err := json.Unmarshal(before, &own); err != nil {
			t.Fatal(err)
		}
		if err := r.SetStates(t.Context(), map[string]*State{"wakanda": &own}, nil); err != nil {
			t.Fatal(err)
		}

		followed := make(chan struct{})
		go func() {
			r.Follow()
			close(followed)
		}()
		synctest.Wait()
		select {
		case <-followed:
			t.Fatal("Follow returned while a look was still under way")
		default:
		}
		close(obs.release)
		synctest.Wait()
		select {
		case <-followed:
		default:
			t.Fatal("Follow did not return once the look ended")
		}
		_, n := lastServed(pub)
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if after, err := os.ReadFile(path); err != nil || !bytes.Equal(after, before) {
			t.Fatalf("the deposed leader saved its look (%v):\n%s", err, after)
		}
		if _, again := lastServed(pub); again != n {
			t.Fatalf("the deposed leader published %d models after Follow", again-n)
		}
		if n := obs.count(); n != 1 {
			t.Fatalf("%d looks, want none after Follow", n-1)
		}
		if st := r.States()[0]; st.Iteration != 0 || st.Route.Weights()["v2"] != 20 {
			t.Fatalf("the follower shows iteration %d at %v, want the saved first step", st.Iteration, st.Route.Weights())
		}

		// Leading again, and the end of the lease's context, work as the
		// first time.
		ctx2, cancel2 := context.WithCancel(t.Context())
		if err := r.Lead(ctx2); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if st := r.States()[0]; st.Iteration < 1 {
			t.Fatalf("leading again, still at iteration %d", st.Iteration)
		}
		cancel2()
		synctest.Wait()
		saved, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if after, _ := os.ReadFile(path); !bytes.Equal(after, saved) {
			t.Fatal("the runner kept saving after its leadership's context ended")
		}
		r.mu.Lock()
		leading := r.leading
		r.mu.Unlock()
		if leading {
			t.Fatal("still leading after its leadership's context ended")
		}
	})
}

// unreadableStore fails LoadAll while down is set.
type unreadableStore struct {
	*Store
	mu   sync.Mutex
	down bool
}

func (s *unreadableStore) LoadAll() (map[string]*State, map[string]error, error) {
	s.mu.Lock()
	down := s.down
	s.mu.Unlock()
	if down {
		return nil, nil, errors.New("the API server is not answering")
	}
	return s.Store.LoadAll()
}

// Elected while the store cannot be read, Lead runs nothing and tries
// again every leadRetry, until it can or its context ends.
func TestLeadWaitsForTheStore(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := segmentModel(time.Second)
		dir := t.TempDir()
		files, err := NewStore(dir)
		if err != nil {
			t.Fatal(err)
		}
		store := &unreadableStore{Store: files}
		r, err := NewRunner(RunnerConfig{Store: store, Observer: constant(healthy(5000)), Publisher: &recorder{}, Follower: true})
		if err != nil {
			t.Fatal(err)
		}
		defer r.Wait()
		defer r.Follow()
		if err := r.SetModel(t.Context(), m); err != nil {
			t.Fatal(err)
		}
		store.mu.Lock()
		store.down = true
		store.mu.Unlock()

		// Its context ends while the store is down: it never led.
		ctx, cancel := context.WithCancel(t.Context())
		led := make(chan error, 1)
		go func() { led <- r.Lead(ctx) }()
		time.Sleep(3 * leadRetry)
		synctest.Wait()
		cancel()
		if err := <-led; !errors.Is(err, context.Canceled) {
			t.Fatalf("Lead: %v, want the context's error", err)
		}
		if files := stateFiles(t, dir); len(files) != 0 {
			t.Fatalf("saved %v without leading", files)
		}

		ctx2, cancel2 := context.WithCancel(t.Context())
		defer cancel2()
		go func() { led <- r.Lead(ctx2) }()
		time.Sleep(leadRetry / 2)
		synctest.Wait()
		if sts := r.States(); len(sts) != 0 {
			t.Fatalf("started %+v before the store could be read", sts)
		}
		store.mu.Lock()
		store.down = false
		store.mu.Unlock()
		time.Sleep(leadRetry)
		synctest.Wait()
		if err := <-led; err != nil {
			t.Fatal(err)
		}
		if sts := r.States(); len(sts) != 1 || sts[0].Stage != Running {
			t.Fatalf("states %+v, want the experiment running once the store could be read", sts)
		}
		if files := stateFiles(t, dir); len(files) != 1 {
			t.Fatalf("files %v, want the leader's saved state", files)
		}
	})
}

// started is the wakanda weights the leader starts m's experiment with.
func started(t *testing.T, m *policy.Model) map[string]uint32 {
	t.Helper()
	e := &m.Experiments[0]
	st := Start(e, findRoute(m, e), time.Now())
	if st == nil {
		t.Fatal("the experiment does not start")
	}
	return st.Route.Weights()
}
