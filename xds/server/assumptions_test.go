package server

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/envoyproxy/go-control-plane/pkg/server/delta/v3"
	"github.com/envoyproxy/go-control-plane/pkg/server/stream/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/shadowplane/shadowplane/xds/server/snapshot"
)

// The tests in this file pin what the push path assumes about gRPC and
// go-control-plane, so that an upgrade that changes it fails here rather
// than stalling pushes in production.

// A delta answer is sent after the cache's lock is released, and never
// waits: with the stream's channel full, SetGeneration still returns, the
// lock is free, and the dropped answer is counted. (Sent under the lock,
// as it once was, this deadlocks: synctest reports it.)
func TestDeltaSendNeverHoldsTheCacheLock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var overflows atomic.Int64
		c := NewCache(CacheOptions{OnDeltaOverflow: func() { overflows.Add(1) }})
		full := make(chan cache.DeltaResponse, 1)
		full <- nil // a client that has not read its last answer
		open := make(chan cache.DeltaResponse, 1)
		watch := func(ch chan cache.DeltaResponse) func() {
			req := &cache.DeltaRequest{Node: &core.Node{Id: "d", Cluster: "test", UserAgentName: "envoy"}, TypeUrl: resourcev3.ClusterType}
			sub := stream.NewDeltaSubscription(nil, nil, nil, true)
			cancel, err := c.CreateDeltaWatch(req, sub, ch)
			if err != nil {
				t.Fatal(err)
			}
			return cancel
		}
		watch(full)
		watch(open)
		cancelled := make(chan cache.DeltaResponse, 1)
		watch(cancelled)() // opened and cancelled at once: hears nothing

		if err := c.SetGeneration(snapshot.NewGeneration(model(20, 40))); err != nil {
			t.Fatal(err)
		}
		if !c.mu.TryLock() {
			t.Fatal("SetGeneration returned holding the cache lock")
		}
		c.mu.Unlock()
		if n := overflows.Load(); n != 1 {
			t.Errorf("overflows = %d, want 1 (the full channel)", n)
		}
		if len(open) != 1 {
			t.Error("the stream with room did not get its answer")
		}
		if len(cancelled) != 0 {
			t.Error("a cancelled watch got an answer")
		}
	})
}

// deltaSend's "never waits" rests on go-control-plane buffering each delta
// stream's channel with room for an answer per type served (and emptying
// it before each request). This records the channel a real delta server
// hands the cache.
func TestDeltaChannelHasRoomForEveryType(t *testing.T) {
	ctx, cancelCtx := context.WithCancel(context.Background())
	defer cancelCtx()
	c := NewCache(CacheOptions{})
	if err := c.SetGeneration(snapshot.NewGeneration(model(20, 40))); err != nil {
		t.Fatal(err)
	}
	rec := &capRecorder{Cache: c, caps: make(chan int, 1)}
	ds := delta.NewServer(ctx, rec, nil)
	gs := grpc.NewServer()
	discovery.RegisterAggregatedDiscoveryServiceServer(gs, deltaOnly{ds: ds})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go gs.Serve(lis)
	defer gs.Stop()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	s, err := discovery.NewAggregatedDiscoveryServiceClient(conn).DeltaAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(&discovery.DeltaDiscoveryRequest{Node: &core.Node{Id: "d", Cluster: "test"}, TypeUrl: resourcev3.ClusterType}); err != nil {
		t.Fatal(err)
	}
	if got := <-rec.caps; got < len(snapshot.PushOrder) {
		t.Fatalf("go-control-plane's delta channel holds %d answers; shadowplane serves %d types and sends without waiting", got, len(snapshot.PushOrder))
	}
}

type capRecorder struct {
	*Cache
	caps chan int
}

func (r *capRecorder) CreateDeltaWatch(req *cache.DeltaRequest, sub cache.Subscription, ch chan cache.DeltaResponse) (func(), error) {
	select {
	case r.caps <- cap(ch):
	default:
	}
	return r.Cache.CreateDeltaWatch(req, sub, ch)
}

type deltaOnly struct {
	discovery.UnimplementedAggregatedDiscoveryServiceServer
	ds delta.Server
}

func (d deltaOnly) DeltaAggregatedResources(s discovery.AggregatedDiscoveryService_DeltaAggregatedResourcesServer) error {
	return d.ds.DeltaStreamHandler(s, resourcev3.AnyType)
}

// The fan-out writes up to inlineBurst bytes to a stream whose client has
// read everything it was sent, on the premise that gRPC's Send takes that
// much without blocking even if the client then reads nothing (its write
// quota and the HTTP/2 window, 64 KiB each today). A client that never
// reads, with gRPC's smallest window, must not block those sends.
func TestGRPCTakesAnInlineBurstWithoutBlocking(t *testing.T) {
	done := make(chan error, 1)
	desc := grpc.StreamDesc{StreamName: "Burst", ServerStreams: true}
	gs := grpc.NewServer()
	gs.RegisterService(&grpc.ServiceDesc{
		ServiceName: "canary.Canary",
		HandlerType: (*any)(nil),
		Streams: []grpc.StreamDesc{{StreamName: "Burst", ServerStreams: true, Handler: func(_ any, ss grpc.ServerStream) error {
			var in wrapperspb.BytesValue
			if err := ss.RecvMsg(&in); err != nil {
				done <- err
				return err
			}
			chunk := &wrapperspb.BytesValue{Value: make([]byte, 1<<10)}
			for sent := 0; sent < inlineBurst; sent += len(chunk.Value) + 8 {
				if err := ss.SendMsg(chunk); err != nil {
					done <- err
					return err
				}
			}
			done <- nil
			<-ss.Context().Done()
			return nil
		}}},
	}, struct{}{})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go gs.Serve(lis)
	defer gs.Stop()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithInitialWindowSize(64<<10), grpc.WithInitialConnWindowSize(64<<10))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cs, err := conn.NewStream(ctx, &desc, "/canary.Canary/Burst")
	if err != nil {
		t.Fatal(err)
	}
	if err := cs.SendMsg(&wrapperspb.BytesValue{}); err != nil {
		t.Fatal(err)
	}
	// The client reads nothing from here on. Sends that fit never block,
	// so the deadline only catches a hang; it is not a timing assertion.
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("gRPC blocked a send of less than %d bytes to a client that reads nothing: the fan-out's inline burst would stall pushes", inlineBurst)
	}
}
