package xds

import (
	"testing"

	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"
)

// envoyRoutes translates an example for Envoy and returns its routes.
func envoyRoutes(t *testing.T, example string) ([]*route.Route, *Resources) {
	t.Helper()
	m := loadModel(t, "../examples/"+example+"/app.yaml")
	res, err := Translate(m.Apps, Envoy)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Routes) != 1 || len(res.Routes[0].VirtualHosts) != 1 {
		t.Fatalf("%s: want one route configuration with one virtual host, got %v", example, res.Routes)
	}
	return res.Routes[0].VirtualHosts[0].Routes, res
}

func mirrorFraction(t *testing.T, r *route.Route) *typev3.FractionalPercent {
	t.Helper()
	ps := r.GetRoute().GetRequestMirrorPolicies()
	if len(ps) != 1 {
		t.Fatalf("route %s has %d mirror policies, want 1", r.Name, len(ps))
	}
	return ps[0].GetRuntimeFraction().GetDefaultValue()
}

// Seeds 000/001 (Iter8 conformance with mirroring): all live traffic to
// v1, 40% mirrored to the dark v2 — Istio renders mirrorPercent 40 as
// 400000/MILLION, and so do we.
func TestSeedMirroring40(t *testing.T) {
	routes, _ := envoyRoutes(t, "mirroring")
	if got := routes[0].GetRoute().GetCluster(); got != "sample-app_v1" {
		t.Errorf("live cluster %q, want sample-app_v1", got)
	}
	want := &typev3.FractionalPercent{Numerator: 400000, Denominator: typev3.FractionalPercent_MILLION}
	if diff := cmp.Diff(want, mirrorFraction(t, routes[0]), protocmp.Transform()); diff != "" {
		t.Error(diff)
	}
	if p := routes[0].GetRoute().GetRequestMirrorPolicies()[0]; p.Cluster != "sample-app_v2" || !p.DisableShadowHostSuffixAppend {
		t.Errorf("mirror policy %v: want cluster sample-app_v2 with the -shadow suffix off", p)
	}
}

// Seed 003 (Iter8 progressive canary with segmentation): country: wakanda
// split v1 100 / v2 0, everyone else on v1.
func TestSeedCanarySegment(t *testing.T) {
	routes, res := envoyRoutes(t, "canary-segment")
	if len(routes) != 2 {
		t.Fatalf("%d routes, want wakanda then default", len(routes))
	}
	h := routes[0].GetMatch().GetHeaders()
	if len(h) != 1 || h[0].Name != "country" || h[0].GetStringMatch().GetExact() != "wakanda" {
		t.Errorf("first route matches %v, want country: wakanda", h)
	}
	wc := routes[0].GetRoute().GetWeightedClusters().GetClusters()
	got := map[string]uint32{}
	for _, c := range wc {
		got[c.Name] = c.Weight.GetValue()
	}
	if diff := cmp.Diff(map[string]uint32{"sample-app_v1": 100, "sample-app_v2": 0}, got); diff != "" {
		t.Errorf("wakanda split: %s", diff)
	}
	if routes[1].GetRoute().GetCluster() != "sample-app_v1" || len(routes[1].GetMatch().GetHeaders()) != 0 {
		t.Errorf("default route %v, want everyone else on v1", routes[1])
	}
	// The zero-weight candidate stays in CDS, warm for the first step.
	if len(res.Clusters) != 2 {
		t.Errorf("%d clusters, want v1 and v2", len(res.Clusters))
	}
}

// Seed 004 (Istio mirroring article): 100% mirroring.
func TestSeedMirrorFull(t *testing.T) {
	routes, _ := envoyRoutes(t, "mirror-full")
	if n := mirrorFraction(t, routes[0]).GetNumerator(); n != 1000000 {
		t.Errorf("numerator %d, want 1000000 (100%%)", n)
	}
}

// Seed 002 (Iter8 auto-mirroring): the mirror exists only while v2 has
// endpoints.
func TestSeedAutoMirror(t *testing.T) {
	routes, res := envoyRoutes(t, "auto-mirror")
	if ps := routes[0].GetRoute().GetRequestMirrorPolicies(); len(ps) != 0 {
		t.Errorf("v2 has no endpoints, yet the route mirrors: %v", ps)
	}
	if len(res.Clusters) != 1 {
		t.Errorf("clusters %d, want only v1 while v2 is absent", len(res.Clusters))
	}
	m := loadModel(t, "../examples/auto-mirror/app.yaml")
	v2, _ := m.Apps[0].Variant("v2")
	v2.Endpoints = []string{"127.0.0.1:9002"}
	res, err := Translate(m.Apps, Envoy)
	if err != nil {
		t.Fatal(err)
	}
	r := res.Routes[0].VirtualHosts[0].Routes[0]
	if n := mirrorFraction(t, r).GetNumerator(); n != 1000000 || len(res.Clusters) != 2 {
		t.Errorf("with v2 deployed: mirror numerator %d and %d clusters, want 1000000 and 2", n, len(res.Clusters))
	}
}
