package server

import (
	"fmt"
	"slices"
	"testing"
	"time"

	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/shadowplane/shadowplane/policy"
	"github.com/shadowplane/shadowplane/xds/server/snapshot"
)

func TestSubscriptionWildcardRules(t *testing.T) {
	steps := []struct {
		names    []string
		changes  bool
		wildcard bool
		want     []string
	}{
		{nil, true, true, nil},                                // legacy wildcard
		{nil, false, true, nil},                               // still
		{[]string{"b", "a"}, true, false, []string{"a", "b"}}, // names end it
		{[]string{"a", "b", "a"}, false, false, []string{"a", "b"}},
		{nil, true, false, []string{}},        // and no names is then none
		{[]string{"*", "a"}, true, true, nil}, // explicit wildcard
		{[]string{"a"}, true, false, []string{"a"}},
	}
	sets := newNameSets()
	var s subscription
	for i, st := range steps {
		if s.same(st.names) == st.changes {
			t.Fatalf("step %d %v: change = %v, want %v", i, st.names, !st.changes, st.changes)
		}
		s.update(st.names, sets)
		if !s.same(st.names) {
			t.Fatalf("step %d %v: the same names again are taken for a change", i, st.names)
		}
		if got := s.names == nil; got != st.wildcard {
			t.Fatalf("step %d %v: wildcard = %v, want %v", i, st.names, got, st.wildcard)
		}
		if s.names != nil && !slices.Equal(s.names.Names, st.want) {
			t.Fatalf("step %d %v: names = %v, want %v", i, st.names, s.names.Names, st.want)
		}
	}
	var first subscription
	first.update([]string{"x"}, sets)
	if first.names == nil || !slices.Equal(first.names.Names, []string{"x"}) {
		t.Fatalf("a first request with names subscribes to them, got %+v", first.names)
	}
}

// Streams that ask for the same names, in any order, share one list, which
// goes when the last of them lets go.
func TestNameSetsAreShared(t *testing.T) {
	sets := newNameSets()
	var a, b subscription
	a.update([]string{"y", "x"}, sets)
	b.update([]string{"x", "y", "x"}, sets)
	if a.names != b.names || sets.size() != 1 {
		t.Fatalf("not shared: %p %p, %d lists", a.names, b.names, sets.size())
	}
	a.update([]string{"z"}, sets)
	if sets.size() != 2 {
		t.Fatalf("%d lists, want [x y] and [z]", sets.size())
	}
	sets.release(b.names)
	sets.release(a.names)
	if sets.size() != 0 {
		t.Fatalf("%d lists left after every release", sets.size())
	}
}

// A change that adds a cluster and routes to it reaches a stream cluster
// first, and routes only once the proxy has ACKed the clusters: make
// before break, even for a proxy slow to take the clusters.
func TestPushOrderOnOneStream(t *testing.T) {
	h := newHarness(t, model(20, 40))
	c := h.sotw(t, "envoy-1")
	syncEnvoy(t, c)

	m := model(20, 40)
	app := &m.Apps[0]
	app.Variants = append(app.Variants, policy.Variant{Name: "v4", Endpoints: []string{"127.0.0.1:9004"}})
	app.Routes[0].Split = append(app.Routes[0].Split, policy.Backend{Variant: "v4", Weight: u32(10)})
	app.Routes[0].Split[0].Weight = u32(70)
	if err := h.cache.SetGeneration(snapshot.NewGeneration(m)); err != nil {
		t.Fatal(err)
	}
	cds := c.recv()
	if cds.TypeUrl != resourcev3.ClusterType {
		t.Fatalf("pushed %s first, want clusters", cds.TypeUrl)
	}
	c.quiet(300 * time.Millisecond) // routes wait for the clusters' ACK
	c.ack(cds)
	if r := c.recv(); r.TypeUrl != resourcev3.RouteType {
		t.Fatalf("pushed %s after the clusters' ACK, want routes", r.TypeUrl)
	} else {
		c.ack(r, "http_10000")
	}

	// Endpoints, which Envoy needs before it ACKs new clusters, are not
	// held: the proxy asks for the new cluster's endpoints while the
	// clusters are still unanswered, and gets them.
	m.Apps[0].Variants = append(m.Apps[0].Variants, policy.Variant{Name: "v5", Endpoints: []string{"127.0.0.1:9005"}})
	m.Apps[0].Routes[0].Split = append(m.Apps[0].Routes[0].Split, policy.Backend{Variant: "v5", Weight: u32(1)})
	if err := h.cache.SetGeneration(snapshot.NewGeneration(m)); err != nil {
		t.Fatal(err)
	}
	cds = c.recv()
	if cds.TypeUrl != resourcev3.ClusterType {
		t.Fatalf("pushed %s first, want clusters", cds.TypeUrl)
	}
	eds := names(t, cds)
	c.send(&discovery.DiscoveryRequest{TypeUrl: resourcev3.EndpointType, ResourceNames: eds, ResponseNonce: edsNonce(t, h, "envoy-1")})
	if r := c.recv(); r.TypeUrl != resourcev3.EndpointType || len(r.Resources) != len(eds) {
		t.Fatalf("got %s with %d resources, want the %d clusters' endpoints", r.TypeUrl, len(r.Resources), len(eds))
	} else {
		c.ack(r, eds...)
	}
	c.ack(cds)
	if r := c.recv(); r.TypeUrl != resourcev3.RouteType {
		t.Fatalf("pushed %s after the clusters' ACK, want routes", r.TypeUrl)
	} else {
		c.ack(r, "http_10000")
	}

	// Removing clusters holds nothing back: the routes moving off them
	// follow the clusters at once, without waiting for an ACK.
	if err := h.cache.SetGeneration(snapshot.NewGeneration(model(20, 40))); err != nil {
		t.Fatal(err)
	}
	var order []string
	for range 3 {
		order = append(order, c.recv().TypeUrl)
	}
	if !slices.Equal(order, []string{resourcev3.ClusterType, resourcev3.EndpointType, resourcev3.RouteType}) {
		t.Fatalf("pushed %v, want clusters, endpoints, routes", order)
	}
}

// edsNonce is the nonce of the last endpoints response the registry saw
// sent to node.
func edsNonce(t *testing.T, h *harness, node string) string {
	t.Helper()
	for _, p := range h.registry.Proxies() {
		if p.NodeID == node {
			return p.Types["ClusterLoadAssignment"].SentNonce
		}
	}
	t.Fatalf("no proxy %s", node)
	return ""
}

// bigModel has n apps, so that one response is far larger than gRPC's
// 64 KiB write quota and flow-control window.
func bigModel(n int, w2 uint32) *policy.Model {
	m := &policy.Model{}
	for i := range n {
		a := model(w2, 40).Apps[0]
		a.Name = fmt.Sprintf("app-%04d", i)
		a.Hosts = []string{a.Name + ".example"}
		m.Apps = append(m.Apps, a)
	}
	return m
}

// A proxy that stops reading must not hold up the others: changes keep
// reaching healthy proxies, and SetGeneration does not wait for it. The
// stalled proxy has a small fixed window and responses far larger than
// it. Every other change removes a cluster, so clusters, endpoints and
// routes are all due at once: gRPC takes the clusters and then, its write
// quota spent, would block a writer on the endpoints — which is why the
// fan-out writes only what gRPC takes without blocking and leaves the rest
// to the stream's handler. (A change that adds a cluster would not show
// it: routes then wait for the clusters' ACK anyway.)
func TestStalledClientDoesNotHoldOthers(t *testing.T) {
	h := newHarness(t, bigModel(300, 10))
	stalled := h.stalled(t)
	healthy := h.sotw(t, "healthy")
	syncEnvoy(t, healthy)

	for i := range 10 {
		m := bigModel(300, uint32(11+i))
		if i%2 == 0 { // and no mirror, so one cluster fewer
			m.Apps[0].Routes[0].Mirror = nil
		}
		done := make(chan error, 1)
		go func() { done <- h.cache.SetGeneration(snapshot.NewGeneration(m)) }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("change %d: SetGeneration waits for the stalled proxy", i)
		}
		for {
			r := healthy.recv()
			healthy.ackAsEnvoy(r)
			if r.TypeUrl == resourcev3.RouteType {
				break
			}
		}
	}

	// Once the stalled proxy goes, so do its stream and writer.
	stalled.cancel()
	waitFor(t, func() bool { return len(h.registry.Proxies()) == 1 })
}

// ackAsEnvoy ACKs r with the subscription Envoy keeps: clusters and
// listeners by wildcard, the rest by the names it was sent.
func (c *sotwClient) ackAsEnvoy(r *discovery.DiscoveryResponse) {
	if r.TypeUrl == resourcev3.ClusterType || r.TypeUrl == resourcev3.ListenerType {
		c.ack(r)
		return
	}
	c.ack(r, names(c.t, r)...)
}

// stalled is a proxy that syncs as Envoy does over a connection with a
// small fixed window, and then reads nothing more.
func (h *harness) stalled(t *testing.T) *sotwClient {
	t.Helper()
	conn, err := grpc.NewClient(h.addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithInitialWindowSize(64<<10), grpc.WithInitialConnWindowSize(64<<10))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c := sotwOn(t, conn, "stalled", 5) // reads its initial five responses, then stops
	syncEnvoy(t, c)
	return c
}

// size is the number of distinct lists held.
func (t *nameSets) size() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.sets)
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Proxies of one group share their subscriptions' lists, and a closed
// stream lets go of its own.
func TestStreamsShareAndReleaseNames(t *testing.T) {
	h := newHarness(t, model(20, 40))
	a, b := h.sotw(t, "a"), h.sotw(t, "b")
	syncEnvoy(t, a)
	syncEnvoy(t, b)
	// EDS by cluster names, RDS and RTDS by name: three lists for two
	// proxies.
	if n := h.cache.names.size(); n != 3 {
		t.Fatalf("%d name lists held, want 3", n)
	}
	a.cancel()
	b.cancel()
	waitFor(t, func() bool { return len(h.registry.Proxies()) == 0 })
	if n := h.cache.names.size(); n != 0 {
		t.Fatalf("%d name lists held after every stream closed", n)
	}
}

// A stream that ends on the server's side — here a request without a type
// URL — while a push to it is pending and its client has stopped reading
// must still end: no goroutine may be left waiting in Send, which would
// keep the handler from returning.
func TestStreamEndsWhileItsClientStalls(t *testing.T) {
	h := newHarness(t, bigModel(300, 10))
	stalled := h.stalled(t)

	// One cluster fewer: clusters (200 KB, more than gRPC's write quota
	// and the window), endpoints and routes, all due at once.
	m := bigModel(300, 11)
	m.Apps[0].Routes[0].Mirror = nil
	if err := h.cache.SetGeneration(snapshot.NewGeneration(m)); err != nil {
		t.Fatal(err)
	}
	if err := stalled.stream.Send(&discovery.DiscoveryRequest{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return len(h.registry.Proxies()) == 0 })
}

// A stale request — its nonce is not the last one sent — is ignored
// whole, its names included, as go-control-plane's server does.
func TestStaleRequestLeavesSubscription(t *testing.T) {
	h := newHarness(t, model(20, 40))
	c := h.sotw(t, "stale")
	syncEnvoy(t, c)
	c.send(&discovery.DiscoveryRequest{TypeUrl: resourcev3.RouteType, ResponseNonce: "never-sent", ResourceNames: []string{"other"}})
	c.quiet(200 * time.Millisecond)
	ps := h.registry.Proxies()
	if len(ps) != 1 {
		t.Fatalf("%d proxies", len(ps))
	}
	if got := ps[0].Types["RouteConfiguration"].Names; !slices.Equal(got, []string{"http_10000"}) {
		t.Fatalf("route names = %v after a stale request, want [http_10000]", got)
	}
}

func TestAdds(t *testing.T) {
	shared := []string{"a", "b"}
	for _, tc := range []struct {
		names, acked []string
		want         bool
	}{
		{nil, nil, false},
		{[]string{"a"}, nil, true},
		{shared, shared, false},
		{[]string{"a", "b"}, []string{"a", "b", "c"}, false},
		{[]string{"a", "c"}, []string{"a", "b"}, true},
		{[]string{"b"}, []string{"a", "c"}, true},
		{[]string{"0"}, []string{"a"}, true},
	} {
		if got := adds(tc.names, tc.acked); got != tc.want {
			t.Errorf("adds(%v, %v) = %v, want %v", tc.names, tc.acked, got, tc.want)
		}
	}
}
