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
		pending, err := r.routesPendingLocked(gen, app)
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

// routesPendingLocked counts the proxies of app that do not hold gen's
// routes yet, or returns the rejection of one. Called with r.mu.
func (r *Registry) routesPendingLocked(gen *xds.Generation, app string) (int, error) {
	short := shortType(resourcev3.RouteType)
	pending := 0
	for _, p := range r.streams {
		ts, ok := p.Types[short]
		if p.Kind == "" || !ok || ts.SentNonce == "" {
			continue
		}
		key := gen.Key(p.node())
		if !servesApp(gen, key, app) {
			continue
		}
		snap, err := gen.Snapshot(key)
		if err != nil {
			return 0, err
		}
		// What the proxy holds is versioned over what it subscribes to,
		// in either protocol (see respondDelta); no names is a wildcard.
		want := snap.Type(resourcev3.RouteType).Version
		if len(ts.Names) > 0 && !slices.Contains(ts.Names, "*") {
			names := make(map[string]struct{}, len(ts.Names))
			for _, n := range ts.Names {
				names[n] = struct{}{}
			}
			want = snap.Type(resourcev3.RouteType).Subset(names).Version
		}
		if ts.AckedVersion == want {
			continue
		}
		// A rejection counts only if it is the latest word on this
		// version: a proxy may have rejected it once and ACKed it since.
		if ts.LastNack != nil && ts.LastNack.Version == want {
			return 0, &RejectedError{Proxy: p.NodeID, Version: want, Detail: strings.TrimSpace(ts.LastNack.Error)}
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
