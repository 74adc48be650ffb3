package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/shadowplane/shadowplane/test/grpcxds"
	"github.com/shadowplane/shadowplane/test/serveproc"
	"github.com/shadowplane/shadowplane/test/testca"
	"github.com/shadowplane/shadowplane/xds/bootstrap"
)

// serve over mTLS: a gRPC-Go xDS client with the front proxy's
// certificate gets its route; a client with another identity claiming the
// front proxy's cluster is refused, and serve logs it with the peer.
func TestServeOverMTLSBindsIdentities(t *testing.T) {
	const front, other = "spiffe://example.org/ns/edge/sa/front", "spiffe://example.org/ns/edge/sa/other"
	backend := grpcxds.StartBackend(t, "v1")
	serverCA, proxyCA := testca.New(t, "server CA"), testca.New(t, "proxy CA")
	srv := serverCA.IssueFiles(t, testca.Leaf{IP: net.ParseIP("127.0.0.1"), Server: true})
	clientCA := testca.WriteFile(t, t.TempDir(), "proxies.pem", proxyCA.PEM)

	policies := t.TempDir()
	app := fmt.Sprintf(`kind: App
name: greeter
hosts: [greeter.test]
proxies:
  clusters: [front]
  identities: [%q]
variants: [{name: v1, endpoints: [%q]}]
routes: [{name: default, split: [{variant: v1}]}]
`, front, backend.Addr)
	if err := os.WriteFile(filepath.Join(policies, "greeter.yaml"), []byte(app), 0o644); err != nil {
		t.Fatal(err)
	}

	lines := make(chan string, 1000)
	ctx, cancel := context.WithCancel(context.Background())
	p, err := serveproc.Start(ctx, binary, policies, func(line string) {
		t.Log("shadowplane: " + line)
		select {
		case lines <- line:
		default:
		}
	}, "--xds-tls-cert", srv.Cert, "--xds-tls-key", srv.Key, "--xds-client-ca", clientCA)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		p.Wait()
	})

	// The client reads the bootstrap `shadowplane bootstrap --grpc --tls-*` prints.
	pair := proxyCA.IssueFiles(t, testca.Leaf{SPIFFE: front})
	c := grpcxds.DialWith(t, bootstrap.Options{
		XDSAddress: p.XDS, NodeID: "front-1", NodeCluster: "front",
		TLS: bootstrap.TLS{CA: srv.CA, Cert: pair.Cert, Key: pair.Key},
	}, "greeter.test")
	if got, err := c.Call(context.Background()); err != nil || got != "v1" {
		t.Fatalf("the front proxy's client: Call = %q, %v; want v1", got, err)
	}

	// Another identity claims the front proxy's cluster.
	roots := x509.NewCertPool()
	roots.AddCert(serverCA.Cert)
	certPEM, keyPEM, _ := proxyCA.Issue(t, testca.Leaf{SPIFFE: other})
	liar, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(p.XDS, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: roots, Certificates: []tls.Certificate{liar}})))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	sctx, scancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer scancel()
	s, err := discovery.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(sctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(&discovery.DiscoveryRequest{Node: &core.Node{Id: "front-2", Cluster: "front"}, TypeUrl: resourcev3.ClusterType}); err != nil {
		t.Fatal(err)
	}
	_, err = s.Recv()
	if status.Code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), other) {
		t.Fatalf("the liar's stream ended with %v, want PermissionDenied naming %s", err, other)
	}
	// The log line follows the refusal; the timer only bounds a failure.
	deadline := time.After(30 * time.Second)
	for logged := false; !logged; {
		select {
		case line := <-lines:
			logged = strings.Contains(line, "xDS stream refused") && strings.Contains(line, "peer=127.0.0.1:") && strings.Contains(line, other)
		case <-deadline:
			t.Fatal("serve did not log the refused stream with its peer and identity")
		}
	}
}
