package ui_test

import (
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"

	"github.com/shadowplane/shadowplane/analysis"
	"github.com/shadowplane/shadowplane/policy"
	"github.com/shadowplane/shadowplane/xds/server"
)

// shopPolicy declares an app and two experiments on it: a progressive
// canary, and an A/B test of three versions at fixed weights.
const shopPolicy = `apiVersion: shadowplane.dev/v1alpha1
kind: App
name: shop
port: 10000
variants:
  - {name: v1, endpoints: ["127.0.0.1:9001"]}
  - {name: v2, endpoints: ["127.0.0.1:9002"]}
  - {name: v3, endpoints: ["127.0.0.1:9003"]}
routes:
  - name: checkout
    match: {path: {prefix: /checkout}}
    split:
      - {variant: v1, weight: 100}
      - {variant: v2, weight: 0}
  - name: search
    split:
      - {variant: v1, weight: 34}
      - {variant: v2, weight: 33}
      - {variant: v3, weight: 33}
---
kind: Experiment
name: checkout-canary
app: shop
route: checkout
testing: Canary
baseline: v1
candidates: [v2]
steps: {stepWeight: 10}
iterations: 5
objectives:
  - {metric: error-rate, upperLimit: 0.01}
  - {metric: p95-latency, upperLimit: 1.2, relativeTo: baseline}
metrics: {targets: {"*": ["http://127.0.0.1:9901/stats/prometheus"]}}
---
kind: Experiment
name: search-ab
app: shop
route: search
testing: AB
baseline: v1
candidates: [v2, v3]
objectives:
  - {metric: p95-latency, upperLimit: 120}
reward: {metric: conversion, preferHigher: true}
metrics: {targets: {"*": ["http://127.0.0.1:9901/stats/prometheus"]}}
`

// brokenPolicy has an unknown key on line 3.
const brokenPolicy = "kind: App\nname: broken\nbogus: 1\n"

// writePolicies writes the policy files into a new directory and loads
// them with a real watcher.
func writePolicies(t *testing.T) *policy.Watcher {
	t.Helper()
	dir := t.TempDir()
	for name, content := range map[string]string{"shop.yaml": shopPolicy, "broken.yaml": brokenPolicy} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	w, err := policy.NewWatcher(dir, policy.WatcherOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// run is an experiment driven the way analysis.Runner drives one: each
// interval's observations are judged by the real analysis.Evaluate and
// recorded.
type run struct {
	spec  policy.Experiment
	route *policy.Route
	state analysis.State
}

func newRun(t *testing.T, m *policy.Model, name string, start time.Time) *run {
	t.Helper()
	i := slices.IndexFunc(m.Experiments, func(e policy.Experiment) bool { return e.Name == name })
	if i < 0 {
		t.Fatalf("experiment %s not in the model; the policy fixture is wrong", name)
	}
	spec := m.Experiments[i]
	app, ok := m.App(spec.App)
	if !ok {
		t.Fatalf("app %s not in the model", spec.App)
	}
	j := slices.IndexFunc(app.Routes, func(r policy.Route) bool { return r.Name == spec.Route })
	if j < 0 {
		t.Fatalf("route %s not in app %s", spec.Route, spec.App)
	}
	pr := &app.Routes[j]
	initial := analysis.Route{Split: slices.Clone(pr.Split)}
	return &run{spec: spec, route: pr, state: analysis.State{
		Experiment: name, Spec: spec, Stage: analysis.Running, Route: initial, LastGood: initial,
		Reason: "started", StartedAt: start, UpdatedAt: start, WindowStart: start,
	}}
}

// step judges one interval ending at `at`.
func (r *run) step(at time.Time, obs analysis.Observations) {
	st := &r.state
	d := analysis.Evaluate(&r.spec, r.route, st, obs)
	prev := st.WindowStart
	if !slices.Equal(weights(d.Route), weights(st.Route)) {
		st.LastGood = st.Route
	}
	st.Stage, st.Iteration, st.NoData, st.Route, st.Winner, st.Reason = d.Stage, d.Iteration, d.NoData, d.Route, d.Winner, d.Reason
	st.UpdatedAt, st.WindowStart = at, at
	st.History = append(slices.Clip(st.History), analysis.Record{
		Iteration: d.Iteration, At: at, WindowStart: prev, Observations: obs, Verdicts: d.Verdicts,
		Action: d.Action, Reason: d.Reason, Weights: d.Route.Weights(), MirrorOff: d.Route.MirrorOff,
	})
}

func weights(r analysis.Route) []uint32 {
	var out []uint32
	for _, b := range r.Split {
		if b.Weight != nil {
			out = append(out, *b.Weight)
		}
	}
	return out
}

// obs builds observations from version → metric → value, all with the
// given number of samples.
func obs(samples float64, values map[string]map[string]float64) analysis.Observations {
	out := analysis.Observations{}
	for v, metrics := range values {
		out[v] = map[string]analysis.Observation{}
		for m, val := range metrics {
			out[v][m] = analysis.Observation{Value: val, Samples: samples}
		}
	}
	return out
}

// experiments is the admin.Experiments the page is served from; the test
// changes it while the page is open.
type experiments struct {
	mu   sync.Mutex
	runs []*run
}

func (e *experiments) States() []analysis.State {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]analysis.State, len(e.runs))
	for i, r := range e.runs {
		out[i] = r.state
		out[i].History = slices.Clone(r.state.History)
	}
	return out
}

func (e *experiments) update(f func()) {
	e.mu.Lock()
	defer e.mu.Unlock()
	f()
}

// proxies is the admin.Proxies the page is served from: two proxies, one
// of which rejected its routes.
type proxies []server.Proxy

func (p proxies) Proxies() []server.Proxy        { return p }
func (p proxies) Node(string) (*core.Node, bool) { return nil, false }
func acked(v string) *server.TypeStatus {
	return &server.TypeStatus{SentVersion: v, AckedVersion: v, Pushes: 1}
}
func pending(sent, acked string) *server.TypeStatus {
	return &server.TypeStatus{SentVersion: sent, AckedVersion: acked, Pushes: 2}
}

const nackError = `route_config "shop": weighted_clusters: total weight 110 exceeds 100 <script>alert(1)</script>`

func testProxies(now time.Time) proxies {
	return proxies{
		{
			StreamID: 1, NodeID: "edge-1", Cluster: "edge", Kind: "envoy", Group: "envoy", Protocol: "sotw", ConnectedAt: now,
			Types: map[string]*server.TypeStatus{
				"Cluster": acked("7"), "ClusterLoadAssignment": acked("7"), "Listener": acked("7"),
				"RouteConfiguration": pending("8", "7"), "Runtime": acked("7"),
			},
		},
		{
			StreamID: 2, NodeID: "checkout-client", Cluster: "checkout", Kind: "grpc", Group: "grpc", Protocol: "delta", ConnectedAt: now,
			Types: map[string]*server.TypeStatus{
				"Cluster": acked("7"), "ClusterLoadAssignment": acked("7"), "Listener": acked("7"),
				"RouteConfiguration": {SentVersion: "8", AckedVersion: "7", Pushes: 2, Nacks: 1,
					LastNack: &server.Nack{Version: "8", Nonce: "n8", Error: nackError, At: now}},
			},
		},
	}
}
