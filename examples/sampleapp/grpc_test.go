package main

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

func dialGRPC(t *testing.T, addr string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// unary calls UnaryCall with md as request metadata and returns the server
// id and the x-version response header.
func unary(t *testing.T, conn *grpc.ClientConn, md map[string]string) (serverID, header string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ctx = metadata.NewOutgoingContext(ctx, metadata.New(md))
	var hdr metadata.MD
	resp, err := testgrpc.NewTestServiceClient(conn).UnaryCall(ctx, &testgrpc.SimpleRequest{}, grpc.Header(&hdr))
	if err != nil {
		t.Fatal(err)
	}
	return resp.GetServerId(), firstOf(hdr.Get("x-version"))
}

// unaryErr calls UnaryCall expecting an error and returns its status.
func unaryErr(t *testing.T, conn *grpc.ClientConn) *status.Status {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := testgrpc.NewTestServiceClient(conn).UnaryCall(ctx, &testgrpc.SimpleRequest{})
	if err == nil {
		t.Fatal("UnaryCall succeeded, want an error")
	}
	return status.Convert(err)
}

func firstOf(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

func TestGRPCAnswersWithVersion(t *testing.T) {
	srv := startServer(t, loopback("v2"))
	if id, hdr := unary(t, dialGRPC(t, srv.GRPCAddr()), nil); id != "v2" || hdr != "v2" {
		t.Errorf("UnaryCall = server id %q, x-version %q; want v2", id, hdr)
	}
}

func TestGRPCHealth(t *testing.T) {
	srv := startServer(t, loopback("v1"))
	client := healthpb.NewHealthClient(dialGRPC(t, srv.GRPCAddr()))
	for _, service := range []string{"", "grpc.testing.TestService"} {
		resp, err := client.Check(context.Background(), &healthpb.HealthCheckRequest{Service: service})
		if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("Check(%q) = %v, %v; want SERVING", service, resp, err)
		}
	}
}

func TestGRPCInjectedErrorIsUnavailable(t *testing.T) {
	cfg := loopback("v2")
	cfg.ErrorRate = 1
	srv := startServer(t, cfg)
	if st := unaryErr(t, dialGRPC(t, srv.GRPCAddr())); st.Code() != codes.Unavailable || st.Message() != "injected error version=v2" {
		t.Errorf("UnaryCall = %v, want Unavailable", st)
	}
}

// A deadline ends the injected sleep, and the call is still counted.
func TestGRPCDeadlineEndsSleep(t *testing.T) {
	cfg := loopback("v1")
	cfg.Latency = time.Hour
	srv := startServer(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := testgrpc.NewTestServiceClient(dialGRPC(t, srv.GRPCAddr())).UnaryCall(ctx, &testgrpc.SimpleRequest{})
	if status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("UnaryCall = %v, want DeadlineExceeded", err)
	}
	// The server sees either its own deadline pass or the client's cancel,
	// whichever comes first.
	waitFor(t, "the expired call to be counted", func() bool {
		families := scrape(t, srv)
		var n float64
		for _, code := range []string{"DeadlineExceeded", "Canceled"} {
			labels := map[string]string{"version": "v1", "protocol": "grpc", "code": code, "mirrored": "false"}
			n += series(families, "sampleapp_requests_total", labels).GetCounter().GetValue()
		}
		return n == 1
	})
}
