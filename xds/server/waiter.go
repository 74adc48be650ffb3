package server

import (
	"slices"
	"strings"

	"github.com/shadowplane/shadowplane/xds"
	"github.com/shadowplane/shadowplane/xds/server/snapshot"
)

// waiter is one wait in progress (WaitRoutes, waitServed). It keeps the
// pending count of each group it watches, so that a wake-up counts again
// only the groups that changed since: an ACK in one group does not make
// every wait look at every proxy.
type waiter struct {
	// wake is poked, without blocking, when something the wait counts
	// may have changed; one token stands for any number of changes.
	wake chan struct{}
	// all asks for every group to be counted again: the index was
	// rebuilt or gained a group. dirty lists the groups that changed.
	// Both are set under Registry.mu.
	all   bool
	dirty map[*ackGroup]struct{}
	// gen is the generation counts were made against; another one
	// changes every version wanted.
	gen *snapshot.Generation
	// counts holds the pending proxies of each group watched, and
	// pending their sum.
	counts  map[*ackGroup]int
	pending int
}

func (w *waiter) poke() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// newWaiter starts a wait: it hears of new groups from now on.
func (r *Registry) newWaiter() *waiter {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.newWaiterLocked()
}

func (r *Registry) newWaiterLocked() *waiter {
	w := &waiter{wake: make(chan struct{}, 1), all: true, dirty: map[*ackGroup]struct{}{}, counts: map[*ackGroup]int{}}
	r.acks.waiters[w] = struct{}{}
	return w
}

// forget ends a wait.
func (r *Registry) forget(w *waiter) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.forgetLocked(w)
}

func (r *Registry) forgetLocked(w *waiter) {
	delete(r.acks.waiters, w)
	delete(r.acks.scanners, w)
	for g := range w.counts {
		delete(g.waiters, w)
	}
}

// countLocked brings w's count of pending proxies up to date for gen:
// the proxies, in the groups watch picks, that were sent one of types and
// neither hold gen's version of it for their subscription nor rejected
// that version. Every watched group is counted again when the
// generation, the grouping or the set of groups changed; otherwise only
// the groups that changed since the last count. With reject, a proxy
// that rejected the version wanted ends the count with a RejectedError;
// without, a group whose snapshot fails counts nothing.
//
// served is the cache's generation, read before r.mu was taken. A gen
// grouped otherwise than the index is indexed anew unless served is
// grouped otherwise than gen too: then gen is a generation no longer
// served, and the wait scans every proxy rather than rebuild the index
// away from what is served. Called with r.mu.
func (r *Registry) countLocked(w *waiter, gen, served *snapshot.Generation, watch func(xds.GroupKey) bool, reject bool, types ...string) (int, error) {
	if !r.groupsLikeLocked(gen) {
		if r.acks.gen != nil && served != nil && !sameGrouping(served, gen) {
			return r.scanLocked(w, gen, watch, reject, types)
		}
		r.syncLocked(gen)
	}
	delete(r.acks.scanners, w)
	if w.gen != gen {
		w.gen, w.all = gen, true
	}
	if w.all {
		for g := range w.counts {
			delete(g.waiters, w)
		}
		clear(w.counts)
		clear(w.dirty)
		w.all, w.pending = false, 0
		for _, g := range r.acks.groups {
			if watch(g.key) {
				g.waiters[w] = struct{}{}
				w.counts[g] = 0
				w.dirty[g] = struct{}{}
			}
		}
	}
	for g := range w.dirty {
		delete(w.dirty, g)
		before, ok := w.counts[g]
		if !ok {
			continue // marked before it was let go
		}
		n, err := g.pending(gen, reject, types)
		if err != nil {
			// Counted again should the wait go on.
			w.dirty[g] = struct{}{}
			return 0, err
		}
		w.counts[g] = n
		w.pending += n - before
	}
	return w.pending, nil
}

// scanLocked is countLocked by looking at every proxy, for a generation
// the index does not group like. The wait hears of every change until it
// counts from the index again. Called with r.mu.
func (r *Registry) scanLocked(w *waiter, gen *snapshot.Generation, watch func(xds.GroupKey) bool, reject bool, types []string) (int, error) {
	for g := range w.counts {
		delete(g.waiters, w)
	}
	clear(w.counts)
	w.all = true
	r.acks.scanners[w] = struct{}{}
	pending := 0
	for _, p := range r.streams {
		if p.Kind == "" {
			continue
		}
		key := gen.Key(p.node())
		if !watch(key) {
			continue
		}
		for _, t := range types {
			ts, ok := p.Types[shortType(t)]
			if !ok || ts.SentNonce == "" || ts.None {
				continue
			}
			snap, err := gen.Snapshot(key)
			if err != nil {
				if reject {
					return 0, err
				}
				break
			}
			typ := snap.Type(t)
			if typ == nil {
				continue
			}
			want := typ.Version
			if len(ts.Names) > 0 && !slices.Contains(ts.Names, "*") {
				want = typ.SubsetOf(snapshot.NameSetOf(ts.Names)).Version
			}
			switch {
			case ts.AckedVersion == want:
			case ts.LastNack != nil && ts.LastNack.Version == want:
				if reject {
					return 0, &RejectedError{Proxy: p.NodeID, Version: want, Detail: strings.TrimSpace(ts.LastNack.Error)}
				}
			default:
				pending++
			}
		}
	}
	return pending, nil
}

// pending counts the group's proxies waited for (countLocked).
func (g *ackGroup) pending(gen *snapshot.Generation, reject bool, types []string) (int, error) {
	var snap *snapshot.Snapshot
	n := 0
	for _, t := range types {
		cohorts := g.types[shortType(t)]
		if len(cohorts) == 0 {
			continue
		}
		// Built only for a group with something to wait for: a group's
		// first snapshot of a generation is a translation.
		if snap == nil {
			var err error
			if snap, err = gen.Snapshot(g.key); err != nil {
				if reject {
					return 0, err
				}
				return 0, nil
			}
		}
		ts := snap.Type(t)
		if ts == nil {
			continue // a type the group is not served holds nothing to wait for
		}
		for _, c := range cohorts {
			want := ts.Version
			if !c.wildcard {
				want = ts.SubsetOf(c.names).Version
			}
			rejected := c.rejected[want]
			if reject {
				for p := range rejected {
					nack := p.Types[shortType(t)].LastNack
					return 0, &RejectedError{Proxy: p.NodeID, Version: want, Detail: strings.TrimSpace(nack.Error)}
				}
			}
			n += c.total - c.acked[want] - len(rejected)
		}
	}
	return n, nil
}
