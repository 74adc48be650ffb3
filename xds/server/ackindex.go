package server

import (
	"slices"

	"github.com/shadowplane/shadowplane/xds"
	"github.com/shadowplane/shadowplane/xds/server/snapshot"
)

// The ACK index answers "how many proxies of this group do not hold
// version V of this type yet" from counters, so that a wait costs the
// groups that changed instead of every proxy times every app (issue 10:
// one scan took 820 ms at 1,000 proxies and 1,000 apps, under the lock
// every ACK needs).
//
// Proxies are grouped as the cache groups them (xds.GroupKey), under the
// grouping of the generation last waited on; a generation that groups
// differently (its apps select other clusters or ids) rebuilds the index,
// once, before its wait is answered — unless the cache serves a
// generation grouped otherwise again, when the wait scans instead
// (countLocked), so that two waits cannot rebuild it back and forth. Within a group, each type's proxies
// are split into cohorts by the names they subscribe to, since the names
// decide the version a proxy is served (respondDelta, respondSotw); each
// cohort counts its proxies by the version they ACKed last.
//
// Every change to what a proxy holds, subscribes to or rejected goes
// through reindexLocked, which moves the proxy's one entry per type
// between counters and wakes only the waiters of that group.

// ackIndex is the registry's index. Guarded by Registry.mu.
type ackIndex struct {
	// gen is the generation whose grouping keys the groups; nil until
	// the first wait, before which nothing is indexed.
	gen    *snapshot.Generation
	groups map[xds.GroupKey]*ackGroup
	// waiters are told when groups appear or the index is rebuilt, and
	// then recount everything.
	waiters map[*waiter]struct{}
	// scanners are waits on a generation grouped otherwise than the
	// index (scanLocked); any change wakes them.
	scanners map[*waiter]struct{}
}

// ackGroup is one group's proxies.
type ackGroup struct {
	x   *ackIndex
	key xds.GroupKey
	// members counts the proxies in the group that told their node.
	members int
	// types holds the cohorts of each type (short name), by names key.
	types map[string]map[string]*cohort
	// waiters are woken by any change in this group.
	waiters map[*waiter]struct{}
}

// cohort is the proxies of a group that subscribe to the same names of a
// type and were sent it at least once: they are served one version.
type cohort struct {
	// key and of are where the group keeps it, so that the last proxy
	// to leave removes it: delta clients may subscribe to any names.
	key string
	of  map[string]*cohort
	// names is the subscription; wildcard means the full set.
	names    snapshot.NameSet
	wildcard bool
	total    int
	// acked counts proxies by the version they ACKed last.
	acked map[string]int
	// rejected holds, by version, the proxies whose latest rejection is
	// of that version and that have not ACKed it since: for a wait on
	// that version they are done, and WaitRoutes names one.
	rejected map[string]map[*Proxy]struct{}
}

// ackEntry is what one proxy contributes for one type: the cohort it is
// counted in, under which version, and its rejection if any. names is the
// subscription list the cohort was looked up for; the server hands every
// stream of a group the same slice (nameSets), so an unchanged slice is
// recognised without building its key again.
type ackEntry struct {
	c        *cohort
	names    []string
	acked    string
	rejected string
}

func newAckIndex() *ackIndex {
	return &ackIndex{groups: map[xds.GroupKey]*ackGroup{}, waiters: map[*waiter]struct{}{}, scanners: map[*waiter]struct{}{}}
}

// groupsLikeLocked reports whether the index groups proxies as gen does,
// making gen the index's generation if so. Called with r.mu.
func (r *Registry) groupsLikeLocked(gen *snapshot.Generation) bool {
	x := r.acks
	if x.gen == gen {
		return true
	}
	if x.gen != nil && sameGrouping(x.gen, gen) {
		x.gen = gen
		return true
	}
	return false
}

// sameGrouping reports whether a and b put every node in the same group:
// Grouper.Key looks only at the clusters and ids selected, which Keys
// lists.
func sameGrouping(a, b *snapshot.Generation) bool {
	return a == b || slices.Equal(a.Keys(), b.Keys())
}

// syncLocked makes gen the index's grouping, rebuilding the index if gen
// groups nodes otherwise than the last one. Called with r.mu.
func (r *Registry) syncLocked(gen *snapshot.Generation) {
	if r.groupsLikeLocked(gen) {
		return
	}
	x := r.acks
	x.gen = gen
	x.groups = map[xds.GroupKey]*ackGroup{}
	for _, p := range r.streams {
		p.group, p.acks = nil, nil
		r.joinLocked(p)
	}
	x.changedAll()
}

// joinLocked indexes a proxy that has told its node, with every type it
// exchanged so far. Called with r.mu.
func (r *Registry) joinLocked(p *Proxy) {
	x := r.acks
	if x.gen == nil || p.Kind == "" {
		return
	}
	key := x.gen.Key(p.node())
	g, ok := x.groups[key]
	if !ok {
		g = &ackGroup{x: x, key: key, types: map[string]map[string]*cohort{}, waiters: map[*waiter]struct{}{}}
		x.groups[key] = g
		// A group new to waiters: the ones it concerns must count it.
		x.changedAll()
	}
	g.members++
	p.group = g
	for short, ts := range p.Types {
		r.reindexLocked(p, short, ts)
	}
	g.changed()
}

// leaveLocked takes a disconnected proxy out of the index. Called with
// r.mu.
func (r *Registry) leaveLocked(p *Proxy) {
	g := p.group
	if g == nil {
		return
	}
	for short, e := range p.acks {
		e.remove(p)
		delete(p.acks, short)
	}
	g.members--
	p.group = nil
	g.changed()
}

// reindexLocked moves p's entry for one type to match ts, after anything
// that may change it: a response sent, an ACK, a NACK, a subscription.
// Called with r.mu.
func (r *Registry) reindexLocked(p *Proxy, short string, ts *TypeStatus) {
	g := p.group
	if g == nil {
		return
	}
	old := p.acks[short]
	// Not yet sent anything, or subscribed to nothing: there is nothing
	// to hold, and nothing to wait for (pendingLocked's rule before the
	// index).
	if ts.SentNonce == "" || ts.None {
		if old != nil {
			old.remove(p)
			delete(p.acks, short)
			g.changed()
		}
		return
	}
	next := ackEntry{acked: ts.AckedVersion, names: ts.Names}
	if ts.LastNack != nil && ts.LastNack.Version != ts.AckedVersion {
		next.rejected = ts.LastNack.Version
	}
	if old != nil && sameSlice(old.names, ts.Names) {
		next.c = old.c
	} else {
		next.c = g.cohort(short, ts.Names)
	}
	if old != nil && old.c == next.c && old.acked == next.acked && old.rejected == next.rejected {
		old.names = next.names
		return
	}
	if old != nil {
		old.remove(p)
	} else {
		if p.acks == nil {
			p.acks = map[string]*ackEntry{}
		}
		old = &ackEntry{}
		p.acks[short] = old
	}
	*old = next
	old.add(p)
	g.changed()
}

// cohort returns the group's cohort of a type for names, made if need be.
func (g *ackGroup) cohort(short string, names []string) *cohort {
	// No names, or "*" among them, is a wildcard (respondSotw,
	// respondDelta): the full set's version.
	wildcard := len(names) == 0 || slices.Contains(names, "*")
	key := "*"
	var ns snapshot.NameSet
	if !wildcard {
		ns = snapshot.NameSetOf(names)
		// A key that cannot collide with the wildcard's: names are
		// joined with NUL, and no resource is named "*".
		key = "=" + ns.Key
	}
	byNames, ok := g.types[short]
	if !ok {
		byNames = map[string]*cohort{}
		g.types[short] = byNames
	}
	c, ok := byNames[key]
	if !ok {
		c = &cohort{key: key, of: byNames, names: ns, wildcard: wildcard, acked: map[string]int{}, rejected: map[string]map[*Proxy]struct{}{}}
		byNames[key] = c
	}
	return c
}

func (e *ackEntry) add(p *Proxy) {
	c := e.c
	if c.total == 0 {
		// Back in its group: a proxy moving within the cohort leaves it
		// empty for a moment (reindexLocked).
		c.of[c.key] = c
	}
	c.total++
	c.acked[e.acked]++
	if e.rejected != "" {
		set, ok := c.rejected[e.rejected]
		if !ok {
			set = map[*Proxy]struct{}{}
			c.rejected[e.rejected] = set
		}
		set[p] = struct{}{}
	}
}

func (e *ackEntry) remove(p *Proxy) {
	c := e.c
	if c.total--; c.total == 0 {
		delete(c.of, c.key)
	}
	if c.acked[e.acked]--; c.acked[e.acked] == 0 {
		delete(c.acked, e.acked)
	}
	if e.rejected != "" {
		delete(c.rejected[e.rejected], p)
		if len(c.rejected[e.rejected]) == 0 {
			delete(c.rejected, e.rejected)
		}
	}
}

// sameSlice reports whether a and b are the same list, not merely equal
// ones: the cheap test that a subscription did not change.
func sameSlice(a, b []string) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

// changed wakes the group's waiters, marking the group for them to count
// again, and the waits that scan.
func (g *ackGroup) changed() {
	for w := range g.waiters {
		w.dirty[g] = struct{}{}
		w.poke()
	}
	for w := range g.x.scanners {
		w.poke()
	}
}

// changedAll wakes every waiter to count every group again.
func (x *ackIndex) changedAll() {
	for w := range x.waiters {
		w.all = true
		w.poke()
	}
}
