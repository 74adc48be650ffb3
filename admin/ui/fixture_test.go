package ui_test

import (
	"math"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"gonum.org/v1/gonum/stat/distuv"

	"github.com/shadowplane/shadowplane/analysis"
	"github.com/shadowplane/shadowplane/analysis/metrics"
	"github.com/shadowplane/shadowplane/analysis/stats"
	"github.com/shadowplane/shadowplane/policy"
	"github.com/shadowplane/shadowplane/policy/files"
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
func writePolicies(t *testing.T) *files.Watcher {
	t.Helper()
	dir := t.TempDir()
	for name, content := range map[string]string{"shop.yaml": shopPolicy, "broken.yaml": brokenPolicy} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	w, err := files.NewWatcher(dir, files.WatcherOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// run is an experiment driven the way analysis.Runner drives one: each
// look's evidence is judged by the real analysis.Evaluate and applied with
// State.Apply; a step that moves the weights starts its window when every
// proxy has ACKed it, ackDelay later.
type run struct {
	spec  policy.Experiment
	route *policy.Route
	state analysis.State
	// sinceStep is what each version served since the current step was
	// in place on every proxy: what the step is judged on.
	sinceStep map[string]*served
}

// ackDelay is how long after a decision the proxies have ACKed its step.
const ackDelay = 2 * time.Second

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
	r := &run{spec: spec, route: &app.Routes[j], state: *analysis.Start(&spec, &app.Routes[j], start)}
	r.state.StepStarted(start.Add(ackDelay))
	r.sinceStep = map[string]*served{}
	return r
}

// look is one interval ending at `at`: each version served its load, then
// the look is judged and applied. A decision that moves the weights (a
// rollback too) is rolled out and its step starts when it is ACKed.
func (r *run) look(at time.Time, load map[string]traffic) {
	for v, tr := range load {
		if r.sinceStep[v] == nil {
			r.sinceStep[v] = newServed()
		}
		r.sinceStep[v].add(tr)
	}
	obs := r.observations(r.sinceStep)
	d := analysis.Evaluate(&r.spec, r.route, &r.state, obs, at)
	next, moved := r.state.Apply(d, obs, at)
	r.state = next
	if moved {
		r.state.StepStarted(at.Add(ackDelay))
		r.sinceStep = map[string]*served{}
	}
}

// observations are what the metrics source reads of counts: each metric
// the experiment names, by its name in the policy, with its type.
func (r *run) observations(counts map[string]*served) analysis.Observations {
	names := map[string]bool{}
	for _, o := range r.spec.Objectives {
		names[o.Metric] = true
	}
	if r.spec.Reward != nil {
		names[r.spec.Reward.Metric] = true
	}
	out := analysis.Observations{}
	for _, v := range r.spec.Versions() {
		s := counts[v]
		if s == nil {
			s = newServed()
		}
		out[v] = map[string]analysis.Observation{}
		for name := range names {
			out[v][name] = s.observe(name)
		}
	}
	return out
}

// traffic is what one version served between two looks: requests, of
// which errors failed and conversions converted, with lognormal latency
// (median ms, sigma).
type traffic struct {
	requests, errors, conversions float64
	median, sigma                 float64
}

// appBounds are the sample app's latency histogram bounds, in ms.
var appBounds = []float64{1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, math.Inf(1)}

// served are a version's counts over a window, as Prometheus counters
// would give them: requests, errors, conversions, and a latency histogram
// (cumulative bucket counts and the sum of latencies).
type served struct {
	requests, errors, conversions, latencySum float64
	buckets                                   []float64
}

func newServed() *served { return &served{buckets: make([]float64, len(appBounds))} }

// add counts tr; its latencies fill each bucket with their expected count,
// rounded to whole requests.
func (s *served) add(tr traffic) {
	d := distuv.LogNormal{Mu: math.Log(tr.median), Sigma: tr.sigma}
	s.requests += tr.requests
	s.errors += tr.errors
	s.conversions += tr.conversions
	s.latencySum += tr.requests * d.Mean()
	for i, b := range appBounds {
		c := tr.requests
		if !math.IsInf(b, 1) {
			c = math.Round(tr.requests * d.CDF(b))
		}
		s.buckets[i] += c
	}
}

// observe reads the metric called name: error-rate and conversion are
// ratios of requests, p95-latency the histogram's 95th percentile.
func (s *served) observe(name string) analysis.Observation {
	ratio := func(x float64) analysis.Observation {
		o := analysis.Observation{Type: metrics.Ratio, Unit: "ratio", Scale: 1, Events: x, Samples: s.requests}
		if s.requests > 0 {
			o.Value = x / s.requests
		}
		return o
	}
	switch name {
	case "error-rate":
		return ratio(s.errors)
	case "conversion":
		return ratio(s.conversions)
	case "p95-latency":
		o := analysis.Observation{Type: metrics.Quantile, Quantile: 0.95, Unit: "ms", Samples: s.requests, Sum: s.latencySum}
		h := stats.Histogram{Bounds: appBounds, Counts: slices.Clone(s.buckets), Sum: s.latencySum}
		for i, b := range appBounds {
			o.Buckets = append(o.Buckets, metrics.Bucket{UpperBound: b, Count: s.buckets[i]})
		}
		if s.requests > 0 {
			o.Value = h.Quantile(0.95)
		} else {
			o.Error, o.NoData = "no requests", true
		}
		return o
	}
	return analysis.Observation{Error: "unknown metric " + name}
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
