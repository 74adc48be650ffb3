package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/structpb"
)

// attackConfig says which of issue 13's attackers to run, and from where.
type attackConfig struct {
	// streams runs the three stream attackers, on one connection from
	// streamFrom (a loopback address of their own, so that a penalty
	// serve gives their address is not given to the healthy fleet's
	// 127.0.0.1).
	streams    bool
	streamFrom string
	// idle TCP connections, spread over idleFrom's addresses.
	idle     int
	idleFrom []string
	// pace is each stream attacker's pause before it opens a new stream
	// after one is closed.
	pace time.Duration
}

// attack runs the attackers until its context is done.
type attack struct {
	wg, first  sync.WaitGroup
	closed     [3]atomic.Int64 // streams closed by the server, per stream attacker
	idleOpen   atomic.Int64
	maxIdle    atomic.Int64
	idleClosed atomic.Int64
}

// attackStats are an attack's counts, as the attack process reports them.
type attackStats struct {
	Closed     [3]int64 // type-URL, big-node and delta streams closed by serve
	MaxIdle    int64    // idle connections open at once, at most
	IdleClosed int64    // idle connections refused or closed by serve
}

func (a *attack) stats() attackStats {
	return attackStats{
		Closed:     [3]int64{a.closed[0].Load(), a.closed[1].Load(), a.closed[2].Load()},
		MaxIdle:    a.maxIdle.Load(),
		IdleClosed: a.idleClosed.Load(),
	}
}

// dialFrom dials from the local address from.
func dialFrom(from string) func(ctx context.Context, addr string) (net.Conn, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	return func(ctx context.Context, addr string) (net.Conn, error) { return d.DialContext(ctx, "tcp", addr) }
}

func (a *attack) start(ctx context.Context, addr string, cfg attackConfig) {
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithContextDialer(dialFrom(cfg.streamFrom)))
	if err != nil {
		panic(err) // only a malformed address fails here
	}
	context.AfterFunc(ctx, func() { cc.Close() })
	ads := discovery.NewAggregatedDiscoveryServiceClient(cc)
	md, _ := structpb.NewStruct(map[string]any{"blob": strings.Repeat("x", 3900<<10)})
	attackers := []func(ctx context.Context) error{
		// A new type URL per request, 10,000 names each.
		func(ctx context.Context) error {
			s, err := ads.StreamAggregatedResources(ctx)
			if err != nil {
				return err
			}
			many := names(10000)
			for i := 0; ; i++ {
				req := &discovery.DiscoveryRequest{TypeUrl: fmt.Sprintf("type.googleapis.com/attack.T%d", i), ResourceNames: many}
				if i == 0 {
					req.Node = &core.Node{Id: "attack-types", Cluster: "attack"}
				}
				if err := s.Send(req); err != nil {
					_, err = s.Recv()
					return err
				}
			}
		},
		// 3.9 MB of node metadata.
		func(ctx context.Context) error {
			s, err := ads.StreamAggregatedResources(ctx)
			if err != nil {
				return err
			}
			s.Send(&discovery.DiscoveryRequest{Node: &core.Node{Id: "attack-node", Cluster: "attack", Metadata: md}, TypeUrl: resourcev3.ClusterType})
			for {
				if _, err := s.Recv(); err != nil {
					return err
				}
			}
		},
		// 100,000 names per delta request.
		func(ctx context.Context) error {
			s, err := ads.DeltaAggregatedResources(ctx)
			if err != nil {
				return err
			}
			many := names(100000)
			for i := 0; ; i++ {
				req := &discovery.DeltaDiscoveryRequest{TypeUrl: resourcev3.EndpointType, ResourceNamesSubscribe: many}
				if i == 0 {
					req.Node = &core.Node{Id: "attack-delta", Cluster: "attack"}
				}
				if err := s.Send(req); err != nil {
					_, err = s.Recv()
					return err
				}
			}
		},
	}
	if !cfg.streams {
		attackers = nil
	}
	a.first.Add(len(attackers) + cfg.idle)
	for i, run := range attackers {
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			first := true
			for ctx.Err() == nil {
				run(ctx)
				if ctx.Err() == nil {
					a.closed[i].Add(1)
				}
				if first {
					a.first.Done()
					first = false
				}
				pause(ctx, cfg.pace)
			}
			if first {
				a.first.Done()
			}
		}()
	}
	for i := range cfg.idle {
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			a.idleConn(ctx, addr, cfg.idleFrom[i%len(cfg.idleFrom)])
		}()
	}
}

// idleConn connects from the address from and sends nothing, again and
// again, a second after serve closes each connection.
func (a *attack) idleConn(ctx context.Context, addr, from string) {
	dial := dialFrom(from)
	first := true
	for ctx.Err() == nil {
		c, err := dial(ctx, addr)
		if err == nil {
			n := a.idleOpen.Add(1)
			for m := a.maxIdle.Load(); n > m && !a.maxIdle.CompareAndSwap(m, n); m = a.maxIdle.Load() {
			}
			stop := context.AfterFunc(ctx, func() { c.Close() })
			if first {
				a.first.Done()
				first = false
			}
			io.Copy(io.Discard, c)
			stop()
			c.Close()
			a.idleOpen.Add(-1)
			if ctx.Err() == nil {
				a.idleClosed.Add(1)
			}
		} else if first {
			a.first.Done()
			first = false
		}
		pause(ctx, time.Second)
	}
	if first {
		a.first.Done()
	}
}

func pause(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

func names(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("attack-%06d", i)
	}
	return out
}
