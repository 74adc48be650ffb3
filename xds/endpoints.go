package xds

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	endpoint "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"

	"github.com/shadowplane/shadowplane/policy"
)

// Endpoints move on their own: pods come and go many times an hour, and
// re-translating every group's routes for each would spend the CPU a
// large fleet's changes need. A change of endpoints alone — the same
// variants available before and after, so the same clusters, routes,
// listeners and runtime (policy.Model.Availability) — is translated here
// as the endpoint assignments that changed; the serving side keeps each
// group's other resources as they were, marshalled and versioned
// (snapshot.WithEndpoints), and proxies receive an EDS update and nothing
// else.

// EndpointChanges is, for a group, the endpoint assignments that differ
// between the models before and after, and the names of every cluster
// after takes endpoints for (over EDS, not DNS).
func EndpointChanges(before, after *policy.Model, key GroupKey) (changed []*endpoint.ClusterLoadAssignment, eds []string) {
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

// WithEndpoints is r with the endpoint assignments in changed replacing
// those of the same clusters; the other lists are shared with r. Only the
// changed assignments are validated: the references cannot have moved,
// since an assignment for a cluster r does not assign is an error, so a
// validated r stays validated.
func (r *Resources) WithEndpoints(changed []*endpoint.ClusterLoadAssignment) (*Resources, error) {
	out := *r
	out.Endpoints = slices.Clone(r.Endpoints)
	index := make(map[string]int, len(r.Endpoints))
	for i, c := range r.Endpoints {
		index[c.GetClusterName()] = i
	}
	var errs []error
	for _, c := range changed {
		i, ok := index[c.GetClusterName()]
		if !ok {
			errs = append(errs, fmt.Errorf("endpoints for cluster %q, which takes none: the routing changed, so the routes must be translated again", c.GetClusterName()))
			continue
		}
		if err := c.ValidateAll(); err != nil {
			errs = append(errs, fmt.Errorf("endpoints %s: %w", c.GetClusterName(), err))
			continue
		}
		out.Endpoints[i] = c
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &out, nil
}
