package server

import (
	"context"
	"net"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"

	"github.com/shadowplane/shadowplane/xds"
)

// Proxy is what shadowplane knows of one connected xDS stream.
type Proxy struct {
	StreamID    int64                  `json:"streamId"`
	NodeID      string                 `json:"nodeId"`
	Cluster     string                 `json:"cluster"`
	UserAgent   string                 `json:"userAgent"`
	Kind        string                 `json:"kind"`
	Group       string                 `json:"group"`
	Protocol    string                 `json:"protocol"`
	Identity    string                 `json:"identity,omitempty"` // of a verified client certificate (identity.go)
	ConnectedAt time.Time              `json:"connectedAt"`
	Types       map[string]*TypeStatus `json:"types"`

	// windowStart and inWindow count the stream's requests in the current
	// second, for the flood limit.
	windowStart time.Time
	inWindow    int

	// typeURLs are the type URLs the stream has asked for, in full (two
	// may share a short name), for MaxTypesPerStream.
	typeURLs map[string]struct{}

	// verified is set when the client presented a verified certificate:
	// its Identity is then bound to the nodes it may claim. conn is then
	// its connection, closed when a policy takes a claim back; claims are
	// the nodes the stream has claimed and been allowed (a client may
	// send another node on the same stream); revoked is set once its
	// connection is closed for it.
	verified bool
	conn     net.Conn
	claims   []nodeClaim
	revoked  bool

	// group and acks are the proxy's place in the registry's ACK index:
	// its group, and its entry per type (short name).
	group *ackGroup
	acks  map[string]*ackEntry
}

// TypeStatus is the exchange of one resource type with a proxy.
type TypeStatus struct {
	SentVersion  string    `json:"sentVersion,omitempty"`
	SentNonce    string    `json:"sentNonce,omitempty"`
	SentAt       time.Time `json:"sentAt,omitzero"`
	AckedVersion string    `json:"ackedVersion,omitempty"`
	AckedAt      time.Time `json:"ackedAt,omitzero"`
	Pushes       int       `json:"pushes"`
	// LastNack is the most recent rejection; it stays visible after later
	// ACKs so that an operator can see what went wrong.
	LastNack *Nack `json:"lastNack,omitempty"`
	// Nacks counts rejections over the stream's life.
	Nacks int `json:"nacks"`
	// Names are the resources the proxy subscribes to by name (state of
	// the world); empty for a wildcard subscription.
	Names []string `json:"names,omitempty"`
	// None is set when the proxy subscribes to no resource of the type:
	// an empty list after a request that named some, which is how gRPC
	// clients let go of an app's routes and endpoints. Such a proxy is
	// not waited for on the type.
	None bool `json:"none,omitempty"`
}

// Nack is one rejection by a proxy.
type Nack struct {
	Version string    `json:"version"`
	Nonce   string    `json:"nonce"`
	Error   string    `json:"error"`
	At      time.Time `json:"at"`
}

// ProxyObserver is told of protocol events, for metrics. Methods are
// called with no lock held, from the stream's goroutine.
type ProxyObserver interface {
	Connected(kind string, delta bool)
	Disconnected(kind string, delta bool)
	Acked(typeURL string)
	Nacked(typeURL string)
}

// Registry tracks every stream from the go-control-plane server callbacks:
// who is connected, what each was sent, what it ACKed and what it
// rejected, with the error text.
type Registry struct {
	cache    *Cache
	observer ProxyObserver
	now      func() time.Time

	ids atomic.Int64

	mu      sync.Mutex
	streams map[int64]*Proxy
	// deltaIDs maps go-control-plane's delta stream ids, which it counts
	// on its own, to the registry's.
	deltaIDs map[int64]int64
	// acks counts who holds what, per group, for the waits (ackindex.go).
	acks *ackIndex

	// enforced are the identity bindings every node claim is checked
	// against: those of the generation served, or about to be (revoke.go).
	// Guarded by mu.
	enforced *identityBindings
	// onRevoked is told of each stream whose connection was closed
	// because a new model refuses its identity its node (revoke.go);
	// Server sets it to Options.OnDenied (tellRevoked). Guarded by mu.
	onRevoked func(peer, nodeID string, err error)
}

// NewRegistry tracks proxies of cache's streams. observer may be nil.
// It checks, before each generation is served, that every stream may
// still claim its node (revoke.go).
func NewRegistry(c *Cache, observer ProxyObserver) *Registry {
	r := &Registry{cache: c, observer: observer, now: time.Now, streams: map[int64]*Proxy{}, deltaIDs: map[int64]int64{}, acks: newAckIndex()}
	r.enforced = newIdentityBindings(c.Generation())
	c.enforce = r.enforce
	return r
}

// Proxies returns a copy of every connected proxy, sorted by node id.
func (r *Registry) Proxies() []Proxy {
	gen := r.cache.Generation()
	r.mu.Lock()
	out := make([]Proxy, 0, len(r.streams))
	for _, p := range r.streams {
		cp := *p
		if gen != nil && p.Kind != "" {
			// The group follows the model, which may have changed since
			// the proxy connected.
			cp.Group = gen.Key(p.node()).String()
		}
		cp.Types = make(map[string]*TypeStatus, len(p.Types))
		for k, v := range p.Types {
			ts := *v
			if v.LastNack != nil {
				n := *v.LastNack
				ts.LastNack = &n
			}
			cp.Types[k] = &ts
		}
		out = append(out, cp)
	}
	r.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].NodeID != out[j].NodeID {
			return out[i].NodeID < out[j].NodeID
		}
		return out[i].StreamID < out[j].StreamID
	})
	return out
}

// Node returns the node of a connected proxy by id.
func (r *Registry) Node(id string) (*core.Node, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range r.streams {
		if p.NodeID == id {
			return p.node(), true
		}
	}
	return nil, false
}

// newStreamID numbers a stream, of either protocol.
func (r *Registry) newStreamID() int64 { return r.ids.Add(1) }

// deltaCallbacks feed the registry from go-control-plane's delta server.
func (r *Registry) deltaCallbacks() serverv3.CallbackFuncs {
	id := func(delta int64) int64 {
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.deltaIDs[delta]
	}
	return serverv3.CallbackFuncs{
		DeltaStreamOpenFunc: func(ctx context.Context, delta int64, _ string) error {
			id := r.newStreamID()
			r.mu.Lock()
			r.deltaIDs[delta] = id
			r.mu.Unlock()
			r.open(id, "delta")
			r.identify(id, identityOf(ctx))
			return nil
		},
		DeltaStreamClosedFunc: func(delta int64, _ *core.Node) {
			r.close(id(delta))
			r.mu.Lock()
			delete(r.deltaIDs, delta)
			r.mu.Unlock()
		},
		StreamDeltaRequestFunc: func(delta int64, req *discovery.DeltaDiscoveryRequest) error {
			// A delta ACK carries no version; the registry fills in the
			// version it sent with that nonce.
			id := id(delta)
			if err := checkRequest(req.GetNode(), len(req.GetResourceNamesSubscribe())+len(req.GetResourceNamesUnsubscribe())+len(req.GetInitialResourceVersions())); err != nil {
				return err
			}
			if req.GetNode() != nil {
				if err := r.checkIdentity(id, req.GetNode()); err != nil {
					return err
				}
			}
			if err := r.request(id, req.GetNode(), req.GetTypeUrl(), req.GetResponseNonce(), "", req.GetErrorDetail().GetMessage(), req.GetErrorDetail() != nil); err != nil {
				return err
			}
			return r.subscribedDelta(id, req.GetTypeUrl(), req.GetResourceNamesSubscribe(), req.GetResourceNamesUnsubscribe())
		},
		StreamDeltaResponseFunc: func(delta int64, _ *discovery.DeltaDiscoveryRequest, resp *discovery.DeltaDiscoveryResponse) {
			r.sent(id(delta), resp.GetTypeUrl(), resp.GetSystemVersionInfo(), resp.GetNonce())
		},
	}
}

func (r *Registry) open(id int64, protocol string) {
	r.mu.Lock()
	r.streams[id] = &Proxy{StreamID: id, Protocol: protocol, ConnectedAt: r.now(), Types: map[string]*TypeStatus{}}
	r.mu.Unlock()
}

func (r *Registry) close(id int64) {
	r.mu.Lock()
	p, ok := r.streams[id]
	delete(r.streams, id)
	if ok {
		r.leaveLocked(p)
	}
	r.mu.Unlock()
	if ok && p.Kind != "" && r.observer != nil {
		r.observer.Disconnected(p.Kind, p.Protocol == "delta")
	}
}

func (r *Registry) request(id int64, node *core.Node, typeURL, nonce, version, errText string, nack bool) error {
	var connected, acked, nacked bool
	var p *Proxy
	r.mu.Lock()
	p, ok := r.streams[id]
	if !ok {
		r.mu.Unlock()
		return nil
	}
	if now := r.now(); now.Sub(p.windowStart) >= time.Second {
		p.windowStart, p.inWindow = now, 0
	}
	p.inWindow++
	if p.inWindow > MaxRequestsPerSecond {
		r.mu.Unlock()
		return errFlood
	}
	if _, ok := p.typeURLs[typeURL]; !ok {
		if len(p.typeURLs) >= MaxTypesPerStream {
			r.mu.Unlock()
			return errTooManyTypes
		}
		if p.typeURLs == nil {
			p.typeURLs = map[string]struct{}{}
		}
		p.typeURLs[typeURL] = struct{}{}
	}
	if node != nil && p.Kind == "" {
		p.NodeID, p.Cluster, p.UserAgent = node.GetId(), node.GetCluster(), node.GetUserAgentName()
		p.Kind = xds.KindOf(node).String()
		connected = true
		r.joinLocked(p)
	}
	ts := p.typeStatus(typeURL)
	// Only an answer to the latest response counts; the server ignores
	// stale nonces too.
	if nonce != "" && nonce == ts.SentNonce {
		if nack {
			ts.Nacks++
			ts.LastNack = &Nack{Version: ts.SentVersion, Nonce: nonce, Error: errText, At: r.now()}
			nacked = true
		} else {
			if version == "" {
				version = ts.SentVersion
			}
			ts.AckedVersion, ts.AckedAt = version, r.now()
			acked = true
		}
	}
	kind, delta := p.Kind, p.Protocol == "delta"
	if acked || nacked {
		r.reindexLocked(p, shortType(typeURL), ts)
	}
	r.mu.Unlock()

	if r.observer == nil {
		return nil
	}
	if connected {
		r.observer.Connected(kind, delta)
	}
	if acked {
		r.observer.Acked(typeURL)
	}
	if nacked {
		r.observer.Nacked(typeURL)
	}
	return nil
}

func (r *Registry) sent(id int64, typeURL, version, nonce string) {
	r.updateType(id, typeURL, func(ts *TypeStatus) {
		ts.SentVersion, ts.SentNonce, ts.SentAt = version, nonce, r.now()
		ts.Pushes++
	})
}

// updateType applies f to a connected stream's status of one type, under
// the registry's lock, and brings the ACK index up to date; a stream
// already gone is left alone.
func (r *Registry) updateType(id int64, typeURL string, f func(*TypeStatus)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if p, ok := r.streams[id]; ok {
		ts := p.typeStatus(typeURL)
		f(ts)
		r.reindexLocked(p, shortType(typeURL), ts)
	}
}

func (p *Proxy) typeStatus(typeURL string) *TypeStatus {
	short := shortType(typeURL)
	ts, ok := p.Types[short]
	if !ok {
		ts = &TypeStatus{}
		p.Types[short] = ts
	}
	return ts
}

// node is the part of the proxy's xDS node that grouping looks at.
func (p *Proxy) node() *core.Node {
	return &core.Node{Id: p.NodeID, Cluster: p.Cluster, UserAgentName: p.UserAgent}
}

// subscribed records the names a state-of-the-world request asks for, and
// whether it asks for none at all (TypeStatus.None). The registry keeps
// names, which the caller must not change: it is usually a list shared by
// every stream of a group (nameSets).
func (r *Registry) subscribed(id int64, typeURL string, names []string, none bool) {
	r.updateType(id, typeURL, func(ts *TypeStatus) { ts.Names, ts.None = names, none })
}

// heldLocked is the number of names p subscribes to in types other than
// short, for MaxNamesPerStream. Called with r.mu.
func (p *Proxy) heldLocked(short string) int {
	n := 0
	for t, ts := range p.Types {
		if t != short {
			n += len(ts.Names)
		}
	}
	return n
}

// subscribedDelta applies a delta request's subscription changes to the
// names the stream holds, or refuses them when the stream would then hold
// more than MaxNamesPerStream.
func (r *Registry) subscribedDelta(id int64, typeURL string, add, drop []string) error {
	if len(add) == 0 && len(drop) == 0 {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	p, ok := r.streams[id]
	if !ok {
		return nil
	}
	short := shortType(typeURL)
	ts := p.typeStatus(typeURL)
	names := make(map[string]bool, len(ts.Names)+len(add))
	for _, n := range ts.Names {
		names[n] = true
	}
	for _, n := range add {
		names[n] = true
	}
	for _, n := range drop {
		delete(names, n)
	}
	if err := checkTotal(p.heldLocked(short), len(names)); err != nil {
		return err
	}
	// A new slice: copies handed out by Proxies share the old one.
	list := make([]string, 0, len(names))
	for n := range names {
		list = append(list, n)
	}
	sort.Strings(list)
	ts.Names = list
	r.reindexLocked(p, short, ts)
	return nil
}
