package server

import (
	"net"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/shadowplane/shadowplane/xds/server/snapshot"
)

// A policy change can take back what a certificate's identity may claim
// (proxies.identities). A stream's identity is checked on every request
// that carries a node, but Envoy sends its node once: without more, a
// stream whose identity was revoked would go on receiving its group's
// configuration until it reconnected. So as a generation is made the one
// served, every node each verified stream has claimed is checked against
// it, and the connection of each one refused is closed — before the
// generation is visible to any stream, so none of it reaches the client.
// The client reconnects and is refused with PermissionDenied on its first
// request.
//
// The connection is closed, not only the stream: the identity belongs to
// the connection's TLS handshake, and gRPC gives no way to end a stream
// from outside its handler, which sits in Recv (go-control-plane's, for
// delta). Other streams of that connection reconnect at once.

// connCreds are TransportCredentials whose TLS AuthInfo also carries the
// raw connection, so that the registry can close a stream's connection.
type connCreds struct {
	credentials.TransportCredentials
}

// connTLSInfo is credentials.TLSInfo with the connection it came from.
type connTLSInfo struct {
	credentials.TLSInfo
	raw net.Conn
}

func (c connCreds) ServerHandshake(raw net.Conn) (net.Conn, credentials.AuthInfo, error) {
	conn, info, err := c.TransportCredentials.ServerHandshake(raw)
	if tls, ok := info.(credentials.TLSInfo); ok && err == nil {
		return conn, connTLSInfo{TLSInfo: tls, raw: raw}, nil
	}
	return conn, info, err
}

func (c connCreds) Clone() credentials.TransportCredentials {
	return connCreds{c.TransportCredentials.Clone()}
}

// withConns wraps creds, if any, in connCreds.
func withConns(creds credentials.TransportCredentials) credentials.TransportCredentials {
	if creds == nil {
		return nil
	}
	return connCreds{creds}
}

// revoked is a stream refused by a generation, with what to tell.
type revoked struct {
	peer   string
	nodeID string
	err    error
}

// enforce makes gen's identity bindings the ones node claims are checked
// against, and closes the connection of every verified stream holding a
// claim they refuse. The cache calls it under its lock, before it serves
// gen: a stream whose claim was allowed before is closed here, before
// any answer from gen is built or written; one that claims after is
// checked against gen's bindings (checkIdentity). It returns what reports
// the streams closed (onRevoked), for the cache to call once its lock is
// released.
func (r *Registry) enforce(gen *snapshot.Generation) func() {
	b := newIdentityBindings(gen)
	var out []revoked
	r.mu.Lock()
	r.enforced = b
	if len(b.clusters) > 0 || len(b.ids) > 0 {
		for _, p := range r.streams {
			if !p.verified || p.conn == nil || p.revoked {
				continue
			}
			for _, c := range p.claims {
				if err := b.check(p.Identity, &core.Node{Id: c.id, Cluster: c.cluster}); err != nil {
					p.revoked = true
					// Closing a socket is a system call, not a wait: done
					// here, before gen is visible to any stream's handler.
					p.conn.Close()
					err = status.Errorf(codes.PermissionDenied, "connection closed: the policy changed: %s", status.Convert(err).Message())
					out = append(out, revoked{peer: p.conn.RemoteAddr().String(), nodeID: c.id, err: err})
					break
				}
			}
		}
	}
	tell := r.onRevoked
	r.mu.Unlock()
	return func() {
		if tell == nil {
			return
		}
		for _, v := range out {
			tell(v.peer, v.nodeID, v.err)
		}
	}
}

// tellRevoked sets what enforce tells of each stream it closes. The
// registry may be serving already (the pipeline publishes before the
// server starts), so it is set under the lock.
func (r *Registry) tellRevoked(f func(peer, nodeID string, err error)) {
	r.mu.Lock()
	r.onRevoked = f
	r.mu.Unlock()
}
