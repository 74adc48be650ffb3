package server

import (
	"context"
	"net"
	"testing"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/shadowplane/shadowplane/policy"
	"github.com/shadowplane/shadowplane/xds"
	"github.com/shadowplane/shadowplane/xds/server/snapshot"
)

func u32(v uint32) *uint32   { return &v }
func f64(v float64) *float64 { return &v }

// model returns a two-variant app on port 10000 with v2 weighted w2 of
// 100, mirroring pct percent of its traffic to v3.
func model(w2 uint32, pct float64) *policy.Model {
	return &policy.Model{Apps: []policy.App{{
		Kind: policy.KindApp, Name: "web", Hosts: []string{"web.example"}, Port: 10000,
		Variants: []policy.Variant{
			{Name: "v1", Endpoints: []string{"127.0.0.1:9001"}},
			{Name: "v2", Endpoints: []string{"127.0.0.1:9002"}},
			{Name: "v3", Endpoints: []string{"127.0.0.1:9003"}},
		},
		Routes: []policy.Route{{
			Name:   "all",
			Split:  []policy.Backend{{Variant: "v1", Weight: u32(100 - w2)}, {Variant: "v2", Weight: u32(w2)}},
			Mirror: &policy.Mirror{Variant: "v3", Percent: f64(pct)},
		}},
	}}}
}

type harness struct {
	cache    *Cache
	registry *Registry
	conn     *grpc.ClientConn
	addr     string
	// overLimit receives what Options.OnLimit is told.
	overLimit chan limitEvent
}

type limitEvent struct {
	peer, nodeID string
	err          error
}

func newHarness(t *testing.T, m *policy.Model) *harness {
	return newHarnessWith(t, m, Options{}, nil)
}

// newHarnessWith is newHarness with opts (OnLimit is the harness's), and
// the listener wrapped by wrap if it is not nil.
func newHarnessWith(t *testing.T, m *policy.Model, opts Options, wrap func(net.Listener) net.Listener) *harness {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	c := NewCache(CacheOptions{})
	if err := c.SetGeneration(snapshot.NewGeneration(m)); err != nil {
		t.Fatal(err)
	}
	reg := NewRegistry(c, nil)
	over := make(chan limitEvent, 16)
	opts.OnLimit = func(peer, nodeID string, err error) {
		select {
		case over <- limitEvent{peer, nodeID, err}:
		default:
		}
	}
	srv := New(ctx, c, reg, opts)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if wrap != nil {
		lis = wrap(lis)
	}
	go srv.Serve(ctx, lis)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &harness{cache: c, registry: reg, conn: conn, addr: lis.Addr().String(), overLimit: over}
}

// sotwClient is a raw ADS stream that speaks the protocol as Envoy does.
type sotwClient struct {
	t      *testing.T
	stream discovery.AggregatedDiscoveryService_StreamAggregatedResourcesClient
	node   *core.Node
	resp   chan *discovery.DiscoveryResponse
	cancel func()
}

func (h *harness) sotw(t *testing.T, nodeID string) *sotwClient {
	return sotwOn(t, h.conn, nodeID, 0)
}

// sotwOn opens a raw ADS stream on conn. It reads limit responses into
// c.resp (all of them when limit is 0) and then reads no more.
func sotwOn(t *testing.T, conn *grpc.ClientConn, nodeID string, limit int) *sotwClient {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	s, err := discovery.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c := &sotwClient{t: t, stream: s, node: &core.Node{Id: nodeID, Cluster: "test", UserAgentName: "envoy"}, resp: make(chan *discovery.DiscoveryResponse, 100), cancel: cancel}
	go func() {
		for n := 1; limit == 0 || n <= limit; n++ {
			r, err := s.Recv()
			if err != nil {
				close(c.resp)
				return
			}
			c.resp <- r
		}
	}()
	return c
}

func (c *sotwClient) send(req *discovery.DiscoveryRequest) {
	c.t.Helper()
	req.Node = c.node
	if err := c.stream.Send(req); err != nil {
		c.t.Fatal(err)
	}
}

func (c *sotwClient) recv() *discovery.DiscoveryResponse {
	c.t.Helper()
	select {
	case r, ok := <-c.resp:
		if !ok {
			c.t.Fatal("stream closed")
		}
		return r
	case <-time.After(5 * time.Second):
		c.t.Fatal("no response within 5s")
	}
	return nil
}

// quiet asserts that nothing arrives for d: the proof that a NACK or an
// unchanged model is not answered.
func (c *sotwClient) quiet(d time.Duration) {
	c.t.Helper()
	select {
	case r := <-c.resp:
		c.t.Fatalf("unexpected response: type %s version %s", r.TypeUrl, r.VersionInfo)
	case <-time.After(d):
	}
}

func (c *sotwClient) ack(r *discovery.DiscoveryResponse, names ...string) {
	c.send(&discovery.DiscoveryRequest{TypeUrl: r.TypeUrl, VersionInfo: r.VersionInfo, ResponseNonce: r.Nonce, ResourceNames: names})
}

func names(t *testing.T, r *discovery.DiscoveryResponse) []string {
	t.Helper()
	var out []string
	for _, a := range r.Resources {
		m, err := a.UnmarshalNew()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, xdsName(m))
	}
	return out
}

func xdsName(m any) string {
	switch r := m.(type) {
	case interface{ GetClusterName() string }:
		return r.GetClusterName()
	case interface{ GetName() string }:
		return r.GetName()
	}
	return ""
}

// syncEnvoy subscribes the way Envoy does and ACKs everything, returning
// the last response of each type.
func syncEnvoy(t *testing.T, c *sotwClient) map[string]*discovery.DiscoveryResponse {
	t.Helper()
	got := map[string]*discovery.DiscoveryResponse{}
	c.send(&discovery.DiscoveryRequest{TypeUrl: resourcev3.ClusterType})
	cds := c.recv()
	got[cds.TypeUrl] = cds
	c.ack(cds)
	c.send(&discovery.DiscoveryRequest{TypeUrl: resourcev3.EndpointType, ResourceNames: names(t, cds)})
	eds := c.recv()
	got[eds.TypeUrl] = eds
	c.ack(eds, names(t, cds)...)
	c.send(&discovery.DiscoveryRequest{TypeUrl: resourcev3.ListenerType})
	lds := c.recv()
	got[lds.TypeUrl] = lds
	c.ack(lds)
	c.send(&discovery.DiscoveryRequest{TypeUrl: resourcev3.RouteType, ResourceNames: []string{"http_10000"}})
	rds := c.recv()
	got[rds.TypeUrl] = rds
	c.ack(rds, "http_10000")
	c.send(&discovery.DiscoveryRequest{TypeUrl: resourcev3.RuntimeType, ResourceNames: []string{xds.RuntimeLayerName}})
	rt := c.recv()
	got[rt.TypeUrl] = rt
	c.ack(rt, xds.RuntimeLayerName)
	return got
}

func TestSotwSyncAndRouteOnlyChange(t *testing.T) {
	h := newHarness(t, model(20, 40))
	c := h.sotw(t, "envoy-1")
	got := syncEnvoy(t, c)
	if n := names(t, got[resourcev3.ClusterType]); len(n) != 3 {
		t.Fatalf("clusters = %v, want web_v1 web_v2 web_v3", n)
	}
	c.quiet(200 * time.Millisecond)

	// Same model again: nothing is pushed.
	if err := h.cache.SetGeneration(snapshot.NewGeneration(model(20, 40))); err != nil {
		t.Fatal(err)
	}
	c.quiet(200 * time.Millisecond)

	// A weight change pushes routes, and only routes.
	if err := h.cache.SetGeneration(snapshot.NewGeneration(model(50, 40))); err != nil {
		t.Fatal(err)
	}
	r := c.recv()
	if r.TypeUrl != resourcev3.RouteType {
		t.Fatalf("pushed %s, want only routes", r.TypeUrl)
	}
	if r.VersionInfo == got[resourcev3.RouteType].VersionInfo {
		t.Fatal("route version did not change")
	}
	c.ack(r, "http_10000")
	c.quiet(200 * time.Millisecond)

	// A mirror percentage change pushes routes and the runtime layer.
	if err := h.cache.SetGeneration(snapshot.NewGeneration(model(50, 10))); err != nil {
		t.Fatal(err)
	}
	first, second := c.recv(), c.recv()
	if first.TypeUrl != resourcev3.RouteType || second.TypeUrl != resourcev3.RuntimeType {
		t.Fatalf("pushed %s then %s, want routes then runtime", first.TypeUrl, second.TypeUrl)
	}
}

func TestSotwNackIsNotResent(t *testing.T) {
	h := newHarness(t, model(20, 40))
	c := h.sotw(t, "envoy-nack")
	syncEnvoy(t, c)

	if err := h.cache.SetGeneration(snapshot.NewGeneration(model(30, 40))); err != nil {
		t.Fatal(err)
	}
	bad := c.recv()
	prev := bad.VersionInfo
	c.send(&discovery.DiscoveryRequest{
		TypeUrl: bad.TypeUrl, VersionInfo: "previous", ResponseNonce: bad.Nonce, ResourceNames: []string{"http_10000"},
		ErrorDetail: &status.Status{Code: 3, Message: "route: weights rejected"},
	})
	// go-control-plane's SnapshotCache would resend here thousands of
	// times a second.
	c.quiet(300 * time.Millisecond)

	var nack *Nack
	for _, p := range h.registry.Proxies() {
		if p.NodeID == "envoy-nack" {
			nack = p.Types["RouteConfiguration"].LastNack
		}
	}
	if nack == nil || nack.Error != "route: weights rejected" || nack.Version != prev {
		t.Fatalf("registry NACK = %+v, want the rejected version %s with its error", nack, prev)
	}

	// The next change is sent.
	if err := h.cache.SetGeneration(snapshot.NewGeneration(model(40, 40))); err != nil {
		t.Fatal(err)
	}
	if r := c.recv(); r.TypeUrl != resourcev3.RouteType || r.VersionInfo == prev {
		t.Fatalf("after a NACK, a new version must be pushed; got %s %s", r.TypeUrl, r.VersionInfo)
	}
}

func TestSotwSubsetOfNames(t *testing.T) {
	h := newHarness(t, model(20, 40))
	c := h.sotw(t, "grpc-like")
	c.send(&discovery.DiscoveryRequest{TypeUrl: resourcev3.EndpointType, ResourceNames: []string{"web_v2"}})
	r := c.recv()
	if n := names(t, r); len(n) != 1 || n[0] != "web_v2" {
		t.Fatalf("EDS for [web_v2] answered %v", n)
	}
	c.ack(r, "web_v2")
	c.quiet(100 * time.Millisecond)

	// A change to an endpoint the client did not ask for is not pushed.
	m := model(20, 40)
	m.Apps[0].Variants[0].Endpoints = []string{"127.0.0.1:9011"}
	if err := h.cache.SetGeneration(snapshot.NewGeneration(m)); err != nil {
		t.Fatal(err)
	}
	c.quiet(200 * time.Millisecond)
}

func TestDeltaSendsOnlyChanges(t *testing.T) {
	h := newHarness(t, model(20, 40))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := discovery.NewAggregatedDiscoveryServiceClient(h.conn).DeltaAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	node := &core.Node{Id: "delta-1", Cluster: "test", UserAgentName: "envoy"}
	resp := make(chan *discovery.DeltaDiscoveryResponse, 10)
	go func() {
		for {
			r, err := s.Recv()
			if err != nil {
				close(resp)
				return
			}
			resp <- r
		}
	}()
	recv := func() *discovery.DeltaDiscoveryResponse {
		select {
		case r := <-resp:
			return r
		case <-time.After(5 * time.Second):
			t.Fatal("no delta response")
		}
		return nil
	}
	if err := s.Send(&discovery.DeltaDiscoveryRequest{Node: node, TypeUrl: resourcev3.EndpointType, ResourceNamesSubscribe: []string{"web_v1", "web_v2"}}); err != nil {
		t.Fatal(err)
	}
	r := recv()
	if len(r.Resources) != 2 {
		t.Fatalf("initial delta EDS has %d resources, want 2", len(r.Resources))
	}
	s.Send(&discovery.DeltaDiscoveryRequest{TypeUrl: resourcev3.EndpointType, ResponseNonce: r.Nonce})

	m := model(20, 40)
	m.Apps[0].Variants[1].Endpoints = []string{"127.0.0.1:9012"}
	if err := h.cache.SetGeneration(snapshot.NewGeneration(m)); err != nil {
		t.Fatal(err)
	}
	r = recv()
	if len(r.Resources) != 1 || r.Resources[0].Name != "web_v2" {
		t.Fatalf("delta after one endpoint change = %v, want only web_v2", r.Resources)
	}
	// NACK it: nothing comes back.
	s.Send(&discovery.DeltaDiscoveryRequest{TypeUrl: resourcev3.EndpointType, ResponseNonce: r.Nonce, ErrorDetail: &status.Status{Code: 3, Message: "no"}})
	select {
	case r := <-resp:
		t.Fatalf("NACK answered with %v", r.Resources)
	case <-time.After(300 * time.Millisecond):
	}
}

// A proxy that repeats its ACK over and over, or answers with a nonce it
// was never sent, gets nothing back: no resends, no error.
func TestFloodAndWrongNonceAreIgnored(t *testing.T) {
	h := newHarness(t, model(20, 40))
	c := h.sotw(t, "flooder")
	got := syncEnvoy(t, c)
	rds := got[resourcev3.RouteType]
	for range 200 {
		c.ack(rds, "http_10000")
	}
	c.send(&discovery.DiscoveryRequest{TypeUrl: resourcev3.RouteType, VersionInfo: rds.VersionInfo, ResponseNonce: "never-sent", ResourceNames: []string{"http_10000"}})
	c.quiet(300 * time.Millisecond)

	// It still gets the next change, once.
	if err := h.cache.SetGeneration(snapshot.NewGeneration(model(30, 40))); err != nil {
		t.Fatal(err)
	}
	if r := c.recv(); r.TypeUrl != resourcev3.RouteType {
		t.Fatalf("pushed %s, want routes", r.TypeUrl)
	}
	c.quiet(200 * time.Millisecond)
}

// A stream that sends requests far faster than any proxy would is closed
// with ResourceExhausted; the others are not affected.
func TestFloodingStreamIsClosed(t *testing.T) {
	h := newHarness(t, model(20, 40))
	healthy := h.sotw(t, "healthy")
	syncEnvoy(t, healthy)
	flooder := h.sotw(t, "flooder")
	rds := syncEnvoy(t, flooder)[resourcev3.RouteType]
	var err error
	for i := 0; i < 2*MaxRequestsPerSecond && err == nil; i++ {
		req := &discovery.DiscoveryRequest{Node: flooder.node, TypeUrl: rds.TypeUrl, VersionInfo: rds.VersionInfo, ResponseNonce: rds.Nonce, ResourceNames: []string{"http_10000"}}
		err = flooder.stream.Send(req)
	}
	select {
	case _, ok := <-flooder.resp:
		if ok {
			t.Fatal("the flooding stream got a response instead of being closed")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the flooding stream was not closed")
	}
	// The healthy proxy still gets changes.
	if err := h.cache.SetGeneration(snapshot.NewGeneration(model(30, 40))); err != nil {
		t.Fatal(err)
	}
	if r := healthy.recv(); r.TypeUrl != resourcev3.RouteType {
		t.Fatalf("healthy proxy got %s", r.TypeUrl)
	}
}
