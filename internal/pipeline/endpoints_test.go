package pipeline

import (
	"context"
	"sync"
	"testing"
	"time"

	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/shadowplane/shadowplane/policy"
	"github.com/shadowplane/shadowplane/xds"
	"github.com/shadowplane/shadowplane/xds/server/snapshot"
)

// serviceYAML is seed 002's shape: v1 serves, v2 is mirrored to, and both
// take their endpoints from Kubernetes Services.
const serviceYAML = `
kind: App
name: web
port: 10000
variants:
  - name: v1
    service: {name: web-v1, port: http}
  - name: v2
    service: {name: web-v2, port: http}
routes:
  - split: [{variant: v1}]
    mirror: {variant: v2, percent: 100}
`

// table is an endpoint source that a test sets, as the Kubernetes
// source's informers would.
type table struct {
	mu sync.Mutex
	t  policy.EndpointTable
}

func (s *table) Table(refs []policy.ServiceRef) policy.EndpointTable {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := policy.EndpointTable{}
	for _, r := range refs {
		if eps, ok := s.t[r.Key()]; ok {
			out[r.Key()] = eps
		}
	}
	return out
}

func (s *table) set(name string, eps ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.t[policy.ServiceRef{Name: name, Namespace: "default", Port: "http"}] = eps
}

// waitGeneration waits for the stager to be handed generation n
// (1-based).
func (r *recording) waitGeneration(t *testing.T, n int) *snapshot.Generation {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		r.mu.Lock()
		if len(r.gens) >= n {
			g := r.gens[n-1]
			r.mu.Unlock()
			return g
		}
		r.mu.Unlock()
		select {
		case <-r.handed:
		case <-timeout:
			t.Fatalf("generation %d never published", n)
		}
	}
}

func envoySnapshot(t *testing.T, g *snapshot.Generation) *snapshot.Snapshot {
	t.Helper()
	s, err := g.Snapshot(xds.GroupKey{Kind: xds.Envoy})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// The v2 mirror follows v2's endpoints: none, withdrawn; the first one,
// served (a new translation); more, endpoints only (the routes, clusters
// and listeners of the last generation, reused); none again, withdrawn.
func TestEndpointsFollowTheSource(t *testing.T) {
	r := newRig(t, t.TempDir())
	src := &table{t: policy.EndpointTable{}}
	src.set("web-v1", "192.0.2.1:8080")
	r.p.cfg.Endpoints = src
	r.start(t, parse(t, serviceYAML))

	hasV2 := func(s *snapshot.Snapshot) bool {
		_, ok := s.Type(resourcev3.ClusterType).Items[xds.ClusterName("web", "v2")]
		return ok
	}
	n := len(r.staged.gens)
	if s := envoySnapshot(t, r.staged.waitGeneration(t, n)); hasV2(s) {
		t.Fatal("v2 has no endpoints, yet its cluster is served")
	}

	src.set("web-v2", "192.0.2.2:8080")
	r.p.EndpointsChanged()
	n++
	first := envoySnapshot(t, r.staged.waitGeneration(t, n))
	if !hasV2(first) {
		t.Fatal("v2 has an endpoint, and its mirror is not served")
	}

	src.set("web-v2", "192.0.2.2:8080", "192.0.2.3:8080")
	r.p.EndpointsChanged()
	n++
	scaled := envoySnapshot(t, r.staged.waitGeneration(t, n))
	for _, url := range []string{resourcev3.ClusterType, resourcev3.ListenerType, resourcev3.RouteType, resourcev3.RuntimeType} {
		if scaled.Type(url) != first.Type(url) {
			t.Errorf("%s rebuilt for an endpoint change", url)
		}
	}
	cla := scaled.Resources.Endpoints
	if len(cla) != 2 || len(cla[1].Endpoints[0].LbEndpoints) != 2 {
		t.Fatalf("endpoints after the scale-up: %v", cla)
	}

	src.set("web-v2")
	r.p.EndpointsChanged()
	n++
	if s := envoySnapshot(t, r.staged.waitGeneration(t, n)); hasV2(s) {
		t.Fatal("v2 lost its last endpoint, yet its mirror is still served")
	}

	// An unchanged table publishes nothing.
	r.p.refreshEndpoints(context.Background())
	if r.staged.mu.Lock(); len(r.staged.gens) != n {
		t.Errorf("an unchanged table was published again")
	}
	r.staged.mu.Unlock()
}
