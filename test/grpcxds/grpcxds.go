// Package grpcxds runs real gRPC peers for shadowplane's tests: backend
// servers that say which version answered, and proxyless clients that
// route through shadowplane with gRPC-Go's own xDS implementation.
package grpcxds

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/xds"

	"github.com/shadowplane/shadowplane/xds/bootstrap"
)

// Backend is a gRPC TestService on 127.0.0.1 that answers every UnaryCall
// with its version as the server id.
type Backend struct {
	Version string
	Addr    string
}

type backendServer struct {
	testgrpc.UnimplementedTestServiceServer
	version string
}

func (b *backendServer) UnaryCall(context.Context, *testgrpc.SimpleRequest) (*testgrpc.SimpleResponse, error) {
	return &testgrpc.SimpleResponse{ServerId: b.version}, nil
}

// StartBackend serves version on a free loopback port until the test ends.
func StartBackend(t testing.TB, version string) *Backend {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer()
	testgrpc.RegisterTestServiceServer(s, &backendServer{version: version})
	go s.Serve(lis)
	t.Cleanup(s.Stop)
	return &Backend{Version: version, Addr: lis.Addr().String()}
}

// Bootstrap is the gRPC xDS bootstrap for a client named nodeID talking to
// the control plane at xdsAddr: exactly what `shadowplane bootstrap --grpc`
// prints, so every test that dials through it checks that command's output.
func Bootstrap(xdsAddr, nodeID, cluster string) []byte {
	b, err := bootstrap.GRPC(bootstrap.Options{XDSAddress: xdsAddr, NodeID: nodeID, NodeCluster: cluster})
	if err != nil {
		panic(fmt.Sprintf("gRPC bootstrap for %s: %v", xdsAddr, err))
	}
	return b
}

// Client is a proxyless gRPC client of xds:///host.
type Client struct {
	conn *grpc.ClientConn
	svc  testgrpc.TestServiceClient
}

// Dial connects to xds:///host through the control plane at xdsAddr. The
// resolver takes its bootstrap directly, since gRPC reads the bootstrap
// environment variables only once per process.
func Dial(t testing.TB, xdsAddr, nodeID, cluster, host string) *Client {
	t.Helper()
	return DialWith(t, bootstrap.Options{XDSAddress: xdsAddr, NodeID: nodeID, NodeCluster: cluster}, host)
}

// DialWith is Dial with every bootstrap option given, TLS to the control
// plane included: the client reads exactly what `shadowplane bootstrap
// --grpc` prints for o. Only the xDS stream uses TLS; the test's backends
// stay plaintext.
func DialWith(t testing.TB, o bootstrap.Options, host string) *Client {
	t.Helper()
	b, err := bootstrap.GRPC(o)
	if err != nil {
		t.Fatal(err)
	}
	res, err := xds.NewXDSResolverWithConfigForTesting(b)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient("xds:///"+host,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithResolvers(res))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &Client{conn: conn, svc: testgrpc.NewTestServiceClient(conn)}
}

// Call makes one RPC with the given headers and returns the version that
// answered.
func (c *Client) Call(ctx context.Context, headers ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if len(headers) > 0 {
		ctx = metadata.AppendToOutgoingContext(ctx, headers...)
	}
	resp, err := c.svc.UnaryCall(ctx, &testgrpc.SimpleRequest{}, grpc.WaitForReady(true))
	if err != nil {
		return "", err
	}
	return resp.GetServerId(), nil
}

// Split makes n RPCs and counts the answers per version.
func (c *Client) Split(ctx context.Context, n int, headers ...string) (map[string]int, error) {
	counts := map[string]int{}
	for i := 0; i < n; i++ {
		v, err := c.Call(ctx, headers...)
		if err != nil {
			return counts, fmt.Errorf("RPC %d: %w", i, err)
		}
		counts[v]++
	}
	return counts, nil
}

// Share is the percentage of calls version answered.
func Share(counts map[string]int, version string) float64 {
	total := 0
	for _, n := range counts {
		total += n
	}
	if total == 0 {
		return 0
	}
	return 100 * float64(counts[version]) / float64(total)
}
