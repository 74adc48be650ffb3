package pipeline

import (
	"bytes"
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/shadowplane/shadowplane/analysis"
	"github.com/shadowplane/shadowplane/analysis/metrics"
	"github.com/shadowplane/shadowplane/policy"
	"github.com/shadowplane/shadowplane/xds"
	"github.com/shadowplane/shadowplane/xds/server"
	"github.com/shadowplane/shadowplane/xds/server/snapshot"
)

// canaryYAML is an app whose wakanda route the policy splits v1 100 / v2
// 0, with a progressive canary of v2 on it: its first step gives v2 10%.
// The interval is long enough that no look happens during a test.
const canaryYAML = `
kind: App
name: sample-app
hosts: [example.com]
port: 10000
variants:
  - name: v1
    endpoints: ["127.0.0.1:9001"]
  - name: v2
    endpoints: ["127.0.0.1:9002"]
routes:
  - name: wakanda
    match:
      headers:
        - name: country
          exact: wakanda
    split:
      - variant: v1
        weight: 100
      - variant: v2
        weight: 0
  - name: default
    split:
      - variant: v1
---
kind: Experiment
name: sample-canary
app: sample-app
route: wakanda
testing: Canary
baseline: v1
candidates: [v2]
steps: {stepWeight: 10, maxWeight: 100}
objectives:
  - {metric: app/error-rate, upperLimit: 0.05}
interval: 20m
iterations: 3
minSamples: 10
metrics:
  targets:
    v1: ["http://127.0.0.1:1/metrics"]
    v2: ["http://127.0.0.1:1/metrics"]
`

func parse(t *testing.T, yaml string) *policy.Model {
	t.Helper()
	f, problems := policy.ParseFile("app.yaml", []byte(yaml))
	if len(problems) > 0 {
		t.Fatalf("policy problems: %v", problems)
	}
	m, problems := policy.Assemble([]policy.File{f})
	if len(problems) > 0 {
		t.Fatalf("policy problems: %v", problems)
	}
	return m
}

// wakanda is the v2 weight of the wakanda route m serves.
func wakanda(t *testing.T, m *policy.Model) uint32 {
	t.Helper()
	app, ok := m.App("sample-app")
	if !ok {
		t.Fatal("no sample-app")
	}
	for _, r := range app.Routes {
		if r.Name != "wakanda" {
			continue
		}
		for _, b := range r.Split {
			if b.Variant == "v2" && b.Weight != nil {
				return *b.Weight
			}
		}
	}
	return 0
}

// recording passes generations on to the real staged publisher and
// remembers them, in order.
type recording struct {
	*server.Publisher
	mu   sync.Mutex
	gens []*snapshot.Generation
	// handed is signalled after each generation is recorded.
	handed chan struct{}
}

func (r *recording) Publish(ctx context.Context, next *snapshot.Generation) error {
	r.mu.Lock()
	r.gens = append(r.gens, next)
	r.mu.Unlock()
	select {
	case r.handed <- struct{}{}:
	default:
	}
	return r.Publisher.Publish(ctx, next)
}

// syncBuffer is a log sink safe for the runner's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// rig is serve's path, built from the real parts.
type rig struct {
	cache    *server.Cache
	registry *server.Registry
	staged   *recording
	prom     *prometheus.Registry
	log      *syncBuffer
	p        *Pipeline
	runner   *analysis.Runner
}

func newRig(t *testing.T, stateDir string) *rig {
	t.Helper()
	prom := prometheus.NewRegistry()
	xdsMetrics := server.NewMetrics(prom)
	cache := server.NewCache(server.CacheOptions{OnSnapshotError: func(xds.GroupKey, error) { xdsMetrics.SnapshotError() }})
	registry := server.NewRegistry(cache, xdsMetrics)
	staged := &recording{Publisher: server.NewPublisher(cache, registry), handed: make(chan struct{}, 1)}
	t.Cleanup(staged.Close)
	logs := &syncBuffer{}
	log := hclog.New(&hclog.LoggerOptions{Output: logs, Level: hclog.Debug})
	ctx, cancel := context.WithCancel(context.Background())
	defs, _ := metrics.NewDefinitions()
	observer := analysis.NewMetricsObserver(ctx, defs, nil)
	p := New(Config{Stager: staged, Routes: registry, Observer: observer, Metrics: xdsMetrics, Log: log})
	store, err := analysis.NewStore(stateDir)
	if err != nil {
		t.Fatal(err)
	}
	runner, err := analysis.NewRunner(analysis.RunnerConfig{Store: store, Observer: observer, Publisher: p, Log: log.Named("analysis")})
	if err != nil {
		t.Fatal(err)
	}
	p.SetRunner(runner)
	t.Cleanup(func() {
		cancel()
		runner.Wait()
	})
	r := &rig{cache: cache, registry: registry, staged: staged, prom: prom, log: logs, p: p, runner: runner}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("log:\n%s", logs)
		}
	})
	return r
}

func (r *rig) start(t *testing.T, m *policy.Model) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if err := r.p.Start(ctx, m); err != nil {
		t.Fatal(err)
	}
}

// snapshotErrors reads shadowplane_xds_snapshot_errors_total.
func (r *rig) snapshotErrors(t *testing.T) float64 {
	t.Helper()
	mfs, err := r.prom.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "shadowplane_xds_snapshot_errors_total" {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatal("no shadowplane_xds_snapshot_errors_total")
	return 0
}

func TestStartServesTheExperimentsStepAtOnce(t *testing.T) {
	r := newRig(t, t.TempDir())
	if r.p.Ready() {
		t.Fatal("ready before anything was served")
	}
	m := parse(t, canaryYAML)
	r.start(t, m)
	if !r.p.Ready() {
		t.Fatal("not ready after Start")
	}
	if w := wakanda(t, m); w != 0 {
		t.Fatalf("the policy gives v2 %d, want 0", w)
	}
	gen := r.cache.Generation()
	if gen == nil {
		t.Fatal("nothing served")
	}
	if w := wakanda(t, gen.Model); w != 10 {
		t.Fatalf("served v2 weight %d, want the canary's first step, 10", w)
	}
	// The translation is the served one: a snapshot can be built from it.
	if _, err := gen.Snapshot(gen.Keys()[0]); err != nil {
		t.Fatal(err)
	}
	for _, msg := range []string{"policy served", "apps=1", "experiments=1"} {
		if !strings.Contains(r.log.String(), msg) {
			t.Errorf("log lacks %q", msg)
		}
	}

	// A new model from the source keeps the experiment's step on it.
	edited := parse(t, strings.Replace(canaryYAML, `["127.0.0.1:9001"]`, `["127.0.0.1:9011"]`, 1))
	r.p.SetModel(context.Background(), edited)
	gen = r.cache.Generation()
	if w := wakanda(t, gen.Model); w != 10 {
		t.Fatalf("after an edit, served v2 weight %d, want 10", w)
	}
	if app, _ := gen.Model.App("sample-app"); app.Variants[0].Endpoints[0] != "127.0.0.1:9011" {
		t.Fatalf("the edit is not served: %v", app.Variants[0].Endpoints)
	}
}

// TestRestartNeverServesThePolicyWeights restarts on the same state
// directory: every generation the second pipeline publishes, the first
// included, carries the saved step.
func TestRestartNeverServesThePolicyWeights(t *testing.T) {
	dir := t.TempDir()
	m := parse(t, canaryYAML)
	first := newRig(t, dir)
	first.start(t, m)

	second := newRig(t, dir)
	second.start(t, parse(t, canaryYAML))
	second.staged.mu.Lock()
	defer second.staged.mu.Unlock()
	if len(second.staged.gens) == 0 {
		t.Fatal("nothing published")
	}
	for i, gen := range second.staged.gens {
		if w := wakanda(t, gen.Model); w != 10 {
			t.Errorf("generation %d serves v2 %d, want the saved step, 10", i, w)
		}
	}
}

// proxy is a raw ADS stream subscribed to clusters, so that the cache
// builds its group's snapshot whenever a generation is set.
type proxy struct {
	t      *testing.T
	reg    *server.Registry
	stream discovery.AggregatedDiscoveryService_StreamAggregatedResourcesClient
	resp   chan *discovery.DiscoveryResponse
	node   *core.Node
	n      int
}

func connect(t *testing.T, r *rig) *proxy {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go server.New(ctx, r.cache, r.registry, server.Options{}).Serve(ctx, lis)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	s, err := discovery.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{t: t, reg: r.registry, stream: s, resp: make(chan *discovery.DiscoveryResponse, 10),
		node: &core.Node{Id: "envoy-1", Cluster: "test", UserAgentName: "envoy"}}
	go func() {
		for {
			resp, err := s.Recv()
			if err != nil {
				return
			}
			p.resp <- resp
		}
	}()
	p.send(&discovery.DiscoveryRequest{TypeUrl: resourcev3.ClusterType})
	p.settle()
	return p
}

func (p *proxy) send(req *discovery.DiscoveryRequest) {
	p.t.Helper()
	req.Node = p.node
	if err := p.stream.Send(req); err != nil {
		p.t.Fatal(err)
	}
}

// settle returns once the server has handled every request sent so far:
// it sends one of a type the server does not serve, handled after them,
// and waits for the registry to record it.
func (p *proxy) settle() {
	p.t.Helper()
	p.n++
	name := strings.Repeat("x", p.n)
	p.send(&discovery.DiscoveryRequest{TypeUrl: "type.googleapis.com/shadowplane.test.Barrier", ResourceNames: []string{name}})
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, pr := range p.reg.Proxies() {
			if ts := pr.Types["Barrier"]; ts != nil && len(ts.Names) == 1 && ts.Names[0] == name {
				return
			}
		}
		if time.Now().After(deadline) {
			p.t.Fatal("the server never handled the requests")
		}
		time.Sleep(time.Millisecond)
	}
}

// ack ACKs the clusters response and waits until the server holds the
// watch open again.
func (p *proxy) ack() {
	p.t.Helper()
	select {
	case resp := <-p.resp:
		p.send(&discovery.DiscoveryRequest{TypeUrl: resp.TypeUrl, VersionInfo: resp.VersionInfo, ResponseNonce: resp.Nonce})
		p.settle()
	case <-time.After(10 * time.Second):
		p.t.Fatal("no clusters response")
	}
}

// untranslatable is a model translation refuses: its route names a
// variant the app does not have. Validation would refuse it; it is handed
// to the pipeline as the runner would.
func untranslatable(t *testing.T) *policy.Model {
	m := parse(t, canaryYAML)
	m.Experiments = nil
	app := &m.Apps[0]
	app.Routes = append([]policy.Route(nil), app.Routes...)
	app.Routes[1].Split = []policy.Backend{{Variant: "v9"}}
	return m
}

func TestTranslationErrorKeepsTheLastGeneration(t *testing.T) {
	r := newRig(t, t.TempDir())
	p := connect(t, r)
	ctx := context.Background()

	// Nothing served yet: a bad model leaves it so, and not ready.
	if err := r.p.Publish(ctx, untranslatable(t)); err == nil {
		t.Fatal("an untranslatable model was published")
	}
	if r.p.Ready() || r.cache.Generation() != nil {
		t.Fatalf("after a failed first publish: ready %v, generation %v", r.p.Ready(), r.cache.Generation())
	}
	if n := r.snapshotErrors(t); n < 1 {
		t.Fatalf("snapshot errors = %v, want counted", n)
	}
	if !strings.Contains(r.log.String(), "new configuration not served; proxies keep the last good one") {
		t.Error("the failure is not logged")
	}

	// The runner is not started: its loops would publish meanwhile.
	if err := r.p.Publish(ctx, parse(t, canaryYAML)); err != nil {
		t.Fatal(err)
	}
	good := r.cache.Generation()
	if !r.p.Ready() || good == nil {
		t.Fatalf("after a good publish: ready %v, generation %v", r.p.Ready(), good)
	}
	p.ack()

	before := r.snapshotErrors(t)
	if err := r.p.Publish(ctx, untranslatable(t)); err == nil {
		t.Fatal("an untranslatable model was published")
	}
	if r.cache.Generation() != good {
		t.Fatal("a failed publish replaced the served generation")
	}
	if !r.p.Ready() {
		t.Fatal("a failed publish made the pipeline not ready")
	}
	if n := r.snapshotErrors(t); n <= before {
		t.Fatalf("snapshot errors = %v, want more than %v", n, before)
	}

	// Through the source's path, the runner reports it and the model is
	// not served.
	r.p.SetModel(ctx, untranslatable(t))
	if r.cache.Generation() != good {
		t.Fatal("a failed SetModel replaced the served generation")
	}
	if !strings.Contains(r.log.String(), "policy not served") {
		t.Error(`"policy not served" not logged`)
	}
}

func TestWaitRoutesRejectionIsErrRejected(t *testing.T) {
	r := newRig(t, t.TempDir())
	if err := r.p.Publish(context.Background(), parse(t, canaryYAML)); err != nil {
		t.Fatal(err)
	}
	p := connect(t, r)
	p.send(&discovery.DiscoveryRequest{TypeUrl: resourcev3.ListenerType})
	p.send(&discovery.DiscoveryRequest{TypeUrl: resourcev3.RouteType, ResourceNames: []string{xds.RouteConfigName(10000)}})
	// NACK the routes.
	deadline := time.After(10 * time.Second)
	for {
		select {
		case resp := <-p.resp:
			if resp.TypeUrl != resourcev3.RouteType {
				p.send(&discovery.DiscoveryRequest{TypeUrl: resp.TypeUrl, VersionInfo: resp.VersionInfo, ResponseNonce: resp.Nonce})
				continue
			}
			p.send(&discovery.DiscoveryRequest{TypeUrl: resp.TypeUrl, ResourceNames: []string{xds.RouteConfigName(10000)},
				ResponseNonce: resp.Nonce, ErrorDetail: statusOf("bad weights")})
		case <-deadline:
			t.Fatal("no routes response")
		}
		break
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := r.p.WaitRoutes(ctx, "sample-app")
	if !errors.Is(err, analysis.ErrRejected) {
		t.Fatalf("WaitRoutes = %v, want ErrRejected", err)
	}
	if !strings.Contains(err.Error(), "bad weights") {
		t.Errorf("WaitRoutes = %v, does not say why", err)
	}
}

func statusOf(msg string) *status.Status { return &status.Status{Message: msg} }
