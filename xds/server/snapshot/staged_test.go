package snapshot

import (
	"slices"
	"testing"

	"github.com/shadowplane/shadowplane/policy"
	"github.com/shadowplane/shadowplane/xds"
)

func stageModel(variants ...string) *policy.Model {
	w := func(v uint32) *uint32 { return &v }
	app := policy.App{Kind: policy.KindApp, Name: "web", Hosts: []string{"web.test"}, Port: 10000}
	for _, v := range variants {
		app.Variants = append(app.Variants, policy.Variant{Name: v, Endpoints: []string{"127.0.0.1:9001"}})
		app.Routes = nil
	}
	var split []policy.Backend
	for _, v := range variants {
		split = append(split, policy.Backend{Variant: v, Weight: w(uint32(100 / len(variants)))})
	}
	app.Routes = []policy.Route{{Name: "all", Split: split}}
	return &policy.Model{Apps: []policy.App{app}}
}

func clusterNames(t *testing.T, g *Generation, key xds.GroupKey) []string {
	t.Helper()
	s, err := g.Snapshot(key)
	if err != nil {
		t.Fatal(err)
	}
	return s.Type(PushOrder[0]).Names
}

// Each stage serves what its name says, for xds.Envoy and for gRPC; a gRPC
// client's routes name the new cluster by a route that never matches.
func TestStages(t *testing.T) {
	prev, next := NewGeneration(stageModel("v1", "v2")), NewGeneration(stageModel("v1", "v3"))
	for _, key := range []xds.GroupKey{{Kind: xds.Envoy}, {Kind: xds.GRPC}} {
		added, eds, removed, err := ClusterChanges(prev, next, key)
		if err != nil || !added || !removed || !slices.Equal(eds, []string{"web_v3"}) {
			t.Fatalf("%v: changes added=%v eds=%v removed=%v err=%v", key, added, eds, removed, err)
		}
		made, keep := Staged(prev, next, StageMake), Staged(prev, next, StageKeep)
		for _, g := range []*Generation{made, keep} {
			if got := clusterNames(t, g, key); !slices.Equal(got, []string{"web_v1", "web_v2", "web_v3"}) {
				t.Errorf("%v: clusters %v, want both generations'", key, got)
			}
		}
		ms, _ := made.Snapshot(key)
		ps, _ := prev.Snapshot(key)
		ks, _ := keep.Snapshot(key)
		ns, _ := next.Snapshot(key)
		if key.Kind == xds.Envoy && ms.Type(PushOrder[3]).Version != ps.Type(PushOrder[3]).Version {
			t.Errorf("envoy: the make stage's routes are not the old ones")
		}
		if ks.Type(PushOrder[3]).Version != ns.Type(PushOrder[3]).Version {
			t.Errorf("%v: the keep stage's routes are not the new ones", key)
		}
		if key.Kind == xds.GRPC {
			rc := ms.Resources.Routes[0]
			last := rc.VirtualHosts[0].Routes[len(rc.VirtualHosts[0].Routes)-1]
			wc := last.GetRoute().GetWeightedClusters().GetClusters()
			if last.GetName() != "shadowplane-staging" || len(wc) != 1 || wc[0].GetName() != "web_v3" ||
				last.GetMatch().GetHeaders()[0].GetName() != xds.StagingHeader {
				t.Errorf("grpc: the make stage's last route is %v, want one that never matches, to web_v3", last)
			}
		}
	}
}
