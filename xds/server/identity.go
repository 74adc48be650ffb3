package server

import (
	"context"
	"crypto/x509"
	"fmt"
	"net"
	"slices"
	"strings"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/shadowplane/shadowplane/policy"
	"github.com/shadowplane/shadowplane/xds/server/snapshot"
)

// peerIdentity is what a stream's TLS handshake proved about its client.
type peerIdentity struct {
	// verified is set when the client presented a certificate the server
	// verified against its client CA: only then is an identity bound.
	verified bool
	// name is the certificate's identity (CertIdentity); empty when it
	// has neither a SPIFFE URI nor a DNS name, which no policy can allow.
	name string
	// conn is the stream's connection, closed if a later policy takes
	// the identity's claim back (revoke.go).
	conn net.Conn
}

// identityOf reads the identity of the client of ctx's stream.
func identityOf(ctx context.Context) peerIdentity {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return peerIdentity{}
	}
	var conn net.Conn
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if c, wrapped := p.AuthInfo.(connTLSInfo); wrapped {
		info, conn, ok = c.TLSInfo, c.raw, true
	}
	if !ok || len(info.State.VerifiedChains) == 0 || len(info.State.VerifiedChains[0]) == 0 {
		return peerIdentity{}
	}
	return peerIdentity{verified: true, name: CertIdentity(info.State.VerifiedChains[0][0]), conn: conn}
}

// CertIdentity is the identity a proxy's certificate proves: its SPIFFE ID
// (the first spiffe:// URI SAN; an SVID has exactly one), else its first
// DNS SAN, else "". The subject's common name is not used: it is
// deprecated for names (RFC 6125) and Go no longer verifies it.
func CertIdentity(c *x509.Certificate) string {
	for _, u := range c.URIs {
		if strings.EqualFold(u.Scheme, "spiffe") {
			return u.String()
		}
	}
	if len(c.DNSNames) > 0 {
		return c.DNSNames[0]
	}
	return ""
}

// identify records the identity of stream id's client, for the admin API
// and for checkIdentity.
func (r *Registry) identify(id int64, pid peerIdentity) {
	if !pid.verified {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if p, ok := r.streams[id]; ok {
		p.Identity, p.verified, p.conn = pid.name, true, pid.conn
	}
}

// checkIdentity refuses a node that stream id's client may not claim: one
// whose cluster or id some app's selector binds to identities that do not
// include the client's (policy/identity.go). A stream whose client
// presented no verified certificate is not checked.
//
// It is called for every request that carries a node, since a client may
// send a node again, and a different one. The check and the record of an
// allowed claim are one step under the registry's lock, as is a new
// generation's scan of the claims (enforce): a claim is either checked
// against the new bindings or scanned by them, never neither.
func (r *Registry) checkIdentity(id int64, node *core.Node) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	p, ok := r.streams[id]
	if !ok || !p.verified {
		return nil
	}
	if err := r.enforced.check(p.Identity, node); err != nil {
		return err
	}
	c := nodeClaim{id: node.GetId(), cluster: node.GetCluster()}
	if slices.Contains(p.claims, c) {
		return nil
	}
	if len(p.claims) >= maxClaims {
		return status.Errorf(codes.PermissionDenied, "one stream may claim at most %d nodes; open a stream per node", maxClaims)
	}
	p.claims = append(p.claims, c)
	return nil
}

// nodeClaim is a node a stream claimed: what identity bindings look at.
type nodeClaim struct{ id, cluster string }

// maxClaims bounds the distinct nodes one stream may claim. Envoy and
// gRPC clients claim one.
const maxClaims = 8

// identityBindings index, for one generation, the apps whose selectors
// bind clusters and ids to identities.
type identityBindings struct {
	gen      *snapshot.Generation
	clusters map[string][]*policy.App
	ids      map[string][]*policy.App
}

func newIdentityBindings(gen *snapshot.Generation) *identityBindings {
	b := &identityBindings{gen: gen, clusters: map[string][]*policy.App{}, ids: map[string][]*policy.App{}}
	if gen == nil || gen.Model == nil {
		return b
	}
	for i := range gen.Model.Apps {
		a := &gen.Model.Apps[i]
		if len(a.Proxies.Identities) == 0 {
			continue
		}
		for _, c := range a.Proxies.Clusters {
			b.clusters[c] = append(b.clusters[c], a)
		}
		for _, id := range a.Proxies.IDs {
			b.ids[id] = append(b.ids[id], a)
		}
	}
	return b
}

// check refuses node to a client of identity name unless every app that
// would be served to it by its cluster or id allows the identity: the
// group's resources are served whole, so one app that does not allow the
// identity refuses the node.
func (b *identityBindings) check(name string, node *core.Node) error {
	if b == nil {
		return nil // no generation yet: nothing is served, nothing bound
	}
	refuse := func(field, value string, a *policy.App) error {
		who := fmt.Sprintf("identity %q", name)
		if name == "" {
			who = "a certificate with no SPIFFE URI or DNS name"
		}
		return status.Errorf(codes.PermissionDenied,
			"%s may not claim node %q (cluster %q): app %q (%s:%d) binds %s %q to identities %s",
			who, node.GetId(), node.GetCluster(), a.Name, a.Source.File, a.Source.Line, field, value, strings.Join(a.Proxies.Identities, ", "))
	}
	for _, a := range b.clusters[node.GetCluster()] {
		if !a.Proxies.AllowsIdentity(name) {
			return refuse("cluster", node.GetCluster(), a)
		}
	}
	for _, a := range b.ids[node.GetId()] {
		if !a.Proxies.AllowsIdentity(name) {
			return refuse("id", node.GetId(), a)
		}
	}
	return nil
}
