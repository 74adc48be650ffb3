// Package server serves shadowplane's snapshots over ADS. State-of-the-world
// streams run on a stream loop of its own (sotw.go) whose pushes are written
// by a bounded fan-out; incremental (delta) streams run on go-control-plane's
// delta server over the same Cache. A Registry tracks every connected proxy.
package server

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/v3"

	"github.com/shadowplane/shadowplane/xds"
	"github.com/shadowplane/shadowplane/xds/server/snapshot"
)

// Cache answers each watch, state of the world or delta, from the snapshot
// of the node's group under the current model. For delta streams it is a
// go-control-plane cache.ConfigWatcher.
//
// It differs from go-control-plane's SnapshotCache on purpose:
//   - a NACKed version is not sent again (SnapshotCache resends it in a
//     tight loop); the watch waits for the next change and the proxy keeps
//     its last good configuration;
//   - a client that subscribes to some names of a type is answered with
//     those (SnapshotCache in ADS mode never answers it);
//   - versions are per type and per subset, so a route change pushes routes
//     only;
//   - SetGeneration translates new groups before it takes the lock, queues
//     answers in PushOrder, so every stream sees make-before-break, and
//     writes them after it lets go of the lock.
type Cache struct {
	onError func(key xds.GroupKey, err error)
	// enforce is told of each generation about to be served, under mu
	// and before it is: the registry makes its identity bindings the ones
	// every node claim is checked against, and closes the connections of
	// streams holding claims they refuse (revoke.go). What it returns is
	// called once mu is released, to report them.
	enforce func(*snapshot.Generation) func()

	// names interns state-of-the-world subscriptions' name lists.
	names *nameSets

	mu      sync.Mutex
	gen     *snapshot.Generation
	watches map[string]map[*watch]struct{}
	deltas  map[string]map[*deltaWatch]struct{}
	pushes  func(typeURL string, n int)
	// overflow is CacheOptions.OnDeltaOverflow.
	overflow func()
}

// watch is a state-of-the-world stream waiting for news of one type.
type watch struct {
	stream  *sotwStream
	node    *core.Node
	typeURL string
	// version is the version the request says the client holds, and
	// nack whether it rejected the last response. The request itself is
	// not kept: its names may be thousands of strings.
	version string
	nack    bool
	// names is nil for a wildcard subscription; prepared once, because a
	// watch is answered against every new generation until it fires.
	names *snapshot.NameSet
	// sent is the version last sent on this type, which a NACK rejects.
	sent string
	// answered is set once the watch has fired, so that cancelling it
	// then need not take the cache's lock.
	answered atomic.Bool
}

// deltaWatch is a delta stream waiting for news of one type. Its answer is
// sent on go-control-plane's per-stream channel after the cache's lock is
// released (deltaSend), so mu orders that send against cancel: the
// server cancels a watch before it opens the type's next one and before it
// closes the channel, and a send after either would deliver a stale
// answer or panic.
type deltaWatch struct {
	req *cache.DeltaRequest
	sub cache.Subscription
	ch  chan cache.DeltaResponse

	overflow func() // Cache.overflow

	mu        sync.Mutex
	cancelled bool
}

var _ cache.ConfigWatcher = (*Cache)(nil)

// CacheOptions are optional hooks of a Cache.
type CacheOptions struct {
	// OnSnapshotError is told when a group's snapshot cannot be built; its
	// proxies keep what they have.
	OnSnapshotError func(key xds.GroupKey, err error)
	// OnPush is told how many responses of a type a change answered.
	OnPush func(typeURL string, n int)
	// OnDeltaOverflow is told when a delta stream's response channel was
	// full, which go-control-plane's buffering rules out (see deltaSend);
	// the stream's next request answers again.
	OnDeltaOverflow func()
}

// NewCache returns a cache that answers nothing until SetGeneration.
func NewCache(opts CacheOptions) *Cache {
	c := &Cache{
		onError:  opts.OnSnapshotError,
		pushes:   opts.OnPush,
		overflow: opts.OnDeltaOverflow,
		names:    newNameSets(),
		watches:  map[string]map[*watch]struct{}{},
		deltas:   map[string]map[*deltaWatch]struct{}{},
	}
	if c.onError == nil {
		c.onError = func(xds.GroupKey, error) {}
	}
	if c.pushes == nil {
		c.pushes = func(string, int) {}
	}
	if c.overflow == nil {
		c.overflow = func() {}
	}
	for _, t := range snapshot.PushOrder {
		c.watches[t] = map[*watch]struct{}{}
		c.deltas[t] = map[*deltaWatch]struct{}{}
	}
	return c
}

// SetGeneration makes gen the served model. It first builds the snapshot
// of every group that has a watch open; if one fails, nothing changes and
// the error is returned. Then it answers every watch whose response
// changed, type by type in PushOrder.
func (c *Cache) SetGeneration(gen *snapshot.Generation) error {
	return c.set(nil, gen)
}

// replace makes gen the served model, as SetGeneration, if expected is
// still the one served.
func (c *Cache) replace(expected, gen *snapshot.Generation) error {
	return c.set(expected, gen)
}

// groups are the groups, under gen, of every node with a watch open.
func (c *Cache) groups(gen *snapshot.Generation) []xds.GroupKey {
	c.mu.Lock()
	var nodes []*core.Node
	for _, t := range snapshot.PushOrder {
		for w := range c.watches[t] {
			nodes = append(nodes, w.node)
		}
		for w := range c.deltas[t] {
			nodes = append(nodes, w.req.GetNode())
		}
	}
	c.mu.Unlock()
	seen := map[xds.GroupKey]bool{}
	var keys []xds.GroupKey
	for _, n := range nodes {
		if key := gen.Key(n); !seen[key] {
			seen[key] = true
			keys = append(keys, key)
		}
	}
	return keys
}

func (c *Cache) set(expected, gen *snapshot.Generation) error {
	// Translate outside the lock: ACKs keep flowing meanwhile.
	var errs []error
	for _, key := range c.groups(gen) {
		if _, err := gen.Snapshot(key); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	c.mu.Lock()
	if expected != nil && c.gen != expected {
		c.mu.Unlock()
		return nil // a newer generation is served: it decides
	}
	report := func() {}
	if c.enforce != nil {
		report = c.enforce(gen)
	}
	old := c.gen
	c.gen = gen
	unchanged := typesUnchanged(old, gen)
	var writers, deltaSends []writer
	for _, t := range snapshot.PushOrder {
		n := fire(c.watches[t], t, unchanged, c.respondSotw, &writers)
		n += fire(c.deltas[t], t, unchanged, c.respondDelta, &deltaSends)
		if n > 0 {
			c.pushes(t, n)
		}
	}
	c.mu.Unlock()
	report()
	// Every answer is built, in PushOrder per stream; send them without
	// the lock, so ACKs and new streams are served meanwhile. Delta
	// answers go in order, on this goroutine: each is one channel send
	// that cannot block (deltaSend).
	for _, d := range deltaSends {
		d.write(false)
	}
	fanOut(writers)
	return nil
}

// pending is an open watch of either protocol.
type pending[R any] interface {
	comparable
	getNode() *core.Node
	// send hands the answer to the stream without blocking. It returns
	// the writer that must now write the stream's queue, or nil when
	// there is none to start (delta streams write their own; a
	// state-of-the-world stream may already be writing).
	send(R) writer
}

func (w *watch) getNode() *core.Node { return w.node }
func (w *watch) send(r *response) writer {
	w.answered.Store(true)
	if w.stream.enqueue(r) {
		return w.stream
	}
	return nil
}
func (w *deltaWatch) getNode() *core.Node { return w.req.GetNode() }
func (w *deltaWatch) send(r cache.DeltaResponse) writer {
	return &deltaSend{w: w, r: r}
}

// cancel stops w for good: a send not yet made is dropped, and one being
// made finishes first.
func (w *deltaWatch) cancel() {
	w.mu.Lock()
	w.cancelled = true
	w.mu.Unlock()
}

// deltaSend is a delta answer to hand to go-control-plane's stream once
// the cache's lock is released.
//
// The send never waits. go-control-plane buffers the stream's channel at
// twice the number of types it knows and empties it before handling each
// request, and a watch — one per type, opened by a request — is answered
// once, so at most one answer per type is ever in the channel
// (TestDeltaChannelHasRoomForEveryType pins this). Should that change,
// the answer is dropped and counted rather than blocking a push: the
// stream's next request reopens the watch, and the answer, computed
// afresh against what the client holds, includes the change.
type deltaSend struct {
	w *deltaWatch
	r cache.DeltaResponse
}

func (d *deltaSend) write(bool) {
	d.w.mu.Lock()
	defer d.w.mu.Unlock()
	if d.w.cancelled {
		return
	}
	select {
	case d.w.ch <- d.r:
	default:
		d.w.overflow()
	}
}

// fire answers every watch of set that has something new, removes it,
// adds the writers to start to writers, and returns how many it answered.
// Called with c.mu.
func fire[W pending[R], R any](set map[W]struct{}, typ string, unchanged func(*core.Node, string) bool, respond func(W) (R, bool), writers *[]writer) int {
	n := 0
	for w := range set {
		if unchanged(w.getNode(), typ) {
			continue
		}
		if resp, ok := respond(w); ok {
			if wr := w.send(resp); wr != nil {
				*writers = append(*writers, wr)
			}
			delete(set, w)
			n++
		}
	}
	return n
}

// open answers w at once if it has something to send, and otherwise parks
// it in its type's set until a change. It returns the watch's cancel, and
// the writer the caller must run, after the lock, when the answer was
// queued for one. A type shadowplane does not serve (secrets, say) is held
// forever.
func open[W pending[R], R any](c *Cache, sets map[string]map[W]struct{}, typeURL string, w W, respond func(W) (R, bool)) (func(), writer) {
	// The first proxy of a group not seen yet would translate it under the
	// lock, stalling every other stream's ACK: translate it before.
	if gen := c.Generation(); gen != nil {
		gen.Snapshot(gen.Key(w.getNode()))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	set, ok := sets[typeURL]
	if !ok {
		return func() {}, nil
	}
	if resp, ok := respond(w); ok {
		c.pushes(typeURL, 1)
		return func() {}, w.send(resp)
	}
	set[w] = struct{}{}
	return func() {
		c.mu.Lock()
		delete(set, w)
		c.mu.Unlock()
	}, nil
}

// typesUnchanged reports, for a node and a type, whether the node's group
// serves that type identically under both generations. Every open watch
// was answered (or held) against the old generation, so such a watch has
// nothing new to hear: skipping it makes a route change cost one check per
// stream for the other four types. Results are computed once per group.
func typesUnchanged(old, gen *snapshot.Generation) func(*core.Node, string) bool {
	if old == nil {
		return func(*core.Node, string) bool { return false }
	}
	type key struct {
		group xds.GroupKey
		typ   string
	}
	memo := map[key]bool{}
	return func(node *core.Node, typ string) bool {
		g := gen.Key(node)
		if old.Key(node) != g {
			return false // the node changed group: its resources may differ
		}
		k := key{g, typ}
		if v, ok := memo[k]; ok {
			return v
		}
		before, err1 := old.Snapshot(g)
		after, err2 := gen.Snapshot(g)
		same := err1 == nil && err2 == nil && before.Type(typ) != nil && after.Type(typ) != nil &&
			before.Type(typ).Version == after.Type(typ).Version
		memo[k] = same
		return same
	}
}

// Generation returns the served generation; nil before the first.
func (c *Cache) Generation() *snapshot.Generation {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

// openSotw answers a state-of-the-world request at once when the client
// lacks the current version, and otherwise holds it until a change. See
// open for what it returns.
func (c *Cache) openSotw(w *watch) (func(), writer) {
	return open(c, c.watches, w.typeURL, w, c.respondSotw)
}

// CreateWatch is go-control-plane's state-of-the-world entry point, which
// shadowplane does not use: its own stream loop calls openSotw.
func (c *Cache) CreateWatch(*cache.Request, cache.Subscription, chan cache.Response) (func(), error) {
	return nil, errors.New("state-of-the-world streams are served by shadowplane's stream loop")
}

// respondSotw builds w's response from the current snapshot, or reports
// there is nothing to send: the client already has it, or has just
// rejected it. Called with c.mu.
func (c *Cache) respondSotw(w *watch) (*response, bool) {
	// A stream's watches are answered from one snapshot per generation:
	// group the node once, not on every ACK.
	m := &w.stream.group
	if m.gen != c.gen || m.node != w.node {
		m.gen, m.node, m.snap = c.gen, w.node, c.snapshot(w.node)
	}
	if m.snap == nil {
		return nil, false
	}
	ts := m.snap.Type(w.typeURL)
	if ts == nil {
		return nil, false
	}
	r := &response{typeURL: ts.TypeURL}
	if w.names == nil {
		r.version, r.body, r.names = ts.Version, ts, ts.Names
	} else {
		s := ts.SubsetOf(*w.names)
		r.version, r.body, r.names = s.Version, s, s.Names
	}
	if r.version == w.version {
		return nil, false
	}
	if w.nack && r.version == w.sent {
		// The client rejected exactly this; it keeps its last good
		// configuration and hears from us again when something changes.
		return nil, false
	}
	return r, true
}

// typeSnapshot is the node's snapshot of one type, or nil when there is
// none to serve yet. Called with c.mu.
func (c *Cache) typeSnapshot(node *core.Node, typeURL string) *snapshot.TypeSnapshot {
	if snap := c.snapshot(node); snap != nil {
		return snap.Type(typeURL)
	}
	return nil
}

// snapshot is the node's snapshot, or nil when there is none to serve.
// Called with c.mu.
func (c *Cache) snapshot(node *core.Node) *snapshot.Snapshot {
	if c.gen == nil {
		return nil
	}
	key := c.gen.Key(node)
	snap, err := c.gen.Snapshot(key)
	if err != nil {
		c.onError(key, err)
		return nil
	}
	return snap
}

// groupMemo is the snapshot a stream's node was last served under a
// generation. Guarded by Cache.mu.
type groupMemo struct {
	gen  *snapshot.Generation
	node *core.Node
	snap *snapshot.Snapshot
}

// SnapshotFor returns the snapshot node is served under the current model.
func (c *Cache) SnapshotFor(node *core.Node) (*snapshot.Snapshot, xds.GroupKey, error) {
	gen := c.Generation()
	if gen == nil {
		return nil, xds.GroupKey{}, errors.New("no policy loaded yet")
	}
	key := gen.Key(node)
	snap, err := gen.Snapshot(key)
	return snap, key, err
}

// Fetch is the REST variant of xDS, which shadowplane does not serve.
func (c *Cache) Fetch(context.Context, *cache.Request) (cache.Response, error) {
	return nil, errors.New("shadowplane serves xDS over gRPC streams only")
}

// response is a state-of-the-world response. Its encoded body is shared by
// every stream of the group; each stream sends it with a nonce of its own.
type response struct {
	typeURL string
	version string
	// body encodes the response on first use, outside the cache lock.
	body interface{ Response() []byte }
	// names are the resources' names, sorted; shared, never changed.
	names []string
}

// message is r as sent on a stream with nonce.
func (r *response) message(nonce string) *encodedResponse {
	return &encodedResponse{body: r.body.Response(), nonce: nonce}
}
