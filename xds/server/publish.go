package server

import (
	"context"
	"fmt"
	"sync"
	"time"

	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/shadowplane/shadowplane/xds"
	"github.com/shadowplane/shadowplane/xds/server/snapshot"
)

// StageWait bounds how long a stage waits for proxies to ACK it before the
// next goes out anyway: a proxy that never answers must not freeze
// configuration for everyone. Ten seconds is far beyond a healthy fleet's
// ACK time (milliseconds; see docs/performance.md).
const StageWait = 10 * time.Second

// Publisher serves generations make before break across proxies, in
// either protocol: clusters a change adds reach every proxy, ACKed, before
// any route names them; clusters it removes leave only after every proxy
// ACKed routes that no longer name them. A change that adds and removes
// no cluster — a weight step — is one generation, as before.
//
// Publish calls must not overlap (the analysis Runner orders them); the
// last stage of one, the removal, runs in the background and gives way to
// the next Publish.
type Publisher struct {
	cache *Cache
	reg   *Registry
	// wait is StageWait; tests shorten it.
	wait time.Duration

	mu sync.Mutex
	// settling cancels the background removal of the last Publish.
	settling context.CancelFunc
	settled  sync.WaitGroup
}

// NewPublisher publishes through cache, waiting on reg's ACKs.
func NewPublisher(cache *Cache, reg *Registry) *Publisher {
	return &Publisher{cache: cache, reg: reg, wait: StageWait}
}

// Publish serves next. It returns once next's routes are served (to be
// ACKed: see Registry.WaitRoutes); when next removes clusters they stay
// served until proxies hold the new routes (at most StageWait), then go.
// An error means next could not be served, and proxies keep what they
// had.
func (p *Publisher) Publish(ctx context.Context, next *snapshot.Generation) error {
	p.mu.Lock()
	if p.settling != nil {
		p.settling() // a newer model: its own stages decide what to remove
	}
	p.mu.Unlock()
	p.settled.Wait()

	prev := p.cache.Generation()
	if prev == nil {
		return p.cache.SetGeneration(next)
	}
	added, removed := false, false
	eds := map[xds.GroupKey][]string{}
	// Every connected proxy's group, whether or not its watches are open
	// right now (a delta stream's are not, between a response and its
	// ACK).
	for _, key := range p.reg.groups(next) {
		a, names, r, err := snapshot.ClusterChanges(prev, next, key)
		if err != nil {
			// Nothing new is served. Handing next to the cache instead
			// would not be safe: it builds only the groups with a watch
			// open right now, and a proxy between a response and its ACK
			// has none.
			return fmt.Errorf("group %s: %w", key, err)
		}
		eds[key] = names
		added, removed = added || a, removed || r
	}
	if added {
		made := snapshot.Staged(prev, next, snapshot.StageMake)
		if err := p.cache.SetGeneration(made); err != nil {
			return err
		}
		wctx, cancel := context.WithTimeout(ctx, p.wait)
		// Routes too: a gRPC client's routes name the new clusters (by a
		// route that never matches), which is how it comes to take them.
		p.reg.waitServed(wctx, made, func(k xds.GroupKey) []string { return eds[k] },
			resourcev3.ClusterType, resourcev3.EndpointType, resourcev3.RouteType)
		cancel()
	}
	if !removed {
		return p.cache.SetGeneration(next)
	}
	keep := snapshot.Staged(prev, next, snapshot.StageKeep)
	if err := p.cache.SetGeneration(keep); err != nil {
		return err
	}
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	p.mu.Lock()
	p.settling = cancel
	p.mu.Unlock()
	p.settled.Add(1)
	go func() {
		defer p.settled.Done()
		defer cancel()
		wctx, stop := context.WithTimeout(sctx, p.wait)
		p.reg.waitServed(wctx, keep, nil, resourcev3.ListenerType, resourcev3.RouteType)
		stop()
		if sctx.Err() == nil {
			p.cache.replace(keep, next)
		}
	}()
	return nil
}

// Close stops a background removal in progress.
func (p *Publisher) Close() {
	p.mu.Lock()
	if p.settling != nil {
		p.settling()
	}
	p.mu.Unlock()
	p.settled.Wait()
}
