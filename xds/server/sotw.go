package server

import (
	"slices"
	"strconv"
	"sync"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/shadowplane/shadowplane/xds/server/snapshot"
)

// sotwStream is one state-of-the-world ADS stream. Its handler goroutine
// reads requests and answers them itself; pushes are queued on it by
// SetGeneration and written by the fan-out (fanout.go), so a stream costs
// one goroutine of ours and a push wakes nothing but the writer.
//
// The protocol, as go-control-plane's ordered ADS server speaks it and
// Envoy and gRPC expect:
//   - responses of one stream go out in PushOrder, one type at a time,
//     each with a nonce of the stream's;
//   - a request whose nonce is not the last one sent for its type is
//     stale (a newer response is on its way) and is ignored;
//   - any other request replaces the type's subscription and is answered
//     at once if the client lacks the current version, else held;
//   - a NACK of the version last sent is not answered with it again.
type sotwStream struct {
	id    int64
	grpc  discovery.AggregatedDiscoveryService_StreamAggregatedResourcesServer
	cache *Cache
	reg   *Registry

	// Handler goroutine only.
	node    *core.Node
	subs    [numTypes]subscription
	watches [numTypes]*watch
	cancel  [numTypes]func()
	// held is the number of names the stream's last request of each type
	// URL asked for, and total their sum, for MaxNamesPerStream. held has
	// at most MaxTypesPerStream keys: Registry.request refuses more.
	held  map[string]int
	total int

	// group is guarded by the cache's lock.
	group groupMemo

	mu     sync.Mutex
	types  [numTypes]sentState
	nonce  int64
	closed bool
	// writing is set while one goroutine writes the queue; whoever sets
	// it writes until the queue is empty, so a stream has one writer at a
	// time and answers queued meanwhile are not lost.
	writing bool
	// unanswered counts types whose last response the client has not
	// answered yet (ACK or NACK). A stream with none has read everything
	// we sent, so gRPC has room for the next response and writing one
	// does not block (see write).
	unanswered int
	// burst is what was written since the client last owed nothing.
	burst   int
	written sync.WaitGroup
}

// sentState is what went out on one type. Guarded by sotwStream.mu.
type sentState struct {
	nonce, version string
	// waiting is set from a response until the client answers it.
	waiting bool
	queued  *response
	// For clusters and endpoints: the names of the last response sent
	// and of the last one ACKed, and whether the one sent adds names to
	// those ACKed (see nextQueued).
	sent, acked []string
	adds        bool
}

// inlineBurst is how much a fan-out worker writes to a stream that owes
// no answer: half of gRPC's per-stream write quota (defaultWriteQuota,
// 64 KiB), whose spending is what makes Send block.
// TestGRPCTakesAnInlineBurstWithoutBlocking fails if a gRPC upgrade makes
// that much block.
const inlineBurst = 32 << 10

// numTypes is the number of types a stream is served: len(snapshot.PushOrder),
// as a constant so that per-type state is an array, not a map.
const numTypes = 5

// firstRouting is the index in PushOrder of listeners, the first type that
// refers to clusters by name (then routes); runtime names none.
var firstRouting = typeIndex(resourcev3.ListenerType)

func init() {
	if len(snapshot.PushOrder) != numTypes || firstRouting != 2 || typeIndex(resourcev3.RouteType) != 3 {
		panic("server: PushOrder is not clusters, endpoints, listeners, routes, runtime")
	}
}

func typeIndex(typeURL string) int { return slices.Index(snapshot.PushOrder, typeURL) }

// subscription is the names a client asks for, with the protocol's
// wildcard rules: a first request with no names subscribes to everything
// (legacy wildcard) until a request names some; "*" among the names
// subscribes to everything explicitly.
type subscription struct {
	started bool
	legacy  bool
	// names is nil for a wildcard subscription, and otherwise interned
	// (see nameSets).
	names *snapshot.NameSet
}

// same reports whether a request's names leave the subscription as it is,
// as every ACK's do. It allocates nothing when the names come sorted, as
// Envoy sends them.
func (s *subscription) same(names []string) bool {
	switch {
	case !s.started:
		return false
	case s.legacy:
		return len(names) == 0
	case s.names == nil:
		return slices.Contains(names, "*")
	case slices.Equal(names, s.names.Names):
		return true
	default:
		return !slices.Contains(names, "*") && snapshot.NameSetOf(names).Key == s.names.Key
	}
}

// update applies a request's names, taking and releasing interned lists
// from sets.
func (s *subscription) update(names []string, sets *nameSets) {
	if !s.started {
		s.started, s.legacy = true, len(names) == 0
		if s.legacy {
			return
		}
	}
	if s.legacy {
		if len(names) == 0 {
			return
		}
		s.legacy = false
	}
	sets.release(s.names)
	s.names = nil
	if !slices.Contains(names, "*") {
		s.names = sets.acquire(names)
	}
}

// none reports whether the subscription names nothing: not a wildcard,
// and an empty list.
func (s *subscription) none() bool { return s.names != nil && len(s.names.Names) == 0 }

// recorded is what the registry shows of the subscription: the interned
// list, or for a wildcard the request's own few names.
func (s *subscription) recorded(names []string) []string {
	if s.names != nil {
		return s.names.Names
	}
	return slices.Clone(names)
}

// StreamAggregatedResources serves one state-of-the-world ADS stream.
func (s *Server) StreamAggregatedResources(stream discovery.AggregatedDiscoveryService_StreamAggregatedResourcesServer) error {
	st := &sotwStream{id: s.registry.newStreamID(), grpc: stream, cache: s.cache, reg: s.registry}
	s.registry.open(st.id, "sotw")
	s.registry.identify(st.id, identityOf(stream.Context()))
	defer st.close()
	for {
		req, err := stream.Recv()
		if err != nil {
			return nil // the client went away; nothing to tell it
		}
		if err := st.handle(req); err != nil {
			return s.limited(stream.Context(), req.GetNode().GetId(), err)
		}
	}
}

// handle answers one request.
func (s *sotwStream) handle(req *discovery.DiscoveryRequest) error {
	if err := checkRequest(req.Node, len(req.GetResourceNames())); err != nil {
		return err
	}
	// Only the first request must carry the node.
	if req.Node != nil {
		if err := s.reg.checkIdentity(s.id, req.Node); err != nil {
			return err
		}
		s.node = req.Node
	} else if s.node != nil {
		req.Node = s.node
	} else {
		req.Node = &core.Node{}
	}
	typeURL := req.GetTypeUrl()
	if typeURL == "" {
		return status.Error(codes.InvalidArgument, "type URL is required for ADS")
	}
	detail := req.GetErrorDetail()
	if err := s.reg.request(s.id, req.Node, typeURL, req.GetResponseNonce(), req.GetVersionInfo(), detail.GetMessage(), detail != nil); err != nil {
		return err
	}
	if err := s.admitNames(typeURL, len(req.GetResourceNames())); err != nil {
		return err
	}
	i := typeIndex(typeURL)
	if i < 0 {
		s.reg.subscribed(s.id, typeURL, slices.Clone(req.GetResourceNames()), false)
		return nil // a type shadowplane does not serve: never answered
	}
	t := &s.types[i]
	stale := func() bool { return t.nonce != "" && req.GetResponseNonce() != t.nonce }
	s.mu.Lock()
	if stale() {
		s.mu.Unlock()
		return nil // the client has a newer response coming; ignore it all
	}
	s.mu.Unlock()
	// Close the type's watch before touching what it may have queued.
	if w := s.watches[i]; w != nil && !w.answered.Load() {
		s.cancel[i]()
	}
	s.mu.Lock()
	if stale() { // the watch fired and its response went out meanwhile
		s.mu.Unlock()
		return nil
	}
	if t.waiting {
		t.waiting = false
		if s.unanswered--; s.unanswered == 0 {
			s.burst = 0
		}
		if detail == nil {
			t.acked, t.adds = t.sent, false
		}
	}
	// A push queued but not yet written was computed for the previous
	// subscription; this request is answered afresh below.
	t.queued = nil
	sent := t.version
	s.mu.Unlock()

	sub := &s.subs[i]
	if !sub.same(req.GetResourceNames()) {
		sub.update(req.GetResourceNames(), s.cache.names)
		s.reg.subscribed(s.id, typeURL, sub.recorded(req.GetResourceNames()), sub.none())
	}
	w := &watch{stream: s, node: req.Node, typeURL: typeURL, version: req.GetVersionInfo(), nack: detail != nil, names: sub.names, sent: sent}
	cancel, wr := s.cache.openSotw(w)
	s.watches[i], s.cancel[i] = w, cancel
	// Write what is queued: this answer, and pushes left for this
	// goroutine because the client owed an answer when they came (see
	// write). Blocking here on this client's flow control stalls no one
	// else.
	if wr != nil || s.claim() {
		s.write(true)
	}
	return nil
}

// admitNames checks MaxNamesPerStream for a request of typeURL naming n
// names, which replace the type's names. A stale request, whose names the
// stream ignores, counts as well: a client asks again for what it wants.
func (s *sotwStream) admitNames(typeURL string, n int) error {
	old := s.held[typeURL]
	if n == old {
		return nil // every ACK
	}
	if err := checkTotal(s.total-old, n); err != nil {
		return err
	}
	if s.held == nil {
		s.held = map[string]int{}
	}
	s.held[typeURL], s.total = n, s.total-old+n
	return nil
}

// enqueue queues r to be written, replacing an unwritten response of its
// type, and reports whether the caller must now run the writer. Called by
// the cache under its lock; never blocks.
func (s *sotwStream) enqueue(r *response) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.types[typeIndex(r.typeURL)].queued = r
	if s.writing {
		return false
	}
	s.writing = true
	s.written.Add(1)
	return true
}

// claim makes the caller the stream's writer when responses are queued
// and nobody writes them.
func (s *sotwStream) claim() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.writing || s.closed || s.nextQueued() < 0 {
		return false
	}
	s.writing = true
	s.written.Add(1)
	return true
}

// write sends the queued responses in PushOrder, as the stream's writer
// (see enqueue and claim). The stream's own handler writes them all
// (handler), blocking on this client alone if it must. Anyone else — a
// fan-out worker — writes only what gRPC takes without blocking, and
// leaves the rest to the handler, which writes it after the client's next
// request. So no goroutine but the handler ever waits in SendMsg, and the
// handler can always return.
//
// What gRPC takes without blocking: its Send waits only when the stream's
// write quota (64 KiB) is already spent by bytes not yet written out. A
// client that has answered everything it was sent has read it all, so the
// quota is whole; a worker then writes while fewer than inlineBurst bytes
// went out since — a whole push of several small types at once, or one
// large response.
func (s *sotwStream) write(handler bool) {
	for {
		s.mu.Lock()
		i := s.nextQueued()
		if i < 0 || s.closed || !handler && s.burst >= inlineBurst {
			s.writing = false
			s.mu.Unlock()
			s.written.Done()
			return
		}
		t := &s.types[i]
		r := t.queued
		t.queued = nil
		s.nonce++
		t.nonce, t.version = strconv.FormatInt(s.nonce, 10), r.version
		if !t.waiting {
			t.waiting = true
			s.unanswered++
		}
		if i < firstRouting {
			t.sent, t.adds = r.names, adds(r.names, t.acked)
		}
		nonce := t.nonce
		s.mu.Unlock()

		// Recorded before the write: the ACK may come back before Send
		// returns.
		s.reg.sent(s.id, r.typeURL, r.version, nonce)
		msg := r.message(nonce)
		err := s.grpc.SendMsg(msg)
		s.mu.Lock()
		s.burst += len(msg.body) + len(nonce) + 16 // frame and field headers
		if err != nil {
			s.closed = true // the handler sees Recv fail and returns
		}
		s.mu.Unlock()
	}
}

// nextQueued is the first type in PushOrder with a queued response that
// may go out now, or -1. Called with s.mu.
//
// Listeners, routes and the runtime layer wait while a cluster or
// endpoint response that adds names the proxy has not ACKed is queued or
// unanswered: a route may name a cluster only that response carries, and
// Envoy answers for an unknown cluster with 503. Pushes queued at once
// already go in PushOrder; this keeps the order across changes too, and
// lets Envoy take new clusters before routes to them. A response that
// only removes or changes clusters holds nothing back: the routes moving
// off a removed cluster should follow it at once. Clusters and endpoints
// never wait: Envoy ACKs new clusters only once their endpoints have
// come, and asks for them first.
func (s *sotwStream) nextQueued() int {
	newClusters := false
	for i := range s.types {
		t := &s.types[i]
		if t.queued != nil && (i < firstRouting || !newClusters) {
			return i
		}
		// (A queued cluster or endpoint response was returned above.)
		if i < firstRouting && t.waiting && t.adds {
			newClusters = true
		}
	}
	return -1
}

// adds reports whether sorted names holds a name sorted acked does not.
func adds(names, acked []string) bool {
	if len(names) > 0 && len(acked) == len(names) && &names[0] == &acked[0] {
		return false // the same shared list
	}
	j := 0
	for _, n := range names {
		for j < len(acked) && acked[j] < n {
			j++
		}
		if j == len(acked) || acked[j] != n {
			return true
		}
	}
	return false
}

// close ends the stream: its watches go, and the handler waits for a
// fan-out worker's write in progress (which cannot block), because gRPC
// forbids Send once the handler has returned.
func (s *sotwStream) close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	for i, cancel := range s.cancel {
		if cancel != nil {
			cancel()
		}
		s.cache.names.release(s.subs[i].names)
	}
	s.written.Wait()
	s.reg.close(s.id)
}
