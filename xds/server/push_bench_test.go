package server

import (
	"context"
	"fmt"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/shadowplane/shadowplane/test/simproxy"
	"github.com/shadowplane/shadowplane/xds/server/snapshot"
)

// BenchmarkPush measures a weight change applied in-process (as the
// analysis loop applies one) until every simulated proxy has received and
// ACKed the new routes. Proxies share 10 gRPC connections. ns/op is the
// propagation time; heap-B/proxy is the process heap (server and clients
// together) per connected proxy.
func BenchmarkPush(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprintf("proxies=%d", n), func(b *testing.B) { benchPush(b, n) })
	}
}

func benchPush(b *testing.B, n int) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := NewCache(CacheOptions{})
	weight := uint32(0)
	gen := func() *snapshot.Generation { return snapshot.NewGeneration(model(weight, 40)) }
	if err := c.SetGeneration(gen()); err != nil {
		b.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go New(ctx, c, NewRegistry(c, nil), Options{MaxConcurrentStreams: uint32(n)}).Serve(ctx, lis)

	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)

	var mu sync.Mutex
	target := ""
	var done atomic.Int64
	allAcked := make(chan struct{}, 1)
	acked := func(typeURL, v string, _ time.Time) {
		if typeURL != resourcev3.RouteType {
			return
		}
		mu.Lock()
		hit := v == target
		mu.Unlock()
		if hit && done.Add(1) == int64(n) {
			allAcked <- struct{}{}
		}
	}
	// The first route version every proxy ACKs is the initial one.
	snap, _, _ := c.SnapshotFor(&core.Node{Id: "x", Cluster: "bench"})
	target = snap.Type(resourcev3.RouteType).Version

	const conns = 10
	var clients []*grpc.ClientConn
	for i := 0; i < conns; i++ {
		cc, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			b.Fatal(err)
		}
		defer cc.Close()
		clients = append(clients, cc)
	}
	for i := 0; i < n; i++ {
		go simproxy.Run(ctx, simproxy.Config{
			Node:  &core.Node{Id: fmt.Sprintf("proxy-%d", i), Cluster: "bench", UserAgentName: "envoy"},
			Conn:  clients[i%conns],
			OnACK: acked,
		})
	}
	select {
	case <-allAcked:
	case <-time.After(60 * time.Second):
		b.Fatalf("initial sync: %d of %d proxies", done.Load(), n)
	}
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)

	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		weight = uint32(1 + i%99)
		g := gen()
		snap, _ := g.Snapshot(g.Key(&core.Node{Id: "x", Cluster: "bench"}))
		mu.Lock()
		target = snap.Type(resourcev3.RouteType).Version
		mu.Unlock()
		done.Store(0)
		if err := c.SetGeneration(g); err != nil {
			b.Fatal(err)
		}
		select {
		case <-allAcked:
		case <-time.After(60 * time.Second):
			b.Fatalf("push: %d of %d proxies ACKed", done.Load(), n)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(after.HeapInuse-before.HeapInuse)/float64(n), "heap-B/proxy")
}
