package bootstrap

import (
	"fmt"
	"time"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	httpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/shadowplane/shadowplane/xds"
)

// Layer names of the layered runtime other than xds.RuntimeLayerName. They
// show in Envoy's GET /runtime output.
const (
	StaticLayerName = "static"
	AdminLayerName  = "admin"
)

// httpProtocolOptionsKey is the typed_extension_protocol_options key Envoy
// reads upstream HTTP settings from.
const httpProtocolOptionsKey = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"

// Timings of the control plane connection.
const (
	xdsConnectTimeout    = 1 * time.Second
	xdsKeepaliveInterval = 30 * time.Second
	xdsKeepaliveTimeout  = 5 * time.Second
)

// Build returns the bootstrap for o, or every problem with o joined. The
// result passes ValidateAll.
//
// The shape follows Envoy's documented ADS bootstrap (dynamic_resources
// with ads_config, and lds_config/cds_config set to {ads: {}}), as do
// go-control-plane's sample/bootstrap-ads.yaml and Istio's
// envoy_bootstrap.json. Like Istio and unlike that sample, it states the
// transport and resource API versions (V3) instead of relying on defaults.
// Unlike both, it also takes a runtime layer over ADS (RTDS): Istio's
// runtime is a static layer plus the admin layer, and the sample has none.
func Build(o Options) (*bootstrapv3.Bootstrap, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	o = o.withDefaults()
	xdsAddr, _ := parseXDSAddress(o.XDSAddress)       // checked by Validate
	adminAddr, _ := parseAdminAddress(o.AdminAddress) // checked by Validate

	cluster, err := xdsCluster(xdsAddr)
	if err != nil {
		return nil, err
	}
	if err := o.TLS.secure(cluster, xdsAddr); err != nil {
		return nil, err
	}
	b := &bootstrapv3.Bootstrap{
		Node: &corev3.Node{Id: o.NodeID, Cluster: o.NodeCluster},
		StaticResources: &bootstrapv3.Bootstrap_StaticResources{
			Clusters: []*clusterv3.Cluster{cluster},
		},
		DynamicResources: dynamicResources(o.Delta),
		LayeredRuntime:   layeredRuntime(),
		Admin:            &bootstrapv3.Admin{Address: socketAddress(adminAddr)},
	}
	if err := b.ValidateAll(); err != nil {
		return nil, fmt.Errorf("built bootstrap is invalid (a bug in shadowplane): %w", err)
	}
	return b, nil
}

// dynamicResources takes listeners and clusters (and through them routes
// and endpoints) over one ADS stream, so the control plane can order
// updates make-before-break.
//
// set_node_on_first_message_only: Envoy sends the Node (id, cluster,
// metadata, build version, extensions: kilobytes) only on a stream's first
// request instead of every ACK. The control plane reads the node when the
// stream opens and keeps it for the stream's life, as go-control-plane's
// server does; Envoy's documented ADS example and Istio set it likewise.
func dynamicResources(delta bool) *bootstrapv3.Bootstrap_DynamicResources {
	apiType := corev3.ApiConfigSource_GRPC
	if delta {
		// Incremental ADS. go-control-plane issue #442 reports RTDS
		// trouble with delta ADS; GRPC stays the default.
		apiType = corev3.ApiConfigSource_DELTA_GRPC
	}
	return &bootstrapv3.Bootstrap_DynamicResources{
		AdsConfig: &corev3.ApiConfigSource{
			ApiType:             apiType,
			TransportApiVersion: corev3.ApiVersion_V3,
			GrpcServices: []*corev3.GrpcService{{
				TargetSpecifier: &corev3.GrpcService_EnvoyGrpc_{
					EnvoyGrpc: &corev3.GrpcService_EnvoyGrpc{ClusterName: xds.XDSClusterName},
				},
			}},
			SetNodeOnFirstMessageOnly: true,
		},
		LdsConfig: adsConfigSource(),
		CdsConfig: adsConfigSource(),
	}
}

// adsConfigSource says "fetch this resource type over the ADS stream".
func adsConfigSource() *corev3.ConfigSource {
	return &corev3.ConfigSource{
		ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}},
		ResourceApiVersion:    corev3.ApiVersion_V3,
	}
}

// layeredRuntime declares, in order, an empty static layer, the RTDS layer
// shadowplane serves, and the admin layer. Later layers override earlier
// ones, so:
//   - static is the floor: an operator can add fixed keys here by hand;
//   - shadowplane's RTDS layer overrides it with mirror fractions and
//     weights (xds.MirrorRuntimeKey), changed without a route push;
//   - admin comes last so an operator can still override any key at run time
//     through POST /runtime_modify on the admin endpoint, e.g. to stop a
//     mirror while the control plane is down. Istio likewise ends with an
//     admin layer; Envoy Gateway declares only an RTDS layer.
//
// Envoy does not finish starting until every declared RTDS layer has
// arrived (or its initial fetch times out), which is why the control plane
// always serves the xds.RuntimeLayerName layer, even with no keys.
func layeredRuntime() *bootstrapv3.LayeredRuntime {
	return &bootstrapv3.LayeredRuntime{
		Layers: []*bootstrapv3.RuntimeLayer{
			{
				Name:           StaticLayerName,
				LayerSpecifier: &bootstrapv3.RuntimeLayer_StaticLayer{StaticLayer: &structpb.Struct{}},
			},
			{
				Name: xds.RuntimeLayerName,
				LayerSpecifier: &bootstrapv3.RuntimeLayer_RtdsLayer_{RtdsLayer: &bootstrapv3.RuntimeLayer_RtdsLayer{
					Name:       xds.RuntimeLayerName,
					RtdsConfig: adsConfigSource(),
				}},
			},
			{
				Name:           AdminLayerName,
				LayerSpecifier: &bootstrapv3.RuntimeLayer_AdminLayer_{AdminLayer: &bootstrapv3.RuntimeLayer_AdminLayer{}},
			},
		},
	}
}

// xdsCluster is the static cluster that reaches the control plane over
// HTTP/2 (gRPC). A name resolves with STRICT_DNS, so every address the name
// has is used and a changed record is followed; an IP needs no resolver.
// HTTP/2 PINGs notice a dead control plane connection (a NAT or container
// network that drops it silently) within interval+timeout, after which
// Envoy reconnects.
func xdsCluster(addr hostPort) (*clusterv3.Cluster, error) {
	discovery := clusterv3.Cluster_STRICT_DNS
	if addr.ip.IsValid() {
		discovery = clusterv3.Cluster_STATIC
	}
	http2 := &httpv3.HttpProtocolOptions{
		UpstreamProtocolOptions: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_{
			ExplicitHttpConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig{
				ProtocolConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_Http2ProtocolOptions{
					Http2ProtocolOptions: &corev3.Http2ProtocolOptions{
						ConnectionKeepalive: &corev3.KeepaliveSettings{
							Interval: durationpb.New(xdsKeepaliveInterval),
							Timeout:  durationpb.New(xdsKeepaliveTimeout),
						},
					},
				},
			},
		},
	}
	// Bootstrap.ValidateAll does not look inside an Any.
	if err := http2.ValidateAll(); err != nil {
		return nil, fmt.Errorf("%s is invalid (a bug in shadowplane): %w", httpProtocolOptionsKey, err)
	}
	protocol, err := anypb.New(http2)
	if err != nil {
		return nil, fmt.Errorf("packing %s: %w", httpProtocolOptionsKey, err)
	}
	return &clusterv3.Cluster{
		Name:                 xds.XDSClusterName,
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: discovery},
		ConnectTimeout:       durationpb.New(xdsConnectTimeout),
		TypedExtensionProtocolOptions: map[string]*anypb.Any{
			httpProtocolOptionsKey: protocol,
		},
		LoadAssignment: &endpointv3.ClusterLoadAssignment{
			ClusterName: xds.XDSClusterName,
			Endpoints: []*endpointv3.LocalityLbEndpoints{{
				LbEndpoints: []*endpointv3.LbEndpoint{{
					HostIdentifier: &endpointv3.LbEndpoint_Endpoint{
						Endpoint: &endpointv3.Endpoint{Address: socketAddress(addr)},
					},
				}},
			}},
		},
	}, nil
}

func socketAddress(addr hostPort) *corev3.Address {
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Protocol:      corev3.SocketAddress_TCP,
		Address:       addr.host,
		PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: addr.port},
	}}}
}
