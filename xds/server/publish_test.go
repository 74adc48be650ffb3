package server

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/shadowplane/shadowplane/policy"
	"github.com/shadowplane/shadowplane/xds/server/snapshot"
)

// event is one response a probe received: its type and the names it
// carried (state of the world: all it holds; delta: what it added or
// changed, and what it removed).
type event struct {
	typeURL        string
	names, removed []string
}

// probe is a proxy that ACKs everything, subscribes as Envoy does, and
// records the order things reach it.
type probe struct {
	mu     sync.Mutex
	events []event
	// notify is signalled after each event.
	notify chan struct{}
}

func newProbe() *probe { return &probe{notify: make(chan struct{}, 1000)} }

func (p *probe) record(e event) {
	p.mu.Lock()
	p.events = append(p.events, e)
	p.mu.Unlock()
	p.notify <- struct{}{}
}

// waitFor waits until an event from index from on satisfies f, returning
// its index.
func (p *probe) waitFor(t *testing.T, what string, from int, f func(event) bool) int {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		p.mu.Lock()
		for i, e := range p.events {
			if i >= from && f(e) {
				p.mu.Unlock()
				return i
			}
		}
		p.mu.Unlock()
		select {
		case <-p.notify:
		case <-deadline:
			t.Fatalf("never received %s; received %+v", what, p.snapshot())
		}
	}
}

func (p *probe) snapshot() []event {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.events)
}

// sotwProbe runs a state-of-the-world probe on the harness.
func sotwProbe(t *testing.T, h *harness, nodeID string) *probe {
	p := newProbe()
	c := h.sotw(t, nodeID)
	c.send(&discovery.DiscoveryRequest{TypeUrl: resourcev3.ClusterType})
	c.send(&discovery.DiscoveryRequest{TypeUrl: resourcev3.ListenerType})
	c.send(&discovery.DiscoveryRequest{TypeUrl: resourcev3.RouteType, ResourceNames: []string{"http_10000"}})
	go func() {
		var eds *discovery.DiscoveryResponse // the last endpoints, whose nonce a new subscription carries
		for r := range c.resp {
			ns := names(t, r)
			p.record(event{typeURL: r.TypeUrl, names: ns})
			switch r.TypeUrl {
			case resourcev3.ClusterType:
				// Envoy asks for the clusters' endpoints, then ACKs.
				req := &discovery.DiscoveryRequest{Node: c.node, TypeUrl: resourcev3.EndpointType, ResourceNames: ns}
				if eds != nil {
					req.VersionInfo, req.ResponseNonce = eds.VersionInfo, eds.Nonce
				}
				c.stream.Send(req)
				c.stream.Send(&discovery.DiscoveryRequest{Node: c.node, TypeUrl: r.TypeUrl, VersionInfo: r.VersionInfo, ResponseNonce: r.Nonce})
			case resourcev3.EndpointType:
				eds = r
				c.stream.Send(&discovery.DiscoveryRequest{Node: c.node, TypeUrl: r.TypeUrl, VersionInfo: r.VersionInfo, ResponseNonce: r.Nonce, ResourceNames: ns})
			case resourcev3.RouteType:
				c.stream.Send(&discovery.DiscoveryRequest{Node: c.node, TypeUrl: r.TypeUrl, VersionInfo: r.VersionInfo, ResponseNonce: r.Nonce, ResourceNames: []string{"http_10000"}})
			default:
				c.stream.Send(&discovery.DiscoveryRequest{Node: c.node, TypeUrl: r.TypeUrl, VersionInfo: r.VersionInfo, ResponseNonce: r.Nonce})
			}
		}
	}()
	return p
}

// deltaProbe runs an incremental probe on the harness.
func deltaProbe(t *testing.T, h *harness, nodeID string) *probe {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	s, err := discovery.NewAggregatedDiscoveryServiceClient(h.conn).DeltaAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	node := &core.Node{Id: nodeID, Cluster: "test", UserAgentName: "envoy"}
	p := newProbe()
	s.Send(&discovery.DeltaDiscoveryRequest{Node: node, TypeUrl: resourcev3.ClusterType})
	s.Send(&discovery.DeltaDiscoveryRequest{Node: node, TypeUrl: resourcev3.ListenerType})
	s.Send(&discovery.DeltaDiscoveryRequest{Node: node, TypeUrl: resourcev3.RouteType, ResourceNamesSubscribe: []string{"http_10000"}})
	go func() {
		for {
			r, err := s.Recv()
			if err != nil {
				return
			}
			var ns []string
			for _, res := range r.Resources {
				ns = append(ns, res.Name)
			}
			p.record(event{typeURL: r.TypeUrl, names: ns, removed: r.RemovedResources})
			if r.TypeUrl == resourcev3.ClusterType {
				// Envoy subscribes to a new cluster's endpoints as it takes it.
				s.Send(&discovery.DeltaDiscoveryRequest{Node: node, TypeUrl: resourcev3.EndpointType, ResourceNamesSubscribe: ns, ResourceNamesUnsubscribe: r.RemovedResources})
			}
			s.Send(&discovery.DeltaDiscoveryRequest{Node: node, TypeUrl: r.TypeUrl, ResponseNonce: r.Nonce})
		}
	}()
	return p
}

func has(list []string, name string) bool {
	return slices.ContainsFunc(list, func(s string) bool { return strings.Contains(s, name) })
}

// routesName reports whether a route response carries a route to
// cluster (the resources' names are route configurations, so look at the
// clusters they name through the harness's snapshot instead): the probe
// records route events; which generation they came from is told by the
// cluster events around them.
func isType(typeURL string) func(event) bool {
	return func(e event) bool { return e.typeURL == typeURL }
}

// Adding a variant: every proxy, either protocol, has the new cluster and
// its endpoints before any route names it. Removing one: routes move off
// it before the cluster goes. A probe records the order.
func TestStagedPublishMakesBeforeBreak(t *testing.T) {
	for _, protocol := range []string{"sotw", "delta"} {
		t.Run(protocol, func(t *testing.T) {
			h := newHarness(t, model(20, 40))
			pub := NewPublisher(h.cache, h.registry)
			t.Cleanup(pub.Close)
			newProbeFor := sotwProbe
			if protocol == "delta" {
				newProbeFor = deltaProbe
			}
			p := newProbeFor(t, h, "probe-1")
			p.waitFor(t, "the first routes", 0, isType(resourcev3.RouteType))
			start := len(p.snapshot())

			// Add v4 and route 10 % to it.
			m := model(20, 40)
			app := &m.Apps[0]
			app.Variants = append(app.Variants, policy.Variant{Name: "v4", Endpoints: []string{"127.0.0.1:9004"}})
			app.Routes[0].Split = append(app.Routes[0].Split, policy.Backend{Variant: "v4", Weight: u32(10)})
			app.Routes[0].Split[0].Weight = u32(70)
			if err := pub.Publish(context.Background(), snapshot.NewGeneration(m)); err != nil {
				t.Fatal(err)
			}
			cds := p.waitFor(t, "clusters with v4", start, func(e event) bool { return e.typeURL == resourcev3.ClusterType && has(e.names, "web_v4") })
			eds := p.waitFor(t, "endpoints of v4", start, func(e event) bool { return e.typeURL == resourcev3.EndpointType && has(e.names, "web_v4") })
			rds := p.waitFor(t, "routes after the change", start, isType(resourcev3.RouteType))
			if rds < cds || rds < eds {
				t.Fatalf("routes (event %d) before the new cluster (%d) or its endpoints (%d): %+v", rds, cds, eds, p.snapshot()[start:])
			}
			start = len(p.snapshot())

			// Remove v2 (and its share): the routes first.
			m2 := model(20, 40)
			app = &m2.Apps[0]
			app.Variants = append(app.Variants, policy.Variant{Name: "v4", Endpoints: []string{"127.0.0.1:9004"}})
			app.Variants = slices.DeleteFunc(app.Variants, func(v policy.Variant) bool { return v.Name == "v2" })
			app.Routes[0].Split = []policy.Backend{{Variant: "v1", Weight: u32(90)}, {Variant: "v4", Weight: u32(10)}}
			if err := pub.Publish(context.Background(), snapshot.NewGeneration(m2)); err != nil {
				t.Fatal(err)
			}
			rds = p.waitFor(t, "routes without v2", start, isType(resourcev3.RouteType))
			gone := p.waitFor(t, "clusters without v2", start, func(e event) bool {
				if e.typeURL != resourcev3.ClusterType {
					return false
				}
				if protocol == "delta" {
					return has(e.removed, "web_v2")
				}
				return !has(e.names, "web_v2")
			})
			if gone < rds {
				t.Fatalf("the cluster of v2 went (event %d) before the routes moved off it (%d): %+v", gone, rds, p.snapshot()[start:])
			}
		})
	}
}
