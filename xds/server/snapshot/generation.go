package snapshot

import (
	"sync"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"

	"github.com/shadowplane/shadowplane/policy"
	"github.com/shadowplane/shadowplane/xds"
)

// Generation is one model as served: it groups nodes and builds each
// group's snapshot the first time a node of that group asks, then keeps it.
// Translation is per group, not per node, so ten thousand sidecars of one
// cluster cost one translation.
type Generation struct {
	Model   *policy.Model
	grouper *xds.Grouper
	// build makes a group's resources: the model's, or a stage's (Staged).
	build func(xds.GroupKey) (*xds.Resources, error)
	// reuse holds, for WithEndpoints, the previous generation's snapshot
	// of each group it had built: a group found here takes its routing
	// from it and builds only its endpoints. Snapshots, not the previous
	// generation, so that a run of endpoint changes is not a chain of
	// generations kept alive.
	reuse      map[xds.GroupKey]*Snapshot
	reuseModel *policy.Model

	mu    sync.Mutex
	snaps map[xds.GroupKey]*built
}

type built struct {
	once sync.Once
	snap *Snapshot
	err  error
}

// NewGeneration prepares model for serving. model must be validated.
func NewGeneration(model *policy.Model) *Generation {
	g := &Generation{Model: model, grouper: xds.NewGrouper(model.Apps), snaps: map[xds.GroupKey]*built{}}
	g.build = func(key xds.GroupKey) (*xds.Resources, error) {
		return xds.Build(xds.AppsFor(model.Apps, key), key.Kind)
	}
	return g
}

// Key is the group of node under this generation's model.
func (g *Generation) Key(node *core.Node) xds.GroupKey { return g.grouper.Key(node) }

// Keys lists the groups this model can produce (see xds.Grouper.Keys).
func (g *Generation) Keys() []xds.GroupKey { return g.grouper.Keys() }

// Snapshot returns the group's snapshot, translating it on first use.
// Concurrent callers for one group wait for a single translation.
func (g *Generation) Snapshot(key xds.GroupKey) (*Snapshot, error) {
	g.mu.Lock()
	b, ok := g.snaps[key]
	if !ok {
		b = &built{}
		g.snaps[key] = b
	}
	g.mu.Unlock()
	b.once.Do(func() {
		if before := g.reuse[key]; before != nil {
			b.snap, b.err = before.WithEndpoints(xds.EndpointChanges(g.reuseModel, g.Model, key))
			return
		}
		// NewSnapshot validates while it marshals.
		res, err := g.build(key)
		if err != nil {
			b.err = err
			return
		}
		b.snap, b.err = NewSnapshot(res)
	})
	return b.snap, b.err
}

// built returns the snapshots built so far, by group; failed ones are
// left out.
func (g *Generation) built() map[xds.GroupKey]*Snapshot {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make(map[xds.GroupKey]*Snapshot, len(g.snaps))
	for key, b := range g.snaps {
		// A build in progress is waited for: its snapshot is the one the
		// group's proxies are about to hold.
		b.once.Do(func() {})
		if b.snap != nil {
			out[key] = b.snap
		}
	}
	return out
}
