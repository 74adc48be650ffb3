package xds

import (
	"slices"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpoint "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// A change that adds or removes clusters reaches proxies in stages, make
// before break, whatever the protocol: first the new clusters beside the
// old ones under the old routes (StageMake), then the new routes with the
// old clusters still there (StageBreak's predecessor, StageKeep), and only
// once proxies hold those routes the final generation, which drops the
// clusters no route names any more. Within one response order does not
// help a delta client, which may take new routes before the endpoints of
// the clusters they name, or an Envoy that gets a cluster removal before
// the routes moving off it: each stage is a generation of its own, and the
// next is served only once proxies have ACKed the last (see
// server.Publish).
type Stage int

const (
	// StageMake serves prev's listeners, routes and runtime, and the
	// clusters and endpoints of both generations (next's where both have
	// one).
	StageMake Stage = iota + 1
	// StageKeep serves next's listeners, routes and runtime, and the
	// clusters and endpoints of both generations.
	StageKeep
)

// Staged is a generation that serves next's model at a stage of the move
// from prev. Its Model is next's: proxies are grouped as next groups them.
func Staged(prev, next *Generation, stage Stage) *Generation {
	g := NewGeneration(next.Model)
	g.build = func(key GroupKey) (*Resources, error) {
		before, err := prev.Snapshot(key)
		if err != nil {
			return nil, err
		}
		after, err := next.Snapshot(key)
		if err != nil {
			return nil, err
		}
		routing := after.Resources
		routes := routing.Routes
		if stage == StageMake {
			routing = before.Resources
			routes = routing.Routes
			if key.Kind == GRPC {
				routes = withStagingRoutes(before.Resources.Routes, after.Resources.Routes, before.Type(PushOrder[0]).Items)
			}
		}
		return &Resources{
			Listeners: routing.Listeners,
			Routes:    routes,
			Runtimes:  routing.Runtimes,
			Clusters: union(after.Resources.Clusters, before.Resources.Clusters,
				func(c *cluster.Cluster) string { return c.GetName() }),
			Endpoints: union(after.Resources.Endpoints, before.Resources.Endpoints,
				func(e *endpoint.ClusterLoadAssignment) string { return e.GetClusterName() }),
		}, nil
	}
	return g
}

// StagingHeader names the header of the route StageMake adds for proxyless
// gRPC clients. No client sends it, so the route never matches.
const StagingHeader = "x-shadowplane-staging"

// withStagingRoutes adds to each of prev's route configurations a route
// that never matches, to the clusters next's configuration of the same
// name routes to and prev does not serve (known). A gRPC client subscribes
// to a cluster only when a route names one, and builds it alongside the
// route: a route that starts using a new cluster at once fails its first
// RPCs while the client builds it. Named by a route that never matches,
// the cluster is built, its endpoints taken, before any RPC is routed to
// it.
func withStagingRoutes(prev, next []*route.RouteConfiguration, known map[string]*Item) []*route.RouteConfiguration {
	nextByName := map[string]*route.RouteConfiguration{}
	for _, rc := range next {
		nextByName[rc.GetName()] = rc
	}
	out := make([]*route.RouteConfiguration, 0, len(prev))
	for _, rc := range prev {
		var added []string
		for _, c := range clustersOf(nextByName[rc.GetName()]) {
			if _, ok := known[c]; !ok && !slices.Contains(added, c) {
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

// union is a, with b's resources whose names a lacks, sorted by name.
func union[T any](a, b []T, name func(T) string) []T {
	have := make(map[string]bool, len(a))
	for _, r := range a {
		have[name(r)] = true
	}
	out := slices.Clone(a)
	for _, r := range b {
		if !have[name(r)] {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(x, y T) int {
		switch {
		case name(x) < name(y):
			return -1
		case name(x) > name(y):
			return 1
		}
		return 0
	})
	return out
}

// ClusterChanges says, for the group key, whether next serves clusters
// prev does not (added), the endpoint names of those that take endpoints
// over EDS (a proxy subscribes to them), and whether prev serves clusters
// next does not (removed).
func ClusterChanges(prev, next *Generation, key GroupKey) (added bool, eds []string, removed bool, err error) {
	before, err := prev.Snapshot(key)
	if err != nil {
		return false, nil, false, err
	}
	after, err := next.Snapshot(key)
	if err != nil {
		return false, nil, false, err
	}
	b, a, ends := before.Type(PushOrder[0]), after.Type(PushOrder[0]), after.Type(PushOrder[1])
	for _, n := range a.Names {
		if _, ok := b.Items[n]; !ok {
			added = true
			if _, ok := ends.Items[n]; ok {
				eds = append(eds, n)
			}
		}
	}
	for _, n := range b.Names {
		if _, ok := a.Items[n]; !ok {
			removed = true
		}
	}
	return added, eds, removed, nil
}
