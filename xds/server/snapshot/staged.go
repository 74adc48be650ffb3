package snapshot

import (
	"slices"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpoint "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"

	"github.com/shadowplane/shadowplane/xds"
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
// server.Publisher).
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
	g.build = func(key xds.GroupKey) (*xds.Resources, error) {
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
			if key.Kind == xds.GRPC {
				known := before.Type(PushOrder[0]).Items
				routes = xds.WithStagingRoutes(before.Resources.Routes, after.Resources.Routes, func(c string) bool { _, ok := known[c]; return ok })
			}
		}
		return &xds.Resources{
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
func ClusterChanges(prev, next *Generation, key xds.GroupKey) (added bool, eds []string, removed bool, err error) {
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
