package admin

import (
	"context"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shadowplane/shadowplane/admin/api"
	"github.com/shadowplane/shadowplane/analysis"
	"github.com/shadowplane/shadowplane/policy"
	"github.com/shadowplane/shadowplane/policy/files"
)

// canaryPolicy has one canary that looks at its metrics once an hour:
// within a test it never judges, so only the controls move it.
const canaryPolicy = `kind: App
name: shop
port: 10000
variants:
  - {name: v1, endpoints: ["127.0.0.1:9001"]}
  - {name: v2, endpoints: ["127.0.0.1:9002"]}
routes:
  - name: checkout
    split:
      - {variant: v1, weight: 90}
      - {variant: v2, weight: 10}
---
kind: Experiment
name: checkout-canary
app: shop
route: checkout
testing: Canary
baseline: v1
candidates: [v2]
interval: 1h
maxStepDuration: 2h
steps: {stepWeight: 10}
objectives:
  - {metric: error-rate, upperLimit: 0.01}
metrics: {provider: prometheus, prometheus: "http://user:hunter2@prometheus:9090"}
`

// servedRoutes is a Publisher that keeps the checkout weights it served
// last; every proxy ACKs at once.
type servedRoutes struct {
	mu   sync.Mutex
	last map[string]uint32
}

func (p *servedRoutes) Publish(_ context.Context, m *policy.Model) error {
	app, _ := m.App("shop")
	w := map[string]uint32{}
	for _, r := range app.Routes {
		if r.Name == "checkout" {
			for _, b := range r.Split {
				if b.Weight != nil {
					w[b.Variant] = *b.Weight
				}
			}
		}
	}
	p.mu.Lock()
	p.last = w
	p.mu.Unlock()
	return nil
}

func (p *servedRoutes) WaitRoutes(context.Context, string) error { return nil }

func (p *servedRoutes) weights() map[string]uint32 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.last
}

// startRunner starts a real analysis.Runner on the file store in dir,
// serving the model of the policy in policyDir.
func startRunner(t *testing.T, dir string, m *policy.Model, pub *servedRoutes) *analysis.Runner {
	t.Helper()
	store, err := analysis.NewStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	never := analysis.ObserverFunc(func(context.Context, *policy.Experiment, time.Time, time.Time) analysis.Observations { return nil })
	r, err := analysis.NewRunner(analysis.RunnerConfig{Store: store, Observer: never, Publisher: pub})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.Start(ctx)
	t.Cleanup(func() {
		cancel()
		r.Wait()
	})
	if err := r.SetModel(ctx, m); err != nil {
		t.Fatal(err)
	}
	return r
}

// TestControlsThroughTheRunner drives a real Runner over real HTTP with
// the client the CLI uses: pause and abort act and are recorded with who
// and why, what does not apply is a 409 that changes nothing, and the
// controls outlive a restart.
func TestControlsThroughTheRunner(t *testing.T) {
	policyDir, stateDir := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(policyDir, "shop.yaml"), []byte(canaryPolicy), 0o644); err != nil {
		t.Fatal(err)
	}
	w, err := files.NewWatcher(policyDir, files.WatcherOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if probs := files.Problems(w.Status()); len(probs) > 0 {
		t.Fatalf("fixture policy rejected: %v", probs)
	}
	pub := &servedRoutes{}
	runner := startRunner(t, stateDir, w.Model(), pub)
	tok, _ := NewToken(testToken)
	srv := httptest.NewServer(NewHandler(Config{Experiments: runner, Controls: runner, Token: tok, Gatherer: prometheus.NewRegistry(), Ready: func() bool { return true }}))
	defer srv.Close()
	ctx := t.Context()
	control := func(action api.Action, reason, actor string) (api.Experiment, error) {
		return Control(ctx, srv.Client(), srv.URL, testToken, "checkout-canary", action, api.ControlRequest{Reason: reason}, actor)
	}
	status := func(err error) int {
		if ce, ok := errors.AsType[*ControlError](err); ok {
			return ce.Status
		}
		return 0
	}

	if _, err := control(api.ActionResume, "", ""); status(err) != 409 || !strings.Contains(err.Error(), "not paused") {
		t.Fatalf("resume a running experiment: %v, want 409 saying it is not paused", err)
	}
	if _, err := Control(ctx, srv.Client(), srv.URL, "wrong", "checkout-canary", api.ActionAbort, api.ControlRequest{}, ""); status(err) != 401 {
		t.Fatalf("abort with a wrong token: %v, want 401", err)
	}
	if _, err := Control(ctx, srv.Client(), srv.URL, testToken, "nope", api.ActionPause, api.ControlRequest{}, ""); status(err) != 404 {
		t.Fatalf("pause an unknown experiment: %v, want 404", err)
	}
	if st := runner.States()[0]; st.Stage != analysis.Running || len(st.Events) != 0 {
		t.Fatalf("refused controls changed the state: %s, events %+v", st.Stage, st.Events)
	}

	st, err := control(api.ActionPause, "p95 looks odd", "alice")
	if err != nil || st.Stage != api.Paused {
		t.Fatalf("pause: %v, %v", st.Stage, err)
	}
	if strings.Contains(st.Spec.Metrics.Prometheus, "hunter2") {
		t.Errorf("the answer shows the metrics password: %s", st.Spec.Metrics.Prometheus)
	}
	if n := len(st.Events); n != 1 || st.Events[0].Action != "pause" || st.Events[0].By != "alice" || st.Events[0].Reason != "p95 looks odd" {
		t.Errorf("events after pause: %+v, want the pause by alice with its reason", st.Events)
	}
	// What status and the web view read shows it too.
	states, err := FetchExperiments(ctx, srv.Client(), srv.URL)
	if err != nil || len(states) != 1 || states[0].Stage != api.Paused || len(states[0].Events) != 1 {
		t.Fatalf("GET /api/v1/experiments after pause: %+v, %v", states, err)
	}

	// A restart keeps the pause, with who and why.
	runner2 := startRunner(t, stateDir, w.Model(), &servedRoutes{})
	if st := runner2.States()[0]; st.Stage != analysis.Paused || len(st.Events) != 1 || st.Events[0].By != "alice" {
		t.Errorf("after a restart: %s, events %+v; want still paused by alice", st.Stage, st.Events)
	}

	st, err = control(api.ActionAbort, "", "")
	if err != nil || st.Stage != api.RolledBack {
		t.Fatalf("abort: %v, %v", st.Stage, err)
	}
	if got := pub.weights(); got["v1"] != 100 || got["v2"] != 0 {
		t.Errorf("served after abort: %v, want v1 100 at once", got)
	}
	if last := st.Events[len(st.Events)-1]; last.Action != "abort" || last.By != "token" {
		t.Errorf("last event %+v, want the abort by token", last)
	}
	if _, err := control(api.ActionPause, "", ""); status(err) != 409 {
		t.Errorf("pause a rolled-back experiment: %v, want 409", err)
	}
}
