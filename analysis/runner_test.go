package analysis

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/shadowplane/shadowplane/policy"
)

// segmentModel is seed 003: the wakanda segment split v1 100 / v2 0, with
// a progressive canary of v2 on it.
func segmentModel(interval time.Duration) *policy.Model {
	w := func(v uint32) *uint32 { return &v }
	e, _ := canary()
	e.Interval = interval
	app := policy.App{
		Kind: policy.KindApp, Name: "sample-app", Hosts: []string{"example.com"}, Port: 10000,
		Variants: []policy.Variant{{Name: "v1", Endpoints: []string{"127.0.0.1:9001"}}, {Name: "v2", Endpoints: []string{"127.0.0.1:9002"}}},
		Routes: []policy.Route{
			{Name: "wakanda", Match: policy.Match{Headers: []policy.HeaderMatch{{Name: "country", StringMatch: policy.StringMatch{Exact: "wakanda"}}}},
				Split: []policy.Backend{{Variant: "v1", Weight: w(100)}, {Variant: "v2", Weight: w(0)}}},
			{Name: "default", Split: []policy.Backend{{Variant: "v1", Weight: w(100)}}},
		},
	}
	return &policy.Model{Apps: []policy.App{app}, Experiments: []policy.Experiment{*e}}
}

// recorder is a Publisher that remembers the wakanda weights it served
// and can reject some.
type recorder struct {
	mu     sync.Mutex
	served []map[string]uint32
	reject func(map[string]uint32) error
}

func (p *recorder) Publish(_ context.Context, m *policy.Model) error {
	p.mu.Lock()
	p.served = append(p.served, wakanda(m))
	p.mu.Unlock()
	return nil
}

// WaitRoutes rejects, when told to, the weights served last.
func (p *recorder) WaitRoutes(context.Context, string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.reject == nil {
		return nil
	}
	if err := p.reject(p.served[len(p.served)-1]); err != nil {
		return fmt.Errorf("%w: %v", ErrRejected, err)
	}
	return nil
}

func wakanda(m *policy.Model) map[string]uint32 {
	a, _ := m.App("sample-app")
	return Route{Split: a.Routes[0].Split}.Weights()
}

// newTestRunner returns a runner whose goroutines are stopped before the
// test's temporary directory is removed.
func newTestRunner(t *testing.T, dir string, obs Observer, pub Publisher) *Runner {
	t.Helper()
	store, err := NewStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewRunner(RunnerConfig{Store: store, Observer: obs, Publisher: pub})
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

// waitStage lets fake time pass, one interval at a time, until the only
// experiment reaches want. Tests run in a synctest bubble: the runner's
// timers and clock are the bubble's, so a test takes no real time and
// never depends on the machine's speed.
func waitStage(t *testing.T, r *Runner, want Stage, interval time.Duration) State {
	t.Helper()
	for range 1000 {
		synctest.Wait()
		if sts := r.States(); len(sts) == 1 && sts[0].Stage == want {
			return sts[0]
		}
		time.Sleep(interval)
	}
	t.Fatalf("experiment never reached %s: %+v", want, r.States())
	return State{}
}

func constant(obs Observations) Observer {
	return ObserverFunc(func(context.Context, *policy.Experiment, time.Time, time.Time) Observations { return obs })
}

func TestRunnerPromotesAHealthyCanary(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pub := &recorder{}
		r := newTestRunner(t, t.TempDir(), constant(healthy(5000)), pub)
		if err := r.SetModel(t.Context(), segmentModel(time.Second)); err != nil {
			t.Fatal(err)
		}
		st := waitStage(t, r, Completed, time.Second)
		if st.Winner != "v2" || st.Route.Weights()["v2"] != 100 {
			t.Fatalf("completed with winner %q weights %v", st.Winner, st.Route.Weights())
		}
		synctest.Wait() // the promotion is published after it is saved
		var v2 []uint32
		for _, w := range pub.served {
			if len(v2) == 0 || v2[len(v2)-1] != w["v2"] {
				v2 = append(v2, w["v2"])
			}
		}
		if want := []uint32{20, 40, 60, 100}; !slices.Equal(v2, want) {
			t.Errorf("v2 weights served %v, want %v", v2, want)
		}
		if len(st.History) != 3 {
			t.Errorf("%d history records, want 3", len(st.History))
		}
		// Looks are one interval apart, each one interval after its step
		// was in place.
		for i, h := range st.History {
			if got := h.At.Sub(h.WindowStart); got != time.Second {
				t.Errorf("look %d came %s after its step started, want 1s", i, got)
			}
		}
	})
}

// A metrics outage holds, then pauses for a person: it never advances,
// never promotes, and (by default) does not roll back either.
func TestRunnerNeverPromotesWithoutMetrics(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		refused := Observation{Error: "dial tcp 127.0.0.1:9090: connection refused"}
		outage := Observations{"v1": {}, "v2": {"mean-latency": refused, "p95-latency": refused, "error-rate": refused}}
		r := newTestRunner(t, t.TempDir(), constant(outage), &recorder{})
		r.SetModel(t.Context(), segmentModel(time.Second))
		st := waitStage(t, r, Paused, time.Second)
		for _, h := range st.History {
			if h.Action == Advance || h.Action == PromoteWinner {
				t.Fatalf("advanced without metrics: %+v", h)
			}
		}
		if len(st.History) != 3 || st.History[0].Action != Hold || st.History[2].Action != Pause {
			t.Errorf("history %+v: want two holds then the pause", st.History)
		}
		if w := st.Route.Weights(); w["v2"] != 20 {
			t.Errorf("paused at %v, want the weights where they were (v2 20)", w)
		}
	})
}

// A paused experiment resumes when it is edited, keeping its step.
func TestRunnerResumesAPausedExperimentWhenEdited(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		obs := healthy(10) // never enough for minSamples
		r := newTestRunner(t, t.TempDir(), constant(obs), &recorder{})
		m := segmentModel(time.Second)
		m.Experiments[0].MaxStepDuration = 5 * time.Second
		r.SetModel(t.Context(), m)
		st := waitStage(t, r, Paused, time.Second)
		if !strings.Contains(st.Reason, "maxStepDuration") {
			t.Fatalf("paused for %q, want maxStepDuration", st.Reason)
		}
		r.SetModel(t.Context(), m) // unchanged: stays paused
		if st := r.States()[0]; st.Stage != Paused {
			t.Fatalf("an unchanged policy resumed it: %s", st.Stage)
		}
		m.Experiments[0].MaxStepDuration = time.Hour
		r.SetModel(t.Context(), m)
		synctest.Wait()
		if st := r.States()[0]; st.Stage != Running || st.Route.Weights()["v2"] != 20 || st.Reason != "resumed after an edit" {
			t.Fatalf("after the edit: %s %v %q, want running at the same step", st.Stage, st.Route.Weights(), st.Reason)
		}
	})
}

// A step a proxy rejects halts the experiment and serves the last good
// weights again.
func TestRunnerHaltsOnRejectedStep(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pub := &recorder{reject: func(w map[string]uint32) error {
			if w["v2"] >= 40 {
				return errors.New("proxy edge-1 rejected routes: bad weights")
			}
			return nil
		}}
		r := newTestRunner(t, t.TempDir(), constant(healthy(5000)), pub)
		r.SetModel(t.Context(), segmentModel(time.Second))
		st := waitStage(t, r, Halted, time.Second)
		if w := st.Route.Weights(); w["v2"] != 20 {
			t.Fatalf("halted at %v, want the last good v2 20 (the first step, taken at start)", w)
		}
		synctest.Wait() // the restore is published asynchronously
		pub.mu.Lock()
		last := pub.served[len(pub.served)-1]
		pub.mu.Unlock()
		if last["v2"] != 20 {
			t.Errorf("last served %v, want the last good weights back", last)
		}
	})
}

// After a restart the runner serves the saved step before anything else:
// the proxies never see the weights jump back to the policy's.
func TestRunnerResumesAtTheSameStep(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		ctx, cancel := context.WithCancel(t.Context())
		store, err := NewStore(dir)
		if err != nil {
			t.Fatal(err)
		}
		r, err := NewRunner(RunnerConfig{Store: store, Observer: constant(healthy(5000)), Publisher: &recorder{}})
		if err != nil {
			t.Fatal(err)
		}
		r.Start(ctx)
		m := segmentModel(time.Second)
		m.Experiments[0].Iterations = 10
		r.SetModel(ctx, m)
		for r.States()[0].Iteration < 2 {
			time.Sleep(time.Second)
		}
		cancel()
		r.Wait()
		before := r.States()[0]

		again := newTestRunner(t, dir, constant(healthy(5000)), &recorder{})
		eff := again.Effective(m)
		if got, want := wakanda(eff), before.Route.Weights(); got["v2"] != want["v2"] || got["v2"] == 0 {
			t.Fatalf("after restart the first model serves %v, want the saved %v", got, want)
		}
		if st := again.States()[0]; st.Iteration != before.Iteration {
			t.Fatalf("resumed at iteration %d, want %d", st.Iteration, before.Iteration)
		}
	})
}

// Editing objectives keeps the progress; editing the candidates restarts.
func TestRunnerEdits(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := newTestRunner(t, t.TempDir(), constant(healthy(100)), &recorder{})
	r.Start(ctx)
	m := segmentModel(time.Hour)
	r.SetModel(ctx, m)
	r.mu.Lock()
	r.states["wakanda"].Iteration = 2
	r.states["wakanda"].WindowStart = time.Now()
	r.mu.Unlock()

	edited := segmentModel(time.Hour)
	edited.Experiments[0].Objectives[0].UpperLimit = f(40)
	r.SetModel(ctx, edited)
	if st := r.States()[0]; st.Iteration != 2 || *st.Spec.Objectives[0].UpperLimit != 40 || st.Reason != "objectives edited: the step's evidence starts again" {
		t.Fatalf("objective edit: iteration %d limit %v (%s), want progress kept, the new limit, and the step's evidence restarted",
			st.Iteration, *st.Spec.Objectives[0].UpperLimit, st.Reason)
	}
	edited.Experiments[0].Baseline, edited.Experiments[0].Candidates = "v2", []string{"v1"}
	r.SetModel(ctx, edited)
	if st := r.States()[0]; st.Iteration != 0 {
		t.Fatalf("identity edit: iteration %d, want a restart", st.Iteration)
	}
	r.SetModel(ctx, &policy.Model{Apps: edited.Apps})
	if sts := r.States(); len(sts) != 0 {
		t.Fatalf("experiment removed from the policy, states %v remain", sts)
	}
}

// A canary of a dark candidate that the route also mirrors to: once the
// candidate takes live traffic, the mirror goes, and the step is served.
func TestCanaryOfAMirroredCandidateServesItsSteps(t *testing.T) {
	m := segmentModel(time.Hour)
	m.Apps[0].Routes[0].Mirror = &policy.Mirror{Variant: "v2", Percent: f(40)}
	r := newTestRunner(t, t.TempDir(), constant(healthy(100)), &recorder{})
	if err := r.SetModel(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	eff := r.Effective(m)
	route := eff.Apps[0].Routes[0]
	if w := wakanda(eff); w["v2"] != 20 || route.Mirror != nil {
		t.Fatalf("served %v with mirror %v; want the first step (v2 20) and no mirror", w, route.Mirror)
	}
}

// A decision that cannot be saved is not applied: neither the state nor
// what proxies are served moves, and the reason says why.
func TestUnsavedDecisionIsNotApplied(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		pub := &recorder{}
		r := newTestRunner(t, dir, constant(healthy(5000)), pub)
		if err := r.SetModel(t.Context(), segmentModel(time.Second)); err != nil {
			t.Fatal(err)
		}
		synctest.Wait() // the first step is rolled out and saved
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		st := r.States()[0]
		if !strings.Contains(st.Reason, "could not save") {
			t.Fatalf("no save failure reported: %s", st.Reason)
		}
		time.Sleep(5 * time.Second)
		synctest.Wait()
		st = r.States()[0]
		if st.Iteration != 0 || st.Route.Weights()["v2"] != 20 || len(st.History) != 0 {
			t.Fatalf("iteration %d weights %v history %d: an unsaved decision moved the state", st.Iteration, st.Route.Weights(), len(st.History))
		}
		pub.mu.Lock()
		defer pub.mu.Unlock()
		for _, w := range pub.served {
			if w["v2"] > 20 {
				t.Fatalf("served %v: an unsaved step reached the proxies", w)
			}
		}
	})
}

// restartingSource is an Observer whose history begins at since, as a
// scraper started anew does.
type restartingSource struct {
	Observer
	mu    sync.Mutex
	since time.Time
}

func (s *restartingSource) Since(*policy.Experiment) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.since
}

// A metrics source that starts again mid-step (its definitions changed)
// has no data from before: the step's window starts again with it, and
// says so, rather than silently judging a shorter window.
func TestRunnerRestartsTheWindowWithTheSource(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := &restartingSource{Observer: constant(healthy(10))}
		r := newTestRunner(t, t.TempDir(), src, &recorder{})
		r.SetModel(t.Context(), segmentModel(time.Second))
		time.Sleep(3 * time.Second)
		synctest.Wait()
		restart := time.Now()
		src.mu.Lock()
		src.since = restart
		src.mu.Unlock()
		time.Sleep(time.Second)
		synctest.Wait()
		st := r.States()[0]
		if !st.WindowStart.Equal(restart) || !strings.Contains(st.Reason, "the metrics source started again") {
			t.Fatalf("window from %s (%s), want from %s, saying why", st.WindowStart, st.Reason, restart)
		}
	})
}
