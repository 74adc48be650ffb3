package server

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/shadowplane/shadowplane/xds/server/snapshot"
)

// attacker opens a raw ADS stream like sotwOn's, whose reader also hands
// over the error that ends the stream.
func (h *harness) attacker(t *testing.T, nodeID string) (*sotwClient, <-chan error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	s, err := discovery.NewAggregatedDiscoveryServiceClient(h.conn).StreamAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c := &sotwClient{t: t, stream: s, node: &core.Node{Id: nodeID, Cluster: "test", UserAgentName: "envoy"}, resp: make(chan *discovery.DiscoveryResponse, 100), cancel: cancel}
	errc := make(chan error, 1)
	go func() {
		for {
			r, err := s.Recv()
			if err != nil {
				errc <- err
				close(c.resp)
				return
			}
			c.resp <- r
		}
	}()
	return c, errc
}

// deltaAttacker opens a raw delta ADS stream that discards what it is sent
// and hands over the error that ends it; recv has the responses.
func (h *harness) deltaAttacker(t *testing.T) (discovery.AggregatedDiscoveryService_DeltaAggregatedResourcesClient, <-chan *discovery.DeltaDiscoveryResponse, <-chan error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	s, err := discovery.NewAggregatedDiscoveryServiceClient(h.conn).DeltaAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	resp := make(chan *discovery.DeltaDiscoveryResponse, 100)
	errc := make(chan error, 1)
	go func() {
		for {
			r, err := s.Recv()
			if err != nil {
				errc <- err
				return
			}
			resp <- r
		}
	}()
	return s, resp, errc
}

// closedWith asserts that the stream ends with code and a message naming
// limit.
func closedWith(t *testing.T, errc <-chan error, code codes.Code, limit string) {
	t.Helper()
	select {
	case err := <-errc:
		st := status.Convert(err)
		if st.Code() != code || !strings.Contains(st.Message(), limit) {
			t.Fatalf("stream ended with %v, want %v naming %s", err, code, limit)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("stream over %s was not closed", limit)
	}
}

// stillServed asserts that a healthy proxy beside an attacker still gets
// the next change.
func stillServed(t *testing.T, h *harness, healthy *sotwClient) {
	t.Helper()
	if err := h.cache.SetGeneration(snapshot.NewGeneration(model(30, 40))); err != nil {
		t.Fatal(err)
	}
	if r := healthy.recv(); r.TypeUrl != resourcev3.RouteType {
		t.Fatalf("healthy proxy got %s, want routes", r.TypeUrl)
	}
}

// withHealthy is a server with a healthy proxy in sync beside the attacker
// a test brings: stillServed checks it was not disturbed.
func withHealthy(t *testing.T) (*harness, *sotwClient) {
	t.Helper()
	h := newHarness(t, model(20, 40))
	healthy := h.sotw(t, "healthy")
	syncEnvoy(t, healthy)
	return h, healthy
}

func fillers(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%06d", prefix, i)
	}
	return out
}

func unknownType(i int) string { return fmt.Sprintf("type.googleapis.com/test.Unknown%d", i) }

func TestStreamOverTypeLimitIsClosed(t *testing.T) {
	h, healthy := withHealthy(t)

	a, errc := h.attacker(t, "types")
	for i := range MaxTypesPerStream - numTypes {
		a.send(&discovery.DiscoveryRequest{TypeUrl: unknownType(i), ResourceNames: []string{"x"}})
	}
	// The served types make MaxTypesPerStream, and each is answered: the
	// stream is open at the limit.
	syncEnvoy(t, a)
	a.send(&discovery.DiscoveryRequest{TypeUrl: unknownType(MaxTypesPerStream), ResourceNames: []string{"x"}})
	closedWith(t, errc, codes.ResourceExhausted, "MaxTypesPerStream")
	stillServed(t, h, healthy)
}

// Type URLs that share a short name count apart: the delta server keeps
// a watch per full type URL.
func TestDeltaStreamOverTypeLimitIsClosed(t *testing.T) {
	h, healthy := withHealthy(t)

	s, _, errc := h.deltaAttacker(t)
	node := &core.Node{Id: "delta-types", Cluster: "test", UserAgentName: "envoy"}
	for i := range MaxTypesPerStream + 1 {
		req := &discovery.DeltaDiscoveryRequest{Node: node, TypeUrl: fmt.Sprintf("type.googleapis.com/p%d.Same", i), ResourceNamesSubscribe: []string{"x"}}
		if err := s.Send(req); err != nil {
			break // closed already; the status says why
		}
	}
	closedWith(t, errc, codes.ResourceExhausted, "MaxTypesPerStream")
	stillServed(t, h, healthy)
}

func TestSotwRequestOverNameLimitsIsClosed(t *testing.T) {
	t.Run("per request", func(t *testing.T) {
		h, healthy := withHealthy(t)

		a, errc := h.attacker(t, "names")
		// At the limit the request is answered.
		a.send(&discovery.DiscoveryRequest{TypeUrl: resourcev3.EndpointType, ResourceNames: append(fillers("n", MaxNamesPerRequest-1), "web_v1")})
		if r := a.recv(); len(r.Resources) != 1 {
			t.Fatalf("EDS at the name limit answered %d resources, want 1", len(r.Resources))
		}
		a.send(&discovery.DiscoveryRequest{TypeUrl: resourcev3.EndpointType, ResourceNames: fillers("n", MaxNamesPerRequest+1)})
		closedWith(t, errc, codes.ResourceExhausted, "MaxNamesPerRequest")
		stillServed(t, h, healthy)
	})
	t.Run("per stream", func(t *testing.T) {
		h, healthy := withHealthy(t)

		a, errc := h.attacker(t, "names")
		a.send(&discovery.DiscoveryRequest{TypeUrl: resourcev3.EndpointType, ResourceNames: append(fillers("n", MaxNamesPerRequest-1), "web_v1")})
		a.recv()
		// A request replaces its type's names: asking again for as many
		// holds no more.
		a.send(&discovery.DiscoveryRequest{TypeUrl: resourcev3.ClusterType, ResourceNames: append(fillers("c", MaxNamesPerRequest-1), "web_v1")})
		cds := a.recv()
		a.send(&discovery.DiscoveryRequest{TypeUrl: resourcev3.ClusterType, VersionInfo: cds.VersionInfo, ResponseNonce: cds.Nonce, ResourceNames: append(fillers("d", MaxNamesPerRequest-1), "web_v2")})
		if r := a.recv(); r.TypeUrl != resourcev3.ClusterType || names(t, r)[0] != "web_v2" {
			t.Fatalf("CDS for new names answered %s %v", r.TypeUrl, names(t, r))
		}
		// 40,000 held; 20,000 more is over.
		a.send(&discovery.DiscoveryRequest{TypeUrl: unknownType(0), ResourceNames: fillers("u", MaxNamesPerStream-2*MaxNamesPerRequest+1)})
		closedWith(t, errc, codes.ResourceExhausted, "MaxNamesPerStream")
		stillServed(t, h, healthy)
	})
}

func TestDeltaSubscriptionOverNameLimitsIsClosed(t *testing.T) {
	node := &core.Node{Id: "delta-names", Cluster: "test", UserAgentName: "envoy"}
	recv := func(t *testing.T, resp <-chan *discovery.DeltaDiscoveryResponse) *discovery.DeltaDiscoveryResponse {
		t.Helper()
		select {
		case r := <-resp:
			return r
		case <-time.After(5 * time.Second):
			t.Fatal("no delta response")
		}
		return nil
	}
	t.Run("per request", func(t *testing.T) {
		h, healthy := withHealthy(t)

		s, _, errc := h.deltaAttacker(t)
		s.Send(&discovery.DeltaDiscoveryRequest{Node: node, TypeUrl: resourcev3.EndpointType, ResourceNamesSubscribe: fillers("n", MaxNamesPerRequest+1)})
		closedWith(t, errc, codes.ResourceExhausted, "MaxNamesPerRequest")
		stillServed(t, h, healthy)
	})
	t.Run("per stream", func(t *testing.T) {
		h, healthy := withHealthy(t)

		s, resp, errc := h.deltaAttacker(t)
		send := func(typeURL string, names []string) {
			t.Helper()
			if err := s.Send(&discovery.DeltaDiscoveryRequest{Node: node, TypeUrl: typeURL, ResourceNamesSubscribe: names}); err != nil {
				t.Fatal(err)
			}
		}
		// Each request adds a name the server has, so each is answered:
		// proof it was taken.
		send(resourcev3.EndpointType, append(fillers("n", MaxNamesPerRequest-1), "web_v1"))
		recv(t, resp)
		send(resourcev3.ClusterType, append(fillers("c", MaxNamesPerRequest-1), "web_v1"))
		recv(t, resp)
		// Names already held are not counted twice.
		send(resourcev3.EndpointType, append(fillers("n", MaxNamesPerRequest-1), "web_v2"))
		recv(t, resp)
		// 40,001 held; 10,000 more is over.
		send(resourcev3.EndpointType, fillers("m", MaxNamesPerStream-2*MaxNamesPerRequest))
		closedWith(t, errc, codes.ResourceExhausted, "MaxNamesPerStream")
		stillServed(t, h, healthy)
	})
}

func bigNode(t *testing.T, id string) *core.Node {
	t.Helper()
	md, err := structpb.NewStruct(map[string]any{"blob": strings.Repeat("x", MaxNodeBytes)})
	if err != nil {
		t.Fatal(err)
	}
	return &core.Node{Id: id, Cluster: "test", UserAgentName: "envoy", Metadata: md}
}

func TestOversizedNodeIsRefused(t *testing.T) {
	t.Run("sotw", func(t *testing.T) {
		h, healthy := withHealthy(t)

		a, errc := h.attacker(t, "big")
		a.node = bigNode(t, "big")
		a.send(&discovery.DiscoveryRequest{TypeUrl: resourcev3.ClusterType})
		closedWith(t, errc, codes.ResourceExhausted, "MaxNodeBytes")
		// serve logs and counts it, naming the peer.
		ev := <-h.overLimit
		if !strings.HasPrefix(ev.peer, "127.0.0.1:") || ev.nodeID != "big" || status.Code(ev.err) != codes.ResourceExhausted {
			t.Errorf("OnLimit told %+v, want the attacker's address, node id and ResourceExhausted", ev)
		}
		stillServed(t, h, healthy)
	})
	t.Run("delta", func(t *testing.T) {
		h, healthy := withHealthy(t)

		s, _, errc := h.deltaAttacker(t)
		s.Send(&discovery.DeltaDiscoveryRequest{Node: bigNode(t, "big"), TypeUrl: resourcev3.ClusterType})
		closedWith(t, errc, codes.ResourceExhausted, "MaxNodeBytes")
		stillServed(t, h, healthy)
	})
}
