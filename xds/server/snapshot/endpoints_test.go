package snapshot

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/shadowplane/shadowplane/policy"
	"github.com/shadowplane/shadowplane/xds"
)

// serviceModel is benchModel(n) with every v2 taken from a Service, and
// the table giving each Service `pods` endpoints.
func serviceModel(n, pods int) (*policy.Model, policy.EndpointTable) {
	m := benchModel(n)
	t := policy.EndpointTable{}
	for i := range m.Apps {
		ref := policy.ServiceRef{Name: m.Apps[i].Name + "-v2", Port: "http"}
		m.Apps[i].Variants[1] = policy.Variant{Name: "v2", Service: &ref}
		for p := range pods {
			t[ref.Key()] = append(t[ref.Key()], fmt.Sprintf("10.%d.%d.%d:8080", i/256%256, i%256, 10+p))
		}
	}
	return m, t
}

// An endpoint change served by WithEndpoints is, type by type, exactly
// what translating the whole model gives; only the endpoints' version
// moves.
func TestWithEndpointsEqualsFullTranslation(t *testing.T) {
	m, table := serviceModel(20, 2)
	keys := []xds.GroupKey{{Kind: xds.Envoy}, {Kind: xds.GRPC}}
	prev := NewGeneration(m.WithEndpoints(table))
	before := map[xds.GroupKey]*Snapshot{}
	for _, key := range keys {
		s, err := prev.Snapshot(key)
		if err != nil {
			t.Fatal(err)
		}
		before[key] = s
	}

	_, scaled := serviceModel(20, 5) // every v2 scaled from 2 pods to 5
	next := m.WithEndpoints(scaled)
	if fmt.Sprint(m.Availability(table)) != fmt.Sprint(m.Availability(scaled)) {
		t.Fatal("test setup: availability changed")
	}
	eds := WithEndpoints(prev, next)
	full := NewGeneration(next)
	for _, key := range keys {
		got, err := eds.Snapshot(key)
		if err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		want, err := full.Snapshot(key)
		if err != nil {
			t.Fatal(err)
		}
		if got.Version != want.Version {
			t.Errorf("%s: version %s, full translation %s", key, got.Version, want.Version)
		}
		for _, url := range PushOrder {
			g, w, b := got.Type(url), want.Type(url), before[key].Type(url)
			if g.Version != w.Version {
				t.Errorf("%s %s: version %s, full translation %s", key, url, g.Version, w.Version)
			}
			if changed := g.Version != b.Version; changed != (url == PushOrder[1] && len(g.Names) > 0) {
				t.Errorf("%s %s: changed=%v; only the endpoints should", key, url, changed)
			}
		}
		if got.Type(PushOrder[2]) != before[key].Type(PushOrder[2]) {
			t.Errorf("%s: listeners rebuilt, not reused", key)
		}
	}
}

// A model whose routing differs from the previous generation's (a
// variant that lost its last endpoint: its mirror is withdrawn) is
// refused, not served half old, half new.
func TestWithEndpointsRefusesRoutingChange(t *testing.T) {
	m, table := serviceModel(3, 1)
	prev := NewGeneration(m.WithEndpoints(table))
	if _, err := prev.Snapshot(xds.GroupKey{Kind: xds.Envoy}); err != nil {
		t.Fatal(err)
	}
	// The dark variant is mirrored to; take it from a Service with no
	// endpoints.
	ref := policy.ServiceRef{Name: "dark"}
	changed := *m
	changed.Apps = append([]policy.App(nil), m.Apps...)
	changed.Apps[0].Variants = append([]policy.Variant(nil), m.Apps[0].Variants...)
	changed.Apps[0].Variants[2] = policy.Variant{Name: "dark", Service: &ref}
	_, err := WithEndpoints(prev, changed.WithEndpoints(table)).Snapshot(xds.GroupKey{Kind: xds.Envoy})
	if err == nil || !strings.Contains(err.Error(), "routing changed") {
		t.Fatalf("err %v, want a refusal naming a routing change", err)
	}
}

// A group the previous generation had not built is translated whole.
func TestWithEndpointsTranslatesUnbuiltGroups(t *testing.T) {
	m, table := serviceModel(3, 1)
	prev := NewGeneration(m.WithEndpoints(table))
	_, scaled := serviceModel(3, 2)
	got, err := WithEndpoints(prev, m.WithEndpoints(scaled)).Snapshot(xds.GroupKey{Kind: xds.GRPC})
	if err != nil {
		t.Fatal(err)
	}
	want, _ := NewGeneration(m.WithEndpoints(scaled)).Snapshot(xds.GroupKey{Kind: xds.GRPC})
	if got.Version != want.Version {
		t.Fatalf("version %s, want %s", got.Version, want.Version)
	}
}

// BenchmarkEndpointChange is the cost of one Service's endpoints changing
// (a pod added) in an n-app model, for one Envoy group: the whole
// translation (full) against endpoints only (eds).
func BenchmarkEndpointChange(b *testing.B) {
	for _, n := range []int{100, 1000, 10000} {
		m, table := serviceModel(n, 3)
		prev := NewGeneration(m.WithEndpoints(table))
		if _, err := prev.Snapshot(xds.GroupKey{Kind: xds.Envoy}); err != nil {
			b.Fatal(err)
		}
		scaled := maps.Clone(table)
		one := policy.ServiceRef{Name: m.Apps[n/2].Name + "-v2", Port: "http"}.Key()
		scaled[one] = append(slices.Clone(scaled[one]), "10.255.255.1:8080") // one Service scaled up
		next := m.WithEndpoints(scaled)
		b.Run(fmt.Sprintf("apps=%d/full", n), func(b *testing.B) {
			for b.Loop() {
				if _, err := NewGeneration(next).Snapshot(xds.GroupKey{Kind: xds.Envoy}); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("apps=%d/eds", n), func(b *testing.B) {
			for b.Loop() {
				if _, err := WithEndpoints(prev, next).Snapshot(xds.GroupKey{Kind: xds.Envoy}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
