package server

import (
	"context"
	"fmt"
	"slices"
	"strings"

	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/shadowplane/shadowplane/xds"
)

// WaitRoutes returns once every connected proxy that receives app holds
// the routes the cache serves it now: its last ACKed RouteConfiguration
// version is the current generation's for its subscription. (A newer
// generation only carries the step further, so waiting for the current one
// is waiting for at least the step that was published.) It returns an
// error as soon as one of those proxies rejects that version, naming the
// proxy and its error. Proxies that connect meanwhile are served the
// current generation anyway; proxies not yet subscribed to routes are not
// waited for.
func (r *Registry) WaitRoutes(ctx context.Context, app string) error {
	for {
		gen := r.cache.Generation()
		if gen == nil {
			return fmt.Errorf("nothing served yet")
		}
		r.mu.Lock()
		pending, err := r.pendingLocked(gen, app, resourcev3.RouteType, true)
		changed := r.waitChangeLocked()
		r.mu.Unlock()
		if err != nil || pending == 0 {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d proxies have not ACKed the routes: %w", pending, ctx.Err())
		case <-changed:
		}
	}
}

// waitServed returns once every connected proxy holds gen's versions of
// types, or has rejected one (it keeps what it had, and waiting would not
// change that), or ctx ends. It reports how many were still pending.
//
// need, if set, names per group endpoints a proxy that takes every
// cluster (an Envoy) must have subscribed to as well: a proxy ACKs new
// clusters with its endpoint subscription still the old one for a moment,
// and holding the old subscription's version is not holding the new
// clusters' endpoints. Proxies that subscribe to clusters by name (gRPC)
// ask for new ones only once a route names them, and are not held to it.
func (r *Registry) waitServed(ctx context.Context, gen *xds.Generation, need func(xds.GroupKey) []string, types ...string) int {
	for {
		r.mu.Lock()
		pending := 0
		for _, t := range types {
			n, _ := r.pendingLocked(gen, "", t, false)
			pending += n
		}
		if need != nil {
			pending += r.unsubscribedLocked(gen, need)
		}
		changed := r.waitChangeLocked()
		r.mu.Unlock()
		if pending == 0 {
			return 0
		}
		select {
		case <-ctx.Done():
			return pending
		case <-changed:
		}
	}
}

// pendingLocked counts the proxies (of app, or all with "") that do not
// hold gen's version of typeURL yet. A proxy that rejected that version
// is not pending: with reject set, its rejection is returned at once.
// Called with r.mu.
func (r *Registry) pendingLocked(gen *xds.Generation, app, typeURL string, reject bool) (int, error) {
	short := shortType(typeURL)
	pending := 0
	for _, p := range r.streams {
		ts, ok := p.Types[short]
		if p.Kind == "" || !ok || ts.SentNonce == "" {
			continue
		}
		key := gen.Key(p.node())
		if app != "" && !servesApp(gen, key, app) {
			continue
		}
		snap, err := gen.Snapshot(key)
		if err != nil {
			return 0, err
		}
		// What the proxy holds is versioned over what it subscribes to,
		// in either protocol (see respondDelta); no names is a wildcard.
		want := snap.Type(typeURL).Version
		if len(ts.Names) > 0 && !slices.Contains(ts.Names, "*") {
			names := make(map[string]struct{}, len(ts.Names))
			for _, n := range ts.Names {
				names[n] = struct{}{}
			}
			want = snap.Type(typeURL).Subset(names).Version
		}
		if ts.AckedVersion == want {
			continue
		}
		// A rejection counts only if it is the latest word on this
		// version: a proxy may have rejected it once and ACKed it since.
		if ts.LastNack != nil && ts.LastNack.Version == want {
			if reject {
				return 0, &RejectedError{Proxy: p.NodeID, Version: want, Detail: strings.TrimSpace(ts.LastNack.Error)}
			}
			continue
		}
		pending++
	}
	return pending, nil
}

func servesApp(gen *xds.Generation, key xds.GroupKey, app string) bool {
	for _, a := range xds.AppsFor(gen.Model.Apps, key) {
		if a.Name == app {
			return true
		}
	}
	return false
}

// RejectedError says a proxy rejected the routes WaitRoutes waited for.
type RejectedError struct {
	Proxy, Version, Detail string
}

func (e *RejectedError) Error() string {
	return fmt.Sprintf("proxy %s rejected routes %s: %s", e.Proxy, e.Version, e.Detail)
}

// unsubscribedLocked counts the proxies not yet subscribed to the
// clusters and endpoints need names for their group: those subscribing to
// clusters by name (gRPC, which asks for the clusters its routes name)
// must name the clusters, and every proxy the endpoints. Called with r.mu.
func (r *Registry) unsubscribedLocked(gen *xds.Generation, need func(xds.GroupKey) []string) int {
	pending := 0
	for _, p := range r.streams {
		cds, eds := p.Types[shortType(resourcev3.ClusterType)], p.Types[shortType(resourcev3.EndpointType)]
		if p.Kind == "" || cds == nil || cds.SentNonce == "" {
			continue
		}
		want := need(gen.Key(p.node()))
		if len(want) == 0 {
			continue
		}
		named := func(ts *TypeStatus) bool { return len(ts.Names) > 0 && !slices.Contains(ts.Names, "*") }
		switch {
		case named(cds) && !containsAll(cds.Names, want):
			pending++
		case eds == nil || named(eds) && !containsAll(eds.Names, want):
			pending++
		}
	}
	return pending
}

func containsAll(have, want []string) bool {
	for _, w := range want {
		if !slices.Contains(have, w) {
			return false
		}
	}
	return true
}

// groups are the groups, under gen, of every connected proxy.
func (r *Registry) groups(gen *xds.Generation) []xds.GroupKey {
	r.mu.Lock()
	defer r.mu.Unlock()
	seen := map[xds.GroupKey]bool{}
	var keys []xds.GroupKey
	for _, p := range r.streams {
		if p.Kind == "" {
			continue
		}
		if key := gen.Key(p.node()); !seen[key] {
			seen[key] = true
			keys = append(keys, key)
		}
	}
	return keys
}
