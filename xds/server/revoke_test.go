package server

import (
	"context"
	"strings"
	"testing"
	"time"

	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/shadowplane/shadowplane/policy"
	"github.com/shadowplane/shadowplane/xds/server/snapshot"
)

// withIdentities is m with greeter's proxies bound to ids instead.
func withIdentities(m *policy.Model, ids ...string) *policy.Model {
	out := *m
	out.Apps = append([]policy.App(nil), m.Apps...)
	for i := range out.Apps {
		if out.Apps[i].Name == "greeter" {
			out.Apps[i].Proxies.Identities = ids
		}
	}
	return &out
}

// A policy that takes an identity's claim back closes the streams that
// hold it, state of the world and delta, before the new model is served;
// the client is then refused on reconnecting, and streams whose identity
// is still allowed are left alone.
func TestRevokedIdentityLosesItsOpenStreams(t *testing.T) {
	clients := newTestCA(t, "proxy CA")
	m := boundModel("127.0.0.1:9")
	h := startTLS(t, m, clients)
	dial := func(l leaf) credentials.TransportCredentials {
		return credentials.NewTLS(h.clientTLS(t, clients, l))
	}
	front := leaf{SPIFFE: frontID}

	_, sotw, err := firstSotw(t, dialADS(t, h.addr, dial(front)), envoyNode("front-1", "front"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	delta, err := discovery.NewAggregatedDiscoveryServiceClient(dialADS(t, h.addr, dial(front))).DeltaAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := delta.Send(&discovery.DeltaDiscoveryRequest{Node: envoyNode("front-2", "front"), TypeUrl: resourcev3.ClusterType}); err != nil {
		t.Fatal(err)
	}
	if _, err := delta.Recv(); err != nil {
		t.Fatal(err)
	}
	apiClusters, api, err := firstSotw(t, dialADS(t, h.addr, dial(leaf{SPIFFE: apiID})), envoyNode("api-1", "edge"))
	if err != nil {
		t.Fatal(err)
	}

	// The front identity may no longer claim cluster "front". Nothing
	// front's proxies are served changes, so without the revocation
	// their streams would get no push at all and block below until the
	// deadline.
	if err := h.cache.SetGeneration(snapshot.NewGeneration(withIdentities(m, apiID))); err != nil {
		t.Fatal(err)
	}
	for name, recv := range map[string]func() error{
		"sotw":  func() error { _, err := sotw.Recv(); return err },
		"delta": func() error { _, err := delta.Recv(); return err },
	} {
		if err := recv(); status.Code(err) != codes.Unavailable {
			t.Errorf("%s stream of the revoked identity: got %v, want its connection closed (Unavailable)", name, err)
		}
	}
	told := map[string]bool{}
	for range 2 {
		ev := <-h.denied
		told[ev.nodeID] = true
		if msg := status.Convert(ev.err).Message(); !strings.HasPrefix(ev.peer, "127.0.0.1:") || !strings.Contains(msg, "connection closed: the policy changed") || !strings.Contains(msg, frontID) {
			t.Errorf("OnDenied(%q, %q, %q), want the peer and why", ev.peer, ev.nodeID, msg)
		}
	}
	if !told["front-1"] || !told["front-2"] {
		t.Errorf("OnDenied told of %v, want front-1 and front-2", told)
	}

	// Reconnecting, the client is refused on its first request.
	_, _, err = firstSotw(t, dialADS(t, h.addr, dial(front)), envoyNode("front-1", "front"))
	h.wantDenied(t, err, frontID, "front-1")

	// The api proxy, still allowed, keeps its stream: it is answered.
	if err := api.Send(&discovery.DiscoveryRequest{TypeUrl: resourcev3.ClusterType, VersionInfo: apiClusters.GetVersionInfo(), ResponseNonce: apiClusters.GetNonce()}); err != nil {
		t.Fatal(err)
	}
	if err := api.Send(&discovery.DiscoveryRequest{TypeUrl: resourcev3.ListenerType}); err != nil {
		t.Fatal(err)
	}
	if resp, err := api.Recv(); err != nil || resp.GetTypeUrl() != resourcev3.ListenerType {
		t.Fatalf("api stream after the change: %v, %v; want its listeners", resp, err)
	}
}

// Every node a stream has claimed is checked again, not only its first:
// a stream that claimed an unbound node, then a bound one, loses its
// connection when the bound one is revoked.
func TestRevocationChecksEveryNodeAStreamClaimed(t *testing.T) {
	clients := newTestCA(t, "proxy CA")
	m := boundModel("127.0.0.1:9")
	h := startTLS(t, m, clients)
	conn := dialADS(t, h.addr, credentials.NewTLS(h.clientTLS(t, clients, leaf{SPIFFE: frontID})))
	resp, s, err := firstSotw(t, conn, envoyNode("x-1", "edge"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(&discovery.DiscoveryRequest{Node: envoyNode("front-7", "front"), TypeUrl: resourcev3.ClusterType, VersionInfo: resp.GetVersionInfo(), ResponseNonce: resp.GetNonce()}); err != nil {
		t.Fatal(err)
	}
	// The second node is allowed: front's group has other clusters, which
	// the stream is sent — its claim is recorded before that answer.
	if resp, err := s.Recv(); err != nil || len(resp.GetResources()) == 0 {
		t.Fatalf("after claiming front-7: %v, %v; want front's clusters", resp, err)
	}
	if err := h.cache.SetGeneration(snapshot.NewGeneration(withIdentities(m, apiID))); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Recv(); status.Code(err) != codes.Unavailable {
		t.Fatalf("stream ended with %v, want its connection closed", err)
	}
	if ev := <-h.denied; ev.nodeID != "front-7" {
		t.Errorf("OnDenied told of node %q, want front-7", ev.nodeID)
	}
}

// From the moment a generation is enforced — before it is served — a new
// claim is checked against its bindings: a client reconnecting at once
// after a revocation cannot slip in under the old ones.
func TestClaimsAreCheckedAgainstTheGenerationAboutToBeServed(t *testing.T) {
	clients := newTestCA(t, "proxy CA")
	m := boundModel("127.0.0.1:9")
	h := startTLS(t, m, clients)
	// What the cache does under its lock before it swaps generations,
	// without the swap: the old generation is still the one served.
	h.cache.mu.Lock()
	report := h.registry.enforce(snapshot.NewGeneration(withIdentities(m, apiID)))
	h.cache.mu.Unlock()
	report()
	_, _, err := firstSotw(t, dialADS(t, h.addr, credentials.NewTLS(h.clientTLS(t, clients, leaf{SPIFFE: frontID}))), envoyNode("front-1", "front"))
	h.wantDenied(t, err, frontID, "front-1")
}
