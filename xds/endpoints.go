package xds

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	endpoint "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/shadowplane/shadowplane/policy"
)

// Endpoints move on their own: pods come and go many times an hour, and
// re-translating every group's routes for each would spend the CPU a
// large fleet's changes need. A change of endpoints alone — the same
// variants available before and after, so the same clusters, routes,
// listeners and runtime (policy.Model.Availability) — is served by
// WithEndpoints, which keeps each group's other resources as they were,
// marshalled and versioned, and builds only its endpoint assignments.
// Proxies receive an EDS update and nothing else.

// WithEndpoints is a generation serving model, which must route exactly
// as prev's model does and differ from it only in the endpoints of its
// variants: each group prev had built takes prev's listeners, routes,
// clusters and runtime as they are and builds only the endpoints (a group
// prev had not built is translated whole). A model that
// routes differently is an error at Snapshot (the endpoint assignments
// would not match the clusters), never a silent mix.
func WithEndpoints(prev *Generation, model *policy.Model) *Generation {
	g := NewGeneration(model)
	g.reuse, g.reuseModel = prev.built(), prev.Model
	return g
}

// endpointChanges is, for a group, the endpoint assignments that differ
// between the models before and after, and the names of every cluster
// after takes endpoints for.
func endpointChanges(before, after *policy.Model, key GroupKey) (changed []*endpoint.ClusterLoadAssignment, eds []string) {
	old, now := groupClusters(sortedApps(before, key), key.Kind), groupClusters(sortedApps(after, key), key.Kind)
	for name, v := range now {
		if v.DNS != "" {
			continue
		}
		eds = append(eds, name)
		if o, ok := old[name]; !ok || o.DNS != "" || !slices.Equal(o.Endpoints, v.Endpoints) {
			changed = append(changed, loadAssignment(name, v.Endpoints))
		}
	}
	slices.SortFunc(changed, func(a, b *endpoint.ClusterLoadAssignment) int { return strings.Compare(a.ClusterName, b.ClusterName) })
	return changed, eds
}

// sortedApps is the apps of a group under m, sorted by name.
func sortedApps(m *policy.Model, key GroupKey) []*policy.App {
	apps := AppsFor(m.Apps, key)
	sorted := make([]*policy.App, len(apps))
	for i := range apps {
		sorted[i] = &apps[i]
	}
	slices.SortFunc(sorted, func(a, b *policy.App) int { return strings.Compare(a.Name, b.Name) })
	return sorted
}

// WithEndpoints is s with the endpoint assignments in changed replacing
// those of the same clusters; eds must name exactly the clusters s
// assigns endpoints to. The other types are shared with s, unchanged:
// their versions stay, so a client is sent only the endpoints. Only the
// changed assignments are validated and marshalled.
func (s *Snapshot) WithEndpoints(changed []*endpoint.ClusterLoadAssignment, eds []string) (*Snapshot, error) {
	old := s.types[PushOrder[1]]
	var errs []error
	if len(eds) != len(old.Names) {
		errs = append(errs, fmt.Errorf("endpoints for %d clusters, want %d: the routing changed, so the routes must be translated again", len(eds), len(old.Names)))
	}
	for _, name := range eds {
		if _, ok := old.Items[name]; !ok {
			errs = append(errs, fmt.Errorf("endpoints for cluster %q, which takes none: the routing changed, so the routes must be translated again", name))
		}
	}
	for _, c := range changed {
		if err := c.ValidateAll(); err != nil {
			errs = append(errs, fmt.Errorf("endpoints %s: %w", c.GetClusterName(), err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	msgs := make([]proto.Message, len(changed))
	for i, c := range changed {
		msgs[i] = c
	}
	fresh, err := newTypeSnapshot(old.TypeURL, msgs)
	if err != nil {
		return nil, err
	}
	ts := &TypeSnapshot{TypeURL: old.TypeURL, Names: old.Names, Items: maps.Clone(old.Items), subset: map[string]*Subset{}}
	maps.Copy(ts.Items, fresh.Items)
	ts.all = make([]*anypb.Any, len(ts.Names))
	for i, n := range ts.Names {
		ts.all[i] = ts.Items[n].Any
	}
	ts.Version = ts.versionOf(ts.Names)

	res := *s.Resources
	res.Endpoints = slices.Clone(s.Resources.Endpoints)
	byName := make(map[string]*endpoint.ClusterLoadAssignment, len(changed))
	for _, c := range changed {
		byName[c.ClusterName] = c
	}
	for i, c := range res.Endpoints {
		if n, ok := byName[c.ClusterName]; ok {
			res.Endpoints[i] = n
		}
	}
	res.validated = true
	out := &Snapshot{Resources: &res, types: maps.Clone(s.types)}
	out.types[ts.TypeURL] = ts
	out.Version = out.typesVersion()
	return out, nil
}
