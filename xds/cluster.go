package xds

import (
	"net"
	"sort"
	"strconv"
	"time"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpoint "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	upstreamhttp "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/shadowplane/shadowplane/policy"
)

// connectTimeout bounds a connection attempt to an upstream variant.
const connectTimeout = 2 * time.Second

const httpProtocolOptionsName = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"

// clusterSet collects the variants a group's routes refer to. Only
// referenced variants become clusters: a declared but unrouted variant has
// nothing to serve, and a withdrawn mirror's variant is left out with it.
type clusterSet map[string]*policy.Variant

// groupClusters is the cluster set of a group's apps (sorted by name):
// for Envoy, the apps it listens for (a port); for gRPC, every app.
func groupClusters(apps []*policy.App, kind ClientKind) clusterSet {
	s := clusterSet{}
	for _, app := range apps {
		if kind == Envoy && app.Port == 0 {
			continue
		}
		s.addApp(app, kind)
	}
	return s
}

func (s clusterSet) addApp(app *policy.App, kind ClientKind) {
	add := func(name string) {
		if v, ok := app.Variant(name); ok {
			s[ClusterName(app.Name, v.Name)] = v
		}
	}
	for i := range app.Routes {
		r := &app.Routes[i]
		for _, b := range r.Split {
			add(b.Variant)
		}
		if m := activeMirror(app, r); m != nil && kind == Envoy {
			add(m.Variant)
		}
	}
}

// build returns the clusters and the endpoint assignments of EDS clusters,
// both sorted by name.
func (s clusterSet) build(kind ClientKind) ([]*cluster.Cluster, []*endpoint.ClusterLoadAssignment) {
	names := make([]string, 0, len(s))
	for name := range s {
		names = append(names, name)
	}
	sort.Strings(names)
	var clusters []*cluster.Cluster
	var cla []*endpoint.ClusterLoadAssignment
	for _, name := range names {
		v := s[name]
		if v.DNS != "" {
			clusters = append(clusters, dnsCluster(name, v.DNS, kind))
			continue
		}
		clusters = append(clusters, edsCluster(name))
		cla = append(cla, loadAssignment(name, v.Endpoints))
	}
	return clusters, cla
}

// edsCluster takes its endpoints over EDS on the ADS stream.
func edsCluster(name string) *cluster.Cluster {
	c := baseCluster(name)
	c.ClusterDiscoveryType = &cluster.Cluster_Type{Type: cluster.Cluster_EDS}
	c.EdsClusterConfig = &cluster.Cluster_EdsClusterConfig{EdsConfig: adsConfigSource()}
	return c
}

// dnsCluster lets the client resolve the variant itself. Envoy balances over
// every address (STRICT_DNS); gRPC supports only LOGICAL_DNS.
func dnsCluster(name, hostport string, kind ClientKind) *cluster.Cluster {
	c := baseCluster(name)
	typ := cluster.Cluster_STRICT_DNS
	if kind == GRPC {
		typ = cluster.Cluster_LOGICAL_DNS
	}
	c.ClusterDiscoveryType = &cluster.Cluster_Type{Type: typ}
	c.LoadAssignment = loadAssignment(name, []string{hostport})
	return c
}

func baseCluster(name string) *cluster.Cluster {
	return &cluster.Cluster{
		Name:           name,
		ConnectTimeout: durationpb.New(connectTimeout),
		LbPolicy:       cluster.Cluster_ROUND_ROBIN,
		TypedExtensionProtocolOptions: map[string]*anypb.Any{
			httpProtocolOptionsName: useDownstreamProtocol,
		},
	}
}

// useDownstreamProtocol makes Envoy speak to a variant in the protocol the
// client used, so gRPC (HTTP/2) and plain HTTP/1.1 apps both work without
// a knob. It is marshalled once and shared by every cluster: clusters are
// immutable once built.
var useDownstreamProtocol = mustAny(&upstreamhttp.HttpProtocolOptions{
	UpstreamProtocolOptions: &upstreamhttp.HttpProtocolOptions_UseDownstreamProtocolConfig{
		UseDownstreamProtocolConfig: &upstreamhttp.HttpProtocolOptions_UseDownstreamHttpConfig{
			HttpProtocolOptions:  &core.Http1ProtocolOptions{},
			Http2ProtocolOptions: &core.Http2ProtocolOptions{},
		},
	},
})

// loadAssignment lists a variant's endpoints in one locality. The locality
// has an (empty) id and a weight because gRPC ignores a locality without a
// weight and rejects one without an id; Envoy accepts both.
func loadAssignment(name string, hostports []string) *endpoint.ClusterLoadAssignment {
	la := &endpoint.ClusterLoadAssignment{ClusterName: name}
	var lbs []*endpoint.LbEndpoint
	for _, hp := range hostports {
		host, portStr, err := net.SplitHostPort(hp)
		if err != nil {
			continue // validated by policy; unreachable
		}
		port, _ := strconv.ParseUint(portStr, 10, 16)
		lbs = append(lbs, &endpoint.LbEndpoint{HostIdentifier: &endpoint.LbEndpoint_Endpoint{Endpoint: &endpoint.Endpoint{
			Address: &core.Address{Address: &core.Address_SocketAddress{SocketAddress: &core.SocketAddress{
				Address:       host,
				PortSpecifier: &core.SocketAddress_PortValue{PortValue: uint32(port)},
			}}},
		}}})
	}
	la.Endpoints = []*endpoint.LocalityLbEndpoints{{
		Locality:            &core.Locality{},
		LbEndpoints:         lbs,
		LoadBalancingWeight: wrapperspb.UInt32(1),
	}}
	return la
}
