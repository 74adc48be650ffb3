package server

import (
	"context"
	"strings"
	"testing"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/genproto/googleapis/rpc/status"

	"github.com/shadowplane/shadowplane/policy"
	"github.com/shadowplane/shadowplane/xds/server/snapshot"
)

func TestWaitRoutesReturnsOnceEveryProxyACKs(t *testing.T) {
	h := newHarness(t, model(20, 40))
	c := h.sotw(t, "envoy-wait")
	syncEnvoy(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.registry.WaitRoutes(ctx, "web"); err != nil {
		t.Fatalf("in sync, WaitRoutes = %v", err)
	}

	if err := h.cache.SetGeneration(snapshot.NewGeneration(model(30, 40))); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- h.registry.WaitRoutes(ctx, "web") }()
	r := c.recv()
	select {
	case err := <-done:
		t.Fatalf("WaitRoutes returned %v before the proxy ACKed", err)
	case <-time.After(100 * time.Millisecond):
	}
	c.ack(r, "http_10000")
	if err := <-done; err != nil {
		t.Fatalf("after the ACK, WaitRoutes = %v", err)
	}
}

func TestWaitRoutesReportsARejection(t *testing.T) {
	h := newHarness(t, model(20, 40))
	c := h.sotw(t, "envoy-reject")
	syncEnvoy(t, c)
	if err := h.cache.SetGeneration(snapshot.NewGeneration(model(30, 40))); err != nil {
		t.Fatal(err)
	}
	r := c.recv()
	c.send(&discovery.DiscoveryRequest{TypeUrl: r.TypeUrl, VersionInfo: "old", ResponseNonce: r.Nonce, ResourceNames: []string{"http_10000"},
		ErrorDetail: &status.Status{Code: 3, Message: "weights out of range"}})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := h.registry.WaitRoutes(ctx, "web")
	if err == nil || !strings.Contains(err.Error(), "envoy-reject") || !strings.Contains(err.Error(), "weights out of range") {
		t.Fatalf("WaitRoutes = %v, want the proxy's rejection", err)
	}
}

// A delta proxy that subscribes to one route configuration is waited for
// only when that configuration changes.
func TestWaitRoutesDelta(t *testing.T) {
	two := func(w2 uint32) *policy.Model {
		m := model(w2, 40)
		other := model(20, 40).Apps[0] // its own slices
		other.Name, other.Hosts, other.Port = "api", []string{"api.example"}, 10001
		m.Apps = append(m.Apps, other)
		return m
	}
	h := newHarness(t, two(20))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := discovery.NewAggregatedDiscoveryServiceClient(h.conn).DeltaAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	node := &core.Node{Id: "delta-rds", Cluster: "test", UserAgentName: "envoy"}
	if err := s.Send(&discovery.DeltaDiscoveryRequest{Node: node, TypeUrl: resourcev3.RouteType, ResourceNamesSubscribe: []string{"http_10000"}}); err != nil {
		t.Fatal(err)
	}
	acks := make(chan struct{}, 10)
	go func() {
		for {
			r, err := s.Recv()
			if err != nil {
				return
			}
			s.Send(&discovery.DeltaDiscoveryRequest{TypeUrl: r.TypeUrl, ResponseNonce: r.Nonce})
			acks <- struct{}{}
		}
	}()
	<-acks
	if err := h.registry.WaitRoutes(ctx, "web"); err != nil {
		t.Fatal(err)
	}
	// api's routes change; this proxy does not subscribe to them.
	m := two(20)
	m.Apps[1].Routes[0].Split = []policy.Backend{{Variant: "v1", Weight: u32(50)}, {Variant: "v2", Weight: u32(50)}}
	if err := h.cache.SetGeneration(snapshot.NewGeneration(m)); err != nil {
		t.Fatal(err)
	}
	if err := h.registry.WaitRoutes(ctx, "api"); err != nil {
		t.Fatalf("waiting on a change the proxy does not subscribe to: %v", err)
	}
	select {
	case <-acks:
		t.Fatal("the proxy was sent routes it does not subscribe to")
	case <-time.After(200 * time.Millisecond):
	}
	// web's routes change: the proxy must ACK them.
	m2 := two(30)
	m2.Apps[1] = m.Apps[1]
	if err := h.cache.SetGeneration(snapshot.NewGeneration(m2)); err != nil {
		t.Fatal(err)
	}
	if err := h.registry.WaitRoutes(ctx, "web"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-acks:
	default:
		t.Fatal("WaitRoutes returned before the proxy ACKed web's new routes")
	}
}
