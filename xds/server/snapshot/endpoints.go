package snapshot

import (
	"errors"
	"fmt"
	"maps"

	endpoint "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/shadowplane/shadowplane/policy"
)

// WithEndpoints is a generation serving model, which must route exactly
// as prev's model does and differ from it only in the endpoints of its
// variants (see xds.EndpointChanges): each group prev had built takes
// prev's listeners, routes, clusters and runtime as they are, marshalled
// and versioned, and builds only the endpoints (a group prev had not built
// is translated whole), so proxies receive an EDS update and nothing else.
// A model that routes differently is an error at Snapshot (the endpoint
// assignments would not match the clusters), never a silent mix.
func WithEndpoints(prev *Generation, model *policy.Model) *Generation {
	g := NewGeneration(model)
	g.reuse, g.reuseModel = prev.built(), prev.Model
	return g
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
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	res, err := s.Resources.WithEndpoints(changed)
	if err != nil {
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

	out := &Snapshot{Resources: res, types: maps.Clone(s.types)}
	out.types[ts.TypeURL] = ts
	out.Version = out.typesVersion()
	return out, nil
}
