package grpcxds

import (
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/xds"

	"github.com/shadowplane/shadowplane/xds/bootstrap"
)

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
