package simproxy

import (
	"context"
	"sort"
	"time"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/shadowplane/shadowplane/xds"
)

// RunDelta is Run over incremental xDS, as Envoy with DELTA_GRPC: CDS and
// LDS are wildcard subscriptions, EDS and RDS subscribe to the names the
// clusters and listeners it holds call for, and every response is ACKed
// with its nonce. OnACK receives the response's system version. Behavior
// is ignored: misbehaving proxies are a state-of-the-world matter here.
func RunDelta(ctx context.Context, cfg Config) error {
	s, err := discovery.NewAggregatedDiscoveryServiceClient(cfg.Conn).DeltaAggregatedResources(ctx)
	if err != nil {
		return err
	}
	send := func(r *discovery.DeltaDiscoveryRequest) error { return s.Send(r) }
	if err := send(&discovery.DeltaDiscoveryRequest{Node: cfg.Node, TypeUrl: resourcev3.ClusterType}); err != nil {
		return err
	}
	if err := send(&discovery.DeltaDiscoveryRequest{TypeUrl: resourcev3.ListenerType}); err != nil {
		return err
	}
	if err := send(&discovery.DeltaDiscoveryRequest{TypeUrl: resourcev3.RuntimeType, ResourceNamesSubscribe: []string{xds.RuntimeLayerName}}); err != nil {
		return err
	}
	// held: what the proxy holds of the wildcard types, and what it wants
	// of the named ones, by the resource that calls for it.
	clusters := map[string][]string{}  // cluster → its EDS name, if EDS
	listeners := map[string][]string{} // listener → its RDS names
	subscribed := map[string]map[string]bool{resourcev3.EndpointType: {}, resourcev3.RouteType: {}}
	resubscribe := func(typeURL string, want map[string][]string) error {
		need := map[string]bool{}
		for _, names := range want {
			for _, n := range names {
				need[n] = true
			}
		}
		var add, drop []string
		for n := range need {
			if !subscribed[typeURL][n] {
				add = append(add, n)
			}
		}
		for n := range subscribed[typeURL] {
			if !need[n] {
				drop = append(drop, n)
			}
		}
		if len(add) == 0 && len(drop) == 0 {
			return nil
		}
		sort.Strings(add)
		sort.Strings(drop)
		subscribed[typeURL] = need
		return send(&discovery.DeltaDiscoveryRequest{TypeUrl: typeURL, ResourceNamesSubscribe: add, ResourceNamesUnsubscribe: drop})
	}
	for {
		r, err := s.Recv()
		if err != nil {
			return err
		}
		if err := send(&discovery.DeltaDiscoveryRequest{TypeUrl: r.TypeUrl, ResponseNonce: r.Nonce}); err != nil {
			return err
		}
		if cfg.OnACK != nil {
			cfg.OnACK(r.TypeUrl, r.SystemVersionInfo, time.Now())
		}
		switch r.TypeUrl {
		case resourcev3.ClusterType:
			for _, res := range r.Resources {
				c := &cluster.Cluster{}
				if res.Resource.UnmarshalTo(c) == nil {
					clusters[res.Name] = nil
					if c.GetType() == cluster.Cluster_EDS {
						clusters[res.Name] = []string{c.Name}
					}
				}
			}
			for _, n := range r.RemovedResources {
				delete(clusters, n)
			}
			if err := resubscribe(resourcev3.EndpointType, clusters); err != nil {
				return err
			}
		case resourcev3.ListenerType:
			for _, res := range r.Resources {
				l := &listener.Listener{}
				if res.Resource.UnmarshalTo(l) == nil {
					listeners[res.Name], _ = xds.ListenerRouteNames(l)
				}
			}
			for _, n := range r.RemovedResources {
				delete(listeners, n)
			}
			if err := resubscribe(resourcev3.RouteType, listeners); err != nil {
				return err
			}
		}
	}
}
