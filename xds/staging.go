package xds

import (
	"slices"

	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// StagingHeader names the header of the route WithStagingRoutes adds for
// proxyless gRPC clients. No client sends it, so the route never matches.
const StagingHeader = "x-shadowplane-staging"

// WithStagingRoutes adds to each of prev's route configurations a route
// that never matches, to the clusters next's configuration of the same
// name routes to and prev does not serve (known says which it does). A
// gRPC client subscribes to a cluster only when a route names one, and
// builds it alongside the route: a route that starts using a new cluster
// at once fails its first RPCs while the client builds it. Named by a
// route that never matches, the cluster is built, its endpoints taken,
// before any RPC is routed to it (see snapshot.Staged).
func WithStagingRoutes(prev, next []*route.RouteConfiguration, known func(cluster string) bool) []*route.RouteConfiguration {
	nextByName := map[string]*route.RouteConfiguration{}
	for _, rc := range next {
		nextByName[rc.GetName()] = rc
	}
	out := make([]*route.RouteConfiguration, 0, len(prev))
	for _, rc := range prev {
		var added []string
		for _, c := range clustersOf(nextByName[rc.GetName()]) {
			if !known(c) && !slices.Contains(added, c) {
				added = append(added, c)
			}
		}
		if len(added) == 0 || len(rc.GetVirtualHosts()) == 0 {
			out = append(out, rc)
			continue
		}
		slices.Sort(added)
		staged := proto.Clone(rc).(*route.RouteConfiguration)
		vh := staged.VirtualHosts[0]
		wc := &route.WeightedCluster{}
		for _, c := range added {
			wc.Clusters = append(wc.Clusters, &route.WeightedCluster_ClusterWeight{Name: c, Weight: wrapperspb.UInt32(1)})
		}
		vh.Routes = append(vh.Routes, &route.Route{
			Name: "shadowplane-staging",
			Match: &route.RouteMatch{
				PathSpecifier: &route.RouteMatch_Prefix{Prefix: "/"},
				Headers:       []*route.HeaderMatcher{{Name: StagingHeader, HeaderMatchSpecifier: &route.HeaderMatcher_PresentMatch{PresentMatch: true}}},
			},
			Action: &route.Route_Route{Route: &route.RouteAction{ClusterSpecifier: &route.RouteAction_WeightedClusters{WeightedClusters: wc}}},
		})
		out = append(out, staged)
	}
	return out
}

// clustersOf lists the clusters a route configuration routes to.
func clustersOf(rc *route.RouteConfiguration) []string {
	var out []string
	for _, vh := range rc.GetVirtualHosts() {
		for _, r := range vh.GetRoutes() {
			a := r.GetRoute()
			if c := a.GetCluster(); c != "" {
				out = append(out, c)
			}
			for _, w := range a.GetWeightedClusters().GetClusters() {
				out = append(out, w.GetName())
			}
		}
	}
	return out
}
