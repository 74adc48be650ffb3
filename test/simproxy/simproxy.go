// Package simproxy simulates Envoy's side of an ADS stream for benchmarks
// and load tests: it subscribes as Envoy does — CDS and LDS as wildcards,
// then EDS for the clusters it received, RDS for the route configurations
// its listeners name, and the shadowplane runtime layer — and ACKs every
// response, state of the world.
package simproxy

import (
	"context"
	"slices"
	"sort"
	"time"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"

	"github.com/shadowplane/shadowplane/xds"
)

// Behavior is how a simulated proxy answers responses.
type Behavior int

const (
	// Healthy ACKs every response, as Envoy does.
	Healthy Behavior = iota
	// NeverACK receives responses and never answers them.
	NeverACK
	// WrongNonce answers every response with a nonce it was never sent.
	WrongNonce
	// Flood re-sends its last request every millisecond, on top of its
	// ACKs.
	Flood
)

// Config describes one simulated proxy.
type Config struct {
	Node     *core.Node
	Conn     grpc.ClientConnInterface
	Behavior Behavior
	// OnACK, if set, is called after each ACK is sent, from the proxy's
	// goroutine.
	OnACK func(typeURL, version string, at time.Time)
	// OnResponse, if set, is called with each response when it arrives,
	// before it is answered, from the proxy's goroutine.
	OnResponse func(r *discovery.DiscoveryResponse, at time.Time)
}

// Run runs the proxy until ctx is done or the stream fails.
func Run(ctx context.Context, cfg Config) error {
	s, err := discovery.NewAggregatedDiscoveryServiceClient(cfg.Conn).StreamAggregatedResources(ctx)
	if err != nil {
		return err
	}
	if err := s.Send(&discovery.DiscoveryRequest{Node: cfg.Node, TypeUrl: resourcev3.ClusterType}); err != nil {
		return err
	}
	if err := s.Send(&discovery.DiscoveryRequest{TypeUrl: resourcev3.ListenerType}); err != nil {
		return err
	}
	// names holds the current named subscription of each type.
	names := map[string][]string{}
	subscribe := func(typeURL string, want []string) error {
		sort.Strings(want)
		if slices.Equal(names[typeURL], want) {
			return nil
		}
		names[typeURL] = want
		return s.Send(&discovery.DiscoveryRequest{TypeUrl: typeURL, ResourceNames: want})
	}
	if err := subscribe(resourcev3.RuntimeType, []string{xds.RuntimeLayerName}); err != nil {
		return err
	}
	// A proxy receives and answers on this goroutine, as Envoy's one
	// thread does, so the simulated fleet costs the harness little of the
	// cores it shares with the server. A flooding proxy receives on a
	// second goroutine and re-sends its last request every millisecond in
	// between (this one alone sends, as a gRPC stream requires).
	next := s.Recv
	var tick <-chan time.Time
	if cfg.Behavior == Flood {
		type recv struct {
			r   *discovery.DiscoveryResponse
			err error
		}
		responses := make(chan recv, 1)
		go func() {
			for {
				r, err := s.Recv()
				responses <- recv{r, err}
				if err != nil {
					return
				}
			}
		}()
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		tick = t.C
		next = func() (*discovery.DiscoveryResponse, error) {
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-tick:
				return nil, nil
			case in := <-responses:
				return in.r, in.err
			}
		}
	}
	var last *discovery.DiscoveryRequest
	for {
		r, err := next()
		if err != nil {
			return err
		}
		if r == nil { // a flooding proxy's tick
			if last != nil {
				if err := s.Send(last); err != nil {
					return err
				}
			}
			continue
		}
		if cfg.OnResponse != nil {
			cfg.OnResponse(r, time.Now())
		}
		switch cfg.Behavior {
		case NeverACK:
			continue
		case WrongNonce:
			r.Nonce = "bogus-" + r.Nonce
		}
		// ACK first, as Envoy does once a response is applied.
		ack := &discovery.DiscoveryRequest{TypeUrl: r.TypeUrl, VersionInfo: r.VersionInfo, ResponseNonce: r.Nonce, ResourceNames: names[r.TypeUrl]}
		if err := s.Send(ack); err != nil {
			return err
		}
		last = ack
		if cfg.OnACK != nil {
			cfg.OnACK(r.TypeUrl, r.VersionInfo, time.Now())
		}
		switch r.TypeUrl {
		case resourcev3.ClusterType:
			var eds []string
			for _, a := range r.Resources {
				c := &cluster.Cluster{}
				if err := a.UnmarshalTo(c); err == nil && c.GetType() == cluster.Cluster_EDS {
					eds = append(eds, c.Name)
				}
			}
			if err := subscribe(resourcev3.EndpointType, eds); err != nil {
				return err
			}
		case resourcev3.ListenerType:
			var rds []string
			for _, a := range r.Resources {
				l := &listener.Listener{}
				if err := a.UnmarshalTo(l); err != nil {
					continue
				}
				n, _ := xds.ListenerRouteNames(l)
				rds = append(rds, n...)
			}
			if err := subscribe(resourcev3.RouteType, rds); err != nil {
				return err
			}
		}
	}
}
