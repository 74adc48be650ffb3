package pipeline

import (
	"context"
	"maps"
	"reflect"
	"time"

	"github.com/shadowplane/shadowplane/policy"
	"github.com/shadowplane/shadowplane/xds/server/snapshot"
)

// EndpointSource knows the endpoints of Services (the Kubernetes source,
// from its informers' caches).
type EndpointSource interface {
	// Table is the ready endpoints of each of refs.
	Table(refs []policy.ServiceRef) policy.EndpointTable
}

// served is what the last publication served: the model before the
// endpoints were resolved, the endpoints it was resolved against, and the
// generation.
type served struct {
	model *policy.Model
	table policy.EndpointTable
	gen   *snapshot.Generation
}

// SetEndpoints sets the source of endpoints, before Start: the source
// needs the pipeline's EndpointsChanged, so it is made after the pipeline.
func (p *Pipeline) SetEndpoints(src EndpointSource) { p.cfg.Endpoints = src }

// EndpointsChanged tells the pipeline that the source's endpoints changed.
// It never blocks: changes that come while one is being served are
// served together, next.
func (p *Pipeline) EndpointsChanged() {
	select {
	case p.endpointsChanged <- struct{}{}:
	default:
	}
}

// serveEndpoints serves endpoint changes until ctx ends.
func (p *Pipeline) serveEndpoints(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.endpointsChanged:
			p.refreshEndpoints(ctx)
		}
	}
}

// refreshEndpoints serves the last model against the current endpoints.
// When the same variants have endpoints as before, routing cannot have
// changed: only the endpoints are rebuilt (snapshot.WithEndpoints) and proxies
// receive EDS alone. When a variant gained its first endpoint or lost its
// last, the model is translated again: a mirror to it appears or is
// withdrawn, its cluster is added or removed — staged, make before break,
// like any change.
func (p *Pipeline) refreshEndpoints(ctx context.Context) {
	p.publishMu.Lock()
	defer p.publishMu.Unlock()
	last := p.last
	if last == nil {
		return
	}
	table := p.endpoints(last.model)
	if reflect.DeepEqual(table, last.table) {
		return
	}
	start := time.Now()
	resolved := last.model.WithEndpoints(table)
	routing := maps.Equal(last.model.Availability(table), last.model.Availability(last.table))
	var gen *snapshot.Generation
	if routing {
		gen = snapshot.WithEndpoints(last.gen, resolved)
	} else {
		gen = snapshot.NewGeneration(resolved)
	}
	err := p.serve(ctx, gen)
	if err != nil && routing {
		// A bug in the endpoints-only path must not freeze endpoints:
		// the whole translation is the reference.
		routing, gen = false, snapshot.NewGeneration(resolved)
		err = p.serve(ctx, gen)
	}
	if err != nil {
		return
	}
	p.last = &served{model: last.model, table: table, gen: gen}
	p.cfg.Log.Debug("endpoints served", "endpoints_only", routing, "took", time.Since(start))
}

// endpoints is the endpoint table for m's Services; empty without a
// source.
func (p *Pipeline) endpoints(m *policy.Model) policy.EndpointTable {
	refs := m.Services()
	if p.cfg.Endpoints == nil || len(refs) == 0 {
		return policy.EndpointTable{}
	}
	return p.cfg.Endpoints.Table(refs)
}
