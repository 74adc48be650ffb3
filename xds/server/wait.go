package server

import (
	"context"
	"fmt"
	"slices"

	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/shadowplane/shadowplane/policy"
	"github.com/shadowplane/shadowplane/xds"
	"github.com/shadowplane/shadowplane/xds/server/snapshot"
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
//
// It costs the groups that serve app, counted from the ACK index, and
// each wake-up only the groups that changed since (ackindex.go).
func (r *Registry) WaitRoutes(ctx context.Context, app string) error {
	w := r.newWaiter()
	defer r.forget(w)
	var (
		seen   *snapshot.Generation
		serves func(xds.GroupKey) bool
	)
	for {
		gen := r.cache.Generation()
		if gen == nil {
			return fmt.Errorf("nothing served yet")
		}
		if gen != seen {
			seen, serves = gen, servesApp(gen, app)
		}
		r.mu.Lock()
		pending, err := r.countLocked(w, gen, gen, serves, true, resourcev3.RouteType)
		r.mu.Unlock()
		if err != nil || pending == 0 {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d proxies have not ACKed the routes: %w", pending, ctx.Err())
		case <-w.wake:
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
func (r *Registry) waitServed(ctx context.Context, gen *snapshot.Generation, need func(xds.GroupKey) []string, types ...string) int {
	w := r.newWaiter()
	defer r.forget(w)
	every := func(xds.GroupKey) bool { return true }
	for {
		served := r.cache.Generation()
		r.mu.Lock()
		pending, _ := r.countLocked(w, gen, served, every, false, types...)
		if need != nil {
			pending += r.unsubscribedLocked(gen, need)
		}
		r.mu.Unlock()
		if pending == 0 {
			return 0
		}
		select {
		case <-ctx.Done():
			return pending
		case <-w.wake:
		}
	}
}

// servesApp is whether a group receives app under gen: whether app's
// selector picks the group (xds.AppsFor). No group receives an app gen
// does not have, so waiting for one returns at once.
func servesApp(gen *snapshot.Generation, app string) func(xds.GroupKey) bool {
	i := slices.IndexFunc(gen.Model.Apps, func(a policy.App) bool { return a.Name == app })
	if i < 0 {
		return func(xds.GroupKey) bool { return false }
	}
	one := gen.Model.Apps[i : i+1]
	return func(key xds.GroupKey) bool { return len(xds.AppsFor(one, key)) == 1 }
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
// must name the clusters, and every proxy the endpoints. It looks at
// every proxy, since it pairs two types of each, but only while a change
// adds clusters (Publisher). Called with r.mu.
func (r *Registry) unsubscribedLocked(gen *snapshot.Generation, need func(xds.GroupKey) []string) int {
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
func (r *Registry) groups(gen *snapshot.Generation) []xds.GroupKey {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.syncLocked(gen)
	var keys []xds.GroupKey
	for key, g := range r.acks.groups {
		if g.members > 0 {
			keys = append(keys, key)
		}
	}
	return keys
}
