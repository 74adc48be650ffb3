package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/envoyproxy/go-control-plane/pkg/server/delta/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// Options tune the gRPC server.
type Options struct {
	// KeepaliveTime is how often an idle connection is pinged; a proxy
	// that does not answer within KeepaliveTimeout is dropped, so its
	// watches and registry entry go with it. Defaults: 30 s and 20 s
	// (gRPC's). A shorter timeout drops healthy proxies under load: while
	// a thousand proxies each take in a megabyte of configuration, a
	// proxy's answer to the ping waits behind its share of it, and with
	// 5 s a quarter of them were dropped mid-sync and never caught up
	// (`xdsload -n 1000 -apps 1000`).
	KeepaliveTime    time.Duration
	KeepaliveTimeout time.Duration
	// MaxConcurrentStreams bounds the streams of one connection, so a
	// client that opens streams without limit hits a limit, not the
	// server's memory. Default 100: an Envoy needs one.
	MaxConcurrentStreams uint32
	// WriteBufferSize is a connection's write buffer while it writes.
	// Buffers are pooled, but during a push to thousands of proxies
	// thousands of connections hold one at once (gRPC's writer yields
	// before it flushes, to batch more), and the pool keeps them until the
	// next collections: at gRPC's 32 KiB they were 7 KiB of each proxy's
	// share of memory at 10,000 proxies. Default 16 KiB, an HTTP/2 data
	// frame: a 200 KB route table then takes 13 writes instead of 7 (15 %
	// more CPU per push at 1,000 apps).
	WriteBufferSize int
	// ConnectionTimeout bounds the time a new connection has to complete
	// its HTTP/2 (and TLS) handshake; one that sends nothing is closed
	// then. Default 10 s, not gRPC's 120 s: a client that opens
	// connections and sends nothing holds a file descriptor each for
	// this long.
	ConnectionTimeout time.Duration
	// MaxConnectionIdle closes a connection that has had no stream for
	// this long (a GOAWAY, then the connection). Envoy and gRPC's xDS
	// client keep their ADS stream open for the connection's life, so
	// only a client that connects and asks for nothing meets it.
	// Default 2 minutes.
	MaxConnectionIdle time.Duration
	// FirstRequestTimeout closes a stream that sends no request this long
	// after it opens (firstrequest.go). Default 30 s: Envoy and gRPC send
	// theirs at once.
	FirstRequestTimeout time.Duration
	// OnLimit is told of every stream closed for going over a limit
	// (limits.go): the client's address, the node id it gave (if any), and
	// the status it was closed with. serve logs and counts it.
	OnLimit func(peer, nodeID string, err error)
	// Creds secure the connections (credentials.NewTLS of a
	// tlsfiles.Reloader's ServerConfig); nil serves
	// plaintext. With client certificates, each stream's identity is
	// bound to the nodes it may claim (identity.go).
	Creds credentials.TransportCredentials
	// Penalties, if set, refuse the next streams of a connection (and with
	// Penalties.PerAddress, of an address) whose stream was closed over a
	// limit, for a while, before reading them (penalty.go). serve shares
	// them with its LimitListener, which refuses penalised addresses'
	// connections. Nil penalises nothing.
	Penalties *Penalties
	// OnDenied is told of every stream refused because its certificate's
	// identity may not claim the node it gave (codes.PermissionDenied),
	// with the client's address. serve logs it.
	OnDenied func(peer, nodeID string, err error)
}

func (o Options) withDefaults() Options {
	if o.KeepaliveTime == 0 {
		o.KeepaliveTime = 30 * time.Second
	}
	if o.KeepaliveTimeout == 0 {
		o.KeepaliveTimeout = 20 * time.Second
	}
	if o.MaxConcurrentStreams == 0 {
		o.MaxConcurrentStreams = 100
	}
	if o.WriteBufferSize == 0 {
		o.WriteBufferSize = 16 << 10
	}
	if o.ConnectionTimeout == 0 {
		o.ConnectionTimeout = 10 * time.Second
	}
	if o.MaxConnectionIdle == 0 {
		o.MaxConnectionIdle = 2 * time.Minute
	}
	if o.FirstRequestTimeout == 0 {
		o.FirstRequestTimeout = 30 * time.Second
	}
	if o.OnLimit == nil {
		o.OnLimit = func(string, string, error) {}
	}
	if o.OnDenied == nil {
		o.OnDenied = func(string, string, error) {}
	}
	return o
}

// flowWindow is the HTTP/2 window of every stream and connection. A
// request carrying thousands of resource names fits in it.
const flowWindow = 1 << 20

// Server is the ADS gRPC server: state-of-the-world streams on shadowplane's
// own stream loop (sotw.go), delta streams on go-control-plane's delta
// server (decision 0003).
type Server struct {
	grpc     *grpc.Server
	cache    *Cache
	registry *Registry
	delta    delta.Server
	onLimit  func(peer, nodeID string, err error)
	onDenied func(peer, nodeID string, err error)
}

var _ discovery.AggregatedDiscoveryServiceServer = (*Server)(nil)

// New builds a server over cache whose streams feed registry.
func New(ctx context.Context, cache *Cache, registry *Registry, opts Options) *Server {
	opts = opts.withDefaults()
	// A stream closed over a limit penalises its client; the line logged
	// for it says for how long. Streams refused during a penalty are told
	// to the caller's OnLimit as they are, and do not lengthen it.
	onLimit := opts.OnLimit
	if opts.Penalties != nil {
		onLimit = func(peer, nodeID string, err error) {
			if d := opts.Penalties.Offend(peer); d > 0 {
				st := status.Convert(err)
				err = status.Error(st.Code(), fmt.Sprintf("%s; client penalised for %s (--xds-limit-penalty)", st.Message(), d))
			}
			opts.OnLimit(peer, nodeID, err)
		}
	}
	gs := grpc.NewServer(
		grpc.MaxConcurrentStreams(opts.MaxConcurrentStreams),
		// nil: plaintext, as with no option. TLS connections are kept
		// with their streams, to close them if an identity is revoked.
		grpc.Creds(withConns(opts.Creds)),
		// Responses are encoded once per group, not per stream (codec.go);
		// requests are checked on the wire before they are decoded
		// (wirelimits.go), and refused unread past MaxRequestBytes.
		grpc.ForceServerCodecV2(wireCodec{newCodec()}),
		grpc.MaxRecvMsgSize(MaxRequestBytes),
		// A proxy's connection is idle between pushes: return the write
		// buffer to a shared pool after each flush and keep a small read
		// buffer, instead of 32 KiB of each per connection for its life.
		grpc.SharedWriteBuffer(true),
		grpc.WriteBufferSize(opts.WriteBufferSize),
		grpc.ReadBufferSize(4<<10),
		// Fixed flow-control windows turn off gRPC's bandwidth estimator,
		// which otherwise pings the proxy after every ACK it receives:
		// one more write and read per proxy and push, for a stream whose
		// requests are a few hundred bytes.
		grpc.InitialWindowSize(flowWindow),
		grpc.InitialConnWindowSize(flowWindow),
		grpc.ConnectionTimeout(opts.ConnectionTimeout),
		// Outermost first: a penalised client's stream is refused before
		// anything else; then the first request's deadline, then each
		// request's wire check.
		grpc.ChainStreamInterceptor(
			penaltyGate(opts.Penalties, opts.OnLimit),
			firstRequestDeadline(opts.FirstRequestTimeout, onLimit),
			wireLimits(onLimit),
		),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: opts.KeepaliveTime, Timeout: opts.KeepaliveTimeout, MaxConnectionIdle: opts.MaxConnectionIdle}),
		// Envoy pings as often as its bootstrap says (30 s in ours);
		// allow that, and pings on idle connections.
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 5 * time.Second, PermitWithoutStream: true}),
	)
	s := &Server{grpc: gs, cache: cache, registry: registry, delta: delta.NewServer(ctx, cache, registry.deltaCallbacks()), onLimit: onLimit, onDenied: opts.OnDenied}
	registry.tellRevoked(opts.OnDenied)
	discovery.RegisterAggregatedDiscoveryServiceServer(gs, s)
	return s
}

// DeltaAggregatedResources serves one incremental ADS stream.
func (s *Server) DeltaAggregatedResources(stream discovery.AggregatedDiscoveryService_DeltaAggregatedResourcesServer) error {
	return s.limited(stream.Context(), "", s.delta.DeltaStreamHandler(stream, resourcev3.AnyType))
}

// limited tells OnLimit of a stream closed over a limit, and OnDenied of
// one refused its node, and returns err. Every limit closes with
// ResourceExhausted, a refused identity with PermissionDenied, and nothing
// else here does.
func (s *Server) limited(ctx context.Context, nodeID string, err error) error {
	code := status.Code(err)
	if code != codes.ResourceExhausted && code != codes.PermissionDenied {
		return err
	}
	addr := peerOf(ctx)
	if code == codes.PermissionDenied {
		s.onDenied(addr, nodeID, err)
		return err
	}
	s.onLimit(addr, nodeID, err)
	return err
}

// peerOf is the client address of a stream's context, or "unknown".
func peerOf(ctx context.Context) string {
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		return p.Addr.String()
	}
	return "unknown"
}

// Serve serves on lis until ctx is done. Streams are then closed at once
// (a graceful stop would wait for streams that never end); proxies keep
// their configuration and reconnect.
func (s *Server) Serve(ctx context.Context, lis net.Listener) error {
	done := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			s.grpc.Stop()
		case <-done:
		}
	}()
	err := s.grpc.Serve(lis)
	close(done)
	if errors.Is(err, grpc.ErrServerStopped) {
		return nil
	}
	return err
}

// GRPC returns the underlying gRPC server, for callers that serve it
// themselves (load harnesses).
func (s *Server) GRPC() *grpc.Server { return s.grpc }
