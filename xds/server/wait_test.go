package server

import (
	"context"
	"strings"
	"testing"
	"time"

	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/genproto/googleapis/rpc/status"

	"github.com/shadowplane/shadowplane/xds"
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

	if err := h.cache.SetGeneration(xds.NewGeneration(model(30, 40))); err != nil {
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
	if err := h.cache.SetGeneration(xds.NewGeneration(model(30, 40))); err != nil {
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
