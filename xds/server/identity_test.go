package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"strings"
	"testing"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/shadowplane/shadowplane/internal/tlsfiles"
	"github.com/shadowplane/shadowplane/policy"
	"github.com/shadowplane/shadowplane/test/grpcxds"
	"github.com/shadowplane/shadowplane/xds/bootstrap"
	"github.com/shadowplane/shadowplane/xds/server/snapshot"
)

const (
	frontID = "spiffe://example.org/ns/default/sa/front"
	apiID   = "spiffe://example.org/ns/default/sa/api"
)

// boundModel serves greeter.test to cluster "front", which only the front
// identity (by SPIFFE ID or DNS name) may claim, and api.test to node
// "api-1", bound to the api identity. Every proxy gets public.test.
func boundModel(backend string) *policy.Model {
	app := func(name string, sel policy.Selector) policy.App {
		a := policy.App{
			Kind: policy.KindApp, Name: name, Hosts: []string{name + ".test"}, Port: 10000, Proxies: sel,
			Variants: []policy.Variant{{Name: "v1", Endpoints: []string{backend}}},
			Routes:   []policy.Route{{Name: "default", Split: []policy.Backend{{Variant: "v1"}}}},
			Source:   policy.Source{File: "apps.yaml", Line: 1},
		}
		a.Defaults()
		return a
	}
	return &policy.Model{Apps: []policy.App{
		app("api", policy.Selector{IDs: []string{"api-1"}, Identities: []string{apiID}}),
		app("greeter", policy.Selector{Clusters: []string{"front"}, Identities: []string{frontID, "front.example.org"}}),
		app("public", policy.Selector{}),
	}}
}

// tlsHarness is a server on 127.0.0.1 speaking TLS, with the CA that
// signed its certificate.
type tlsHarness struct {
	addr     string
	serverCA *testCA
	registry *Registry
	cache    *Cache
	// denied receives what Options.OnDenied is told.
	denied chan limitEvent
}

// startTLS serves m over TLS with a fresh server certificate; clientCA, if
// not nil, signs the proxies' certificates.
func startTLS(t *testing.T, m *policy.Model, clientCA *testCA) *tlsHarness {
	t.Helper()
	serverCA := newTestCA(t, "server CA")
	f := serverCA.IssueFiles(t, leaf{IP: net.ParseIP("127.0.0.1"), Server: true})
	files := tlsfiles.Files{Cert: f.Cert, Key: f.Key}
	if clientCA != nil {
		files.ClientCA = writeFile(t, t.TempDir(), "clients.pem", clientCA.PEM)
	}
	r, err := tlsfiles.New(files, tlsfiles.Options{})
	if err != nil {
		t.Fatal(err)
	}
	h := startWith(t, m, Options{Creds: credentials.NewTLS(r.ServerConfig())})
	h.serverCA = serverCA
	return h
}

func startWith(t *testing.T, m *policy.Model, opts Options) *tlsHarness {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	c := NewCache(CacheOptions{})
	if err := c.SetGeneration(snapshot.NewGeneration(m)); err != nil {
		t.Fatal(err)
	}
	h := &tlsHarness{registry: NewRegistry(c, nil), cache: c, denied: make(chan limitEvent, 16)}
	opts.OnDenied = func(peer, nodeID string, err error) { h.denied <- limitEvent{peer, nodeID, err} }
	srv := New(ctx, c, h.registry, opts)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ctx, lis)
	h.addr = lis.Addr().String()
	return h
}

// clientTLS is a proxy's TLS configuration: it trusts the server's CA and
// presents a certificate of ca's for l, if ca is not nil.
func (h *tlsHarness) clientTLS(t *testing.T, ca *testCA, l leaf) *tls.Config {
	t.Helper()
	roots := x509.NewCertPool()
	roots.AddCert(h.serverCA.Cert)
	cfg := &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	if ca != nil {
		c, k, _ := ca.Issue(t, l)
		pair, err := tls.X509KeyPair(c, k)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg
}

func dialADS(t *testing.T, addr string, creds credentials.TransportCredentials) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// firstSotw sends one state-of-the-world request for clusters as node
// and returns the answer, or the error the stream ended with.
func firstSotw(t *testing.T, conn *grpc.ClientConn, node *core.Node) (*discovery.DiscoveryResponse, discovery.AggregatedDiscoveryService_StreamAggregatedResourcesClient, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	s, err := discovery.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
	if err != nil {
		return nil, nil, err
	}
	if err := s.Send(&discovery.DiscoveryRequest{Node: node, TypeUrl: resourcev3.ClusterType}); err != nil {
		_, err = s.Recv() // the stream's status
		return nil, nil, err
	}
	resp, err := s.Recv()
	return resp, s, err
}

func firstDelta(t *testing.T, conn *grpc.ClientConn, node *core.Node) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	s, err := discovery.NewAggregatedDiscoveryServiceClient(conn).DeltaAggregatedResources(ctx)
	if err != nil {
		return err
	}
	if err := s.Send(&discovery.DeltaDiscoveryRequest{Node: node, TypeUrl: resourcev3.ClusterType}); err != nil {
		_, err = s.Recv()
		return err
	}
	_, err = s.Recv()
	return err
}

func envoyNode(id, cluster string) *core.Node {
	return &core.Node{Id: id, Cluster: cluster, UserAgentName: "envoy"}
}

// wantDenied checks that err is PermissionDenied naming the identity and
// node, and that OnDenied was told with the client's address.
func (h *tlsHarness) wantDenied(t *testing.T, err error, identity, node string) {
	t.Helper()
	if status.Code(err) != codes.PermissionDenied {
		t.Fatalf("stream ended with %v, want PermissionDenied", err)
	}
	msg := status.Convert(err).Message()
	for _, want := range []string{identity, `node "` + node + `"`, "apps.yaml:1"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q does not name %q", msg, want)
		}
	}
	ev := <-h.denied
	if !strings.HasPrefix(ev.peer, "127.0.0.1:") || status.Code(ev.err) != codes.PermissionDenied {
		t.Errorf("OnDenied(%q, %q, %v), want the client's address and the status", ev.peer, ev.nodeID, ev.err)
	}
}

func TestIdentityBindsNodes(t *testing.T) {
	clients := newTestCA(t, "proxy CA")
	h := startTLS(t, boundModel("127.0.0.1:9"), clients)
	dial := func(l leaf) *grpc.ClientConn {
		return dialADS(t, h.addr, credentials.NewTLS(h.clientTLS(t, clients, l)))
	}
	served := []struct {
		name string
		leaf leaf
		node *core.Node
	}{
		{"SPIFFE ID allowed for the cluster", leaf{SPIFFE: frontID, DNS: []string{"other.example.org"}}, envoyNode("front-1", "front")},
		{"DNS name allowed when there is no SPIFFE ID", leaf{DNS: []string{"front.example.org"}}, envoyNode("front-2", "front")},
		{"an unbound node takes any identity", leaf{SPIFFE: apiID}, envoyNode("edge-1", "edge")},
		{"the bound id with its identity", leaf{SPIFFE: apiID}, envoyNode("api-1", "edge")},
	}
	for _, tc := range served {
		t.Run(tc.name, func(t *testing.T) {
			resp, _, err := firstSotw(t, dial(tc.leaf), tc.node)
			if err != nil || len(resp.GetResources()) == 0 {
				t.Fatalf("got %v, %v; want clusters", resp, err)
			}
		})
	}
	refused := []struct {
		name     string
		leaf     leaf
		node     *core.Node
		identity string
	}{
		{"another identity claims the cluster", leaf{SPIFFE: apiID}, envoyNode("front-9", "front"), apiID},
		{"another identity claims the id", leaf{SPIFFE: frontID}, envoyNode("api-1", "edge"), frontID},
		{"the DNS name is not used when there is a SPIFFE ID", leaf{SPIFFE: apiID, DNS: []string{"front.example.org"}}, envoyNode("front-9", "front"), apiID},
		{"a certificate with no identity", leaf{}, envoyNode("front-9", "front"), "no SPIFFE URI or DNS name"},
	}
	for _, tc := range refused {
		t.Run("sotw: "+tc.name, func(t *testing.T) {
			_, _, err := firstSotw(t, dial(tc.leaf), tc.node)
			h.wantDenied(t, err, tc.identity, tc.node.GetId())
		})
		t.Run("delta: "+tc.name, func(t *testing.T) {
			err := firstDelta(t, dial(tc.leaf), tc.node)
			h.wantDenied(t, err, tc.identity, tc.node.GetId())
		})
	}
	t.Run("a node changed mid-stream is checked again", func(t *testing.T) {
		resp, s, err := firstSotw(t, dial(leaf{SPIFFE: frontID}), envoyNode("front-1", "front"))
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Send(&discovery.DiscoveryRequest{Node: envoyNode("api-1", "edge"), TypeUrl: resourcev3.ClusterType, VersionInfo: resp.GetVersionInfo(), ResponseNonce: resp.GetNonce()}); err != nil {
			t.Fatal(err)
		}
		_, err = s.Recv()
		h.wantDenied(t, err, frontID, "api-1")
	})
	t.Run("the identity shows in the registry", func(t *testing.T) {
		_, _, err := firstSotw(t, dial(leaf{SPIFFE: frontID}), envoyNode("front-3", "front"))
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range h.registry.Proxies() {
			if p.NodeID == "front-3" && p.Identity != frontID {
				t.Errorf("proxy front-3 has identity %q, want %q", p.Identity, frontID)
			}
		}
	})
}

func TestWithoutClientCertsNothingIsBound(t *testing.T) {
	m := boundModel("127.0.0.1:9")
	t.Run("server TLS only", func(t *testing.T) {
		h := startTLS(t, m, nil)
		conn := dialADS(t, h.addr, credentials.NewTLS(h.clientTLS(t, nil, leaf{})))
		if resp, _, err := firstSotw(t, conn, envoyNode("front-1", "front")); err != nil || len(resp.GetResources()) == 0 {
			t.Fatalf("got %v, %v; want clusters", resp, err)
		}
	})
	t.Run("plaintext", func(t *testing.T) {
		h := startWith(t, m, Options{})
		conn := dialADS(t, h.addr, insecure.NewCredentials())
		if resp, _, err := firstSotw(t, conn, envoyNode("front-1", "front")); err != nil || len(resp.GetResources()) == 0 {
			t.Fatalf("got %v, %v; want clusters", resp, err)
		}
	})
}

func TestClientCertificateRequired(t *testing.T) {
	clients := newTestCA(t, "proxy CA")
	h := startTLS(t, boundModel("127.0.0.1:9"), clients)
	for name, cfg := range map[string]*tls.Config{
		"no certificate":                h.clientTLS(t, nil, leaf{}),
		"a certificate of another CA":   h.clientTLS(t, newTestCA(t, "rogue CA"), leaf{SPIFFE: frontID}),
		"the server's CA is not theirs": h.clientTLS(t, h.serverCA, leaf{SPIFFE: frontID}),
	} {
		t.Run(name, func(t *testing.T) {
			_, _, err := firstSotw(t, dialADS(t, h.addr, credentials.NewTLS(cfg)), envoyNode("front-1", "front"))
			if status.Code(err) != codes.Unavailable {
				t.Fatalf("stream ended with %v, want Unavailable (handshake refused)", err)
			}
		})
	}
	if n := len(h.registry.Proxies()); n != 0 {
		t.Errorf("%d proxies registered, want none", n)
	}
}

// TestGRPCClientOverMTLS runs gRPC-Go's own xDS client from the bootstrap
// `shadowplane bootstrap --grpc --tls-ca --tls-cert --tls-key` prints.
func TestGRPCClientOverMTLS(t *testing.T) {
	backend := grpcxds.StartBackend(t, "v1")
	clients := newTestCA(t, "proxy CA")
	h := startTLS(t, boundModel(backend.Addr), clients)
	f := clients.IssueFiles(t, leaf{SPIFFE: frontID})
	ca := writeFile(t, t.TempDir(), "server-ca.pem", h.serverCA.PEM)
	c := grpcxds.DialWith(t, bootstrap.Options{
		XDSAddress: h.addr, NodeID: "front-1", NodeCluster: "front",
		TLS: bootstrap.TLS{CA: ca, Cert: f.Cert, Key: f.Key},
	}, "greeter.test")
	got, err := c.Call(context.Background())
	if err != nil || got != "v1" {
		t.Fatalf("Call = %q, %v; want v1", got, err)
	}
	var found bool
	for _, p := range h.registry.Proxies() {
		found = found || (p.NodeID == "front-1" && p.Identity == frontID && p.Kind == "grpc")
	}
	if !found {
		t.Errorf("no gRPC proxy front-1 with identity %s in %+v", frontID, h.registry.Proxies())
	}
}

// handshakes passes the server's TLS handshakes through, and reports each
// one's error.
type handshakes struct {
	credentials.TransportCredentials
	errs chan error
}

func (h handshakes) ServerHandshake(c net.Conn) (net.Conn, credentials.AuthInfo, error) {
	conn, info, err := h.TransportCredentials.ServerHandshake(c)
	select {
	case h.errs <- err:
	default: // the test has what it needs; later retries are not waited for
	}
	return conn, info, err
}

func (h handshakes) Clone() credentials.TransportCredentials {
	return handshakes{h.TransportCredentials.Clone(), h.errs}
}

// gRPC-Go's xDS client, from a bootstrap without a certificate or with one
// of another CA, never gets past the handshake.
func TestGRPCClientWithoutValidCertIsRefused(t *testing.T) {
	clients := newTestCA(t, "proxy CA")
	serverCA := newTestCA(t, "server CA")
	srv := serverCA.IssueFiles(t, leaf{IP: net.ParseIP("127.0.0.1"), Server: true})
	r, err := tlsfiles.New(tlsfiles.Files{Cert: srv.Cert, Key: srv.Key, ClientCA: writeFile(t, t.TempDir(), "clients.pem", clients.PEM)}, tlsfiles.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for name, cert := range map[string]func() (string, string){
		"no certificate": func() (string, string) { return "", "" },
		"another CA's": func() (string, string) {
			f := newTestCA(t, "rogue CA").IssueFiles(t, leaf{SPIFFE: frontID})
			return f.Cert, f.Key
		},
		"the server CA's": func() (string, string) { f := serverCA.IssueFiles(t, leaf{SPIFFE: frontID}); return f.Cert, f.Key },
	} {
		t.Run(name, func(t *testing.T) {
			hs := handshakes{credentials.NewTLS(r.ServerConfig()), make(chan error, 16)}
			h := startWith(t, boundModel("127.0.0.1:9"), Options{Creds: hs})
			certFile, keyFile := cert()
			c := grpcxds.DialWith(t, bootstrap.Options{
				XDSAddress: h.addr, NodeID: "front-1", NodeCluster: "front",
				TLS: bootstrap.TLS{CA: srv.CA, Cert: certFile, Key: keyFile},
			}, "greeter.test")
			go c.Call(context.Background()) // blocks until the test closes the client
			if err := <-hs.errs; err == nil || !strings.Contains(err.Error(), "certificate") {
				t.Fatalf("the client's handshake: %v, want it refused for its certificate", err)
			}
			if n := len(h.registry.Proxies()); n != 0 {
				t.Errorf("%d proxies registered, want none", n)
			}
		})
	}
}
