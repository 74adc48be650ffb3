package main

import (
	"context"
	"fmt"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/shadowplane/shadowplane/test/simproxy"
)

// fleet is N simulated proxies. Each proxy reports the route versions it
// ACKs; the fleet counts, per change, the proxies that have ACKed a route
// version other than the one every proxy held before the change.
type fleet struct {
	addr  string
	n     int
	conns int
	// bad proxies (the first ones) misbehave: they never ACK, ACK with a
	// wrong nonce, or flood requests. Only the others are waited for.
	bad int
	// delta makes the proxies speak incremental xDS.
	delta bool

	mu       sync.Mutex
	old      string
	epoch    int64
	counted  []int64 // epoch each proxy was last counted in
	acked    atomic.Int64
	complete chan struct{}
	last     []atomic.Value // last route version ACKed, per proxy

	ctx    context.Context
	cancel context.CancelFunc
	ccs    []*grpc.ClientConn
	wg     sync.WaitGroup
}

func newFleet(addr string, n, conns, bad int) *fleet {
	if conns <= 0 || conns > n {
		conns = n
	}
	bad = min(bad, n-1)
	return &fleet{addr: addr, n: n, conns: conns, bad: bad, counted: make([]int64, n), complete: make(chan struct{}, 1), last: make([]atomic.Value, n)}
}

// behavior of proxy i: the first f.bad cycle through the misbehaviours.
func (f *fleet) behavior(i int) simproxy.Behavior {
	if i >= f.bad {
		return simproxy.Healthy
	}
	return []simproxy.Behavior{simproxy.NeverACK, simproxy.WrongNonce, simproxy.Flood}[i%3]
}

// envoyWindow is Envoy's default HTTP/2 stream and connection window.
const envoyWindow = 256 << 20

// connect opens the connections and starts every proxy at once.
func (f *fleet) connect(ctx context.Context) error {
	f.ctx, f.cancel = context.WithCancel(ctx)
	f.ccs = nil
	for i := 0; i < f.conns; i++ {
		// Envoy's HTTP/2 client uses fixed flow-control windows (256 MiB
		// by default) and sends no bandwidth-estimation pings; gRPC-Go
		// does, one per push, unless the windows are fixed. Fix them, so
		// the server answers the pings an Envoy would send: none.
		// And like Envoy, a proxy whose connection attempt fails (a server
		// busy syncing thousands of others may not finish the handshake
		// in time) keeps trying instead of giving up on its stream.
		cc, err := grpc.NewClient(f.addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithInitialWindowSize(envoyWindow), grpc.WithInitialConnWindowSize(envoyWindow),
			grpc.WithDefaultCallOptions(grpc.WaitForReady(true)))
		if err != nil {
			return err
		}
		f.ccs = append(f.ccs, cc)
	}
	for i := 0; i < f.n; i++ {
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			run := simproxy.Run
			if f.delta {
				run = simproxy.RunDelta
			}
			err := run(f.ctx, simproxy.Config{
				Node:     &core.Node{Id: fmt.Sprintf("proxy-%05d", i), Cluster: "load", UserAgentName: "envoy"},
				Conn:     f.ccs[i%f.conns],
				Behavior: f.behavior(i),
				OnACK: func(typeURL, version string, _ time.Time) {
					if typeURL == resourcev3.RouteType && i >= f.bad {
						f.last[i].Store(version)
						f.ack(i, version)
					}
				},
			})
			if err != nil && f.ctx.Err() == nil && os.Getenv("XDSLOAD_TRACE") != "" {
				fmt.Fprintf(os.Stderr, "  proxy %d: %v\n", i, err)
			}
		}()
	}
	return nil
}

// disconnect ends every stream and connection.
func (f *fleet) disconnect() {
	f.cancel()
	for _, cc := range f.ccs {
		cc.Close()
	}
	f.wg.Wait()
}

func (f *fleet) ack(i int, version string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if version == f.old || f.counted[i] == f.epoch {
		return
	}
	f.counted[i] = f.epoch
	if f.acked.Add(1) == int64(f.n-f.bad) {
		f.complete <- struct{}{}
	}
}

// arm starts counting proxies that ACK a route version other than old
// ("" counts any version: a fresh stream's first ACK).
func (f *fleet) arm(old string) {
	f.mu.Lock()
	f.old, f.epoch = old, f.epoch+1
	f.acked.Store(0)
	select {
	case <-f.complete:
	default:
	}
	f.mu.Unlock()
}

// current is the route version the first healthy proxy holds, which every
// healthy proxy holds between changes.
func (f *fleet) current() string {
	v, _ := f.last[f.bad].Load().(string)
	return v
}

// wait blocks until every proxy has been counted since arm.
func (f *fleet) wait(ctx context.Context) error {
	select {
	case <-f.complete:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%d of %d healthy proxies ACKed: %w", f.acked.Load(), f.n-f.bad, ctx.Err())
	}
}

// quietFleetGC lets the harness's heap grow before it collects. The
// simulated fleet stands for many Envoy processes, which share no garbage
// collector; collecting for a thousand of them at once in one process
// would add pauses no real fleet has to the server's figures. The server
// under test keeps Go's default.
func quietFleetGC() { debug.SetGCPercent(400) }
