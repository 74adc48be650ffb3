package bootstrap

import (
	"testing"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	httpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/shadowplane/shadowplane/xds"
)

// wantSidecar is the whole bootstrap for sidecarOptions, written out by
// hand from the design rather than from the builder's helpers.
func wantSidecar(t *testing.T) *bootstrapv3.Bootstrap {
	t.Helper()
	ads := func() *corev3.ConfigSource {
		return &corev3.ConfigSource{
			ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}},
			ResourceApiVersion:    corev3.ApiVersion_V3,
		}
	}
	sock := func(host string, port uint32) *corev3.Address {
		return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
			Address: host, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port},
		}}}
	}
	http2, err := anypb.New(&httpv3.HttpProtocolOptions{
		UpstreamProtocolOptions: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_{
			ExplicitHttpConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig{
				ProtocolConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_Http2ProtocolOptions{
					Http2ProtocolOptions: &corev3.Http2ProtocolOptions{
						ConnectionKeepalive: &corev3.KeepaliveSettings{
							Interval: durationpb.New(30e9),
							Timeout:  durationpb.New(5e9),
						},
					},
				},
			},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return &bootstrapv3.Bootstrap{
		Node: &corev3.Node{Id: "sidecar-1", Cluster: "sidecar"},
		StaticResources: &bootstrapv3.Bootstrap_StaticResources{
			Clusters: []*clusterv3.Cluster{{
				Name:                 "shadowplane_xds",
				ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STATIC},
				ConnectTimeout:       durationpb.New(1e9),
				TypedExtensionProtocolOptions: map[string]*anypb.Any{
					"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": http2,
				},
				LoadAssignment: &endpointv3.ClusterLoadAssignment{
					ClusterName: "shadowplane_xds",
					Endpoints: []*endpointv3.LocalityLbEndpoints{{
						LbEndpoints: []*endpointv3.LbEndpoint{{
							HostIdentifier: &endpointv3.LbEndpoint_Endpoint{
								Endpoint: &endpointv3.Endpoint{Address: sock("127.0.0.1", 18000)},
							},
						}},
					}},
				},
			}},
		},
		DynamicResources: &bootstrapv3.Bootstrap_DynamicResources{
			AdsConfig: &corev3.ApiConfigSource{
				ApiType:             corev3.ApiConfigSource_GRPC,
				TransportApiVersion: corev3.ApiVersion_V3,
				GrpcServices: []*corev3.GrpcService{{
					TargetSpecifier: &corev3.GrpcService_EnvoyGrpc_{
						EnvoyGrpc: &corev3.GrpcService_EnvoyGrpc{ClusterName: "shadowplane_xds"},
					},
				}},
				SetNodeOnFirstMessageOnly: true,
			},
			LdsConfig: ads(),
			CdsConfig: ads(),
		},
		LayeredRuntime: &bootstrapv3.LayeredRuntime{Layers: []*bootstrapv3.RuntimeLayer{
			{Name: "static", LayerSpecifier: &bootstrapv3.RuntimeLayer_StaticLayer{StaticLayer: &structpb.Struct{}}},
			{Name: "shadowplane", LayerSpecifier: &bootstrapv3.RuntimeLayer_RtdsLayer_{
				RtdsLayer: &bootstrapv3.RuntimeLayer_RtdsLayer{Name: "shadowplane", RtdsConfig: ads()},
			}},
			{Name: "admin", LayerSpecifier: &bootstrapv3.RuntimeLayer_AdminLayer_{AdminLayer: &bootstrapv3.RuntimeLayer_AdminLayer{}}},
		}},
		Admin: &bootstrapv3.Admin{Address: sock("127.0.0.1", 9901)},
	}
}

func sidecarOptions() Options {
	return Options{XDSAddress: "127.0.0.1:18000", NodeID: "sidecar-1", NodeCluster: "sidecar"}
}

func xdsEndpoint(b *bootstrapv3.Bootstrap) *corev3.SocketAddress {
	return b.StaticResources.Clusters[0].LoadAssignment.Endpoints[0].LbEndpoints[0].GetEndpoint().Address.GetSocketAddress()
}

func TestBuild(t *testing.T) {
	tests := []struct {
		name string
		opts func(*Options)
		want func(*bootstrapv3.Bootstrap) // edits wantSidecar
	}{
		{
			name: "IP control plane, default admin",
			opts: func(*Options) {},
			want: func(*bootstrapv3.Bootstrap) {},
		},
		{
			name: "explicit loopback admin equals the default",
			opts: func(o *Options) { o.AdminAddress = "127.0.0.1:9901" },
			want: func(*bootstrapv3.Bootstrap) {},
		},
		{
			name: "DNS name gives STRICT_DNS",
			opts: func(o *Options) { o.XDSAddress = "shadowplane:18000" },
			want: func(b *bootstrapv3.Bootstrap) {
				b.StaticResources.Clusters[0].ClusterDiscoveryType = &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STRICT_DNS}
				xdsEndpoint(b).Address = "shadowplane"
			},
		},
		{
			name: "localhost is a name",
			opts: func(o *Options) { o.XDSAddress = "localhost:18000" },
			want: func(b *bootstrapv3.Bootstrap) {
				b.StaticResources.Clusters[0].ClusterDiscoveryType = &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STRICT_DNS}
				xdsEndpoint(b).Address = "localhost"
			},
		},
		{
			name: "IPv6 control plane and admin",
			opts: func(o *Options) { o.XDSAddress = "[fd00::1]:18000"; o.AdminAddress = "[::1]:9902" },
			want: func(b *bootstrapv3.Bootstrap) {
				xdsEndpoint(b).Address = "fd00::1"
				b.Admin.Address.GetSocketAddress().Address = "::1"
				b.Admin.Address.GetSocketAddress().PortSpecifier = &corev3.SocketAddress_PortValue{PortValue: 9902}
			},
		},
		{
			name: "IPv4-mapped IPv6 is unmapped",
			opts: func(o *Options) { o.XDSAddress = "[::ffff:10.0.0.7]:18000" },
			want: func(b *bootstrapv3.Bootstrap) { xdsEndpoint(b).Address = "10.0.0.7" },
		},
		{
			name: "delta ADS",
			opts: func(o *Options) { o.Delta = true },
			want: func(b *bootstrapv3.Bootstrap) {
				b.DynamicResources.AdsConfig.ApiType = corev3.ApiConfigSource_DELTA_GRPC
			},
		},
		{
			name: "container admin",
			opts: func(o *Options) { o.AdminAddress = "0.0.0.0:9901" },
			want: func(b *bootstrapv3.Bootstrap) { b.Admin.Address.GetSocketAddress().Address = "0.0.0.0" },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := sidecarOptions()
			tt.opts(&o)
			got, err := Build(o)
			if err != nil {
				t.Fatalf("Build(%+v): %v", o, err)
			}
			want := wantSidecar(t)
			tt.want(want)
			if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
				t.Errorf("Build(%+v) mismatch (-want +got):\n%s", o, diff)
			}
			if err := got.ValidateAll(); err != nil {
				t.Errorf("ValidateAll: %v", err)
			}
			// ValidateAll does not look inside an Any: unpack and check it.
			for key, a := range got.StaticResources.Clusters[0].TypedExtensionProtocolOptions {
				m, err := a.UnmarshalNew()
				if err != nil {
					t.Fatalf("%s: %v", key, err)
				}
				if err := m.(interface{ ValidateAll() error }).ValidateAll(); err != nil {
					t.Errorf("%s: ValidateAll: %v", key, err)
				}
			}
		})
	}
}

// The hand-written expectation must itself be a valid Envoy bootstrap, so
// a wrong expectation cannot hide behind a matching wrong builder.
func TestWantIsValid(t *testing.T) {
	if err := wantSidecar(t).ValidateAll(); err != nil {
		t.Fatal(err)
	}
}

func TestBuildUsesSharedNames(t *testing.T) {
	b, err := Build(sidecarOptions())
	if err != nil {
		t.Fatal(err)
	}
	var layers []string
	for _, l := range b.LayeredRuntime.Layers {
		layers = append(layers, l.Name)
	}
	// Later layers override earlier ones: RTDS over static, admin over all.
	if diff := cmp.Diff([]string{StaticLayerName, xds.RuntimeLayerName, AdminLayerName}, layers); diff != "" {
		t.Errorf("layer order (-want +got):\n%s", diff)
	}
	if got := b.LayeredRuntime.Layers[1].GetRtdsLayer().GetName(); got != xds.RuntimeLayerName {
		t.Errorf("RTDS resource name = %q, want %q", got, xds.RuntimeLayerName)
	}
	if got := b.StaticResources.Clusters[0].Name; got != xds.XDSClusterName {
		t.Errorf("static cluster = %q, want %q", got, xds.XDSClusterName)
	}
	if got := b.DynamicResources.AdsConfig.GrpcServices[0].GetEnvoyGrpc().GetClusterName(); got != xds.XDSClusterName {
		t.Errorf("ADS cluster = %q, want %q", got, xds.XDSClusterName)
	}
}

func TestBuildDoesNotShareMessages(t *testing.T) {
	a, err := Build(sidecarOptions())
	if err != nil {
		t.Fatal(err)
	}
	b, err := Build(sidecarOptions())
	if err != nil {
		t.Fatal(err)
	}
	a.DynamicResources.LdsConfig.ResourceApiVersion = corev3.ApiVersion_AUTO
	if !proto.Equal(b, wantSidecar(t)) {
		t.Error("editing one built bootstrap changed another")
	}
	if a.DynamicResources.CdsConfig.ResourceApiVersion != corev3.ApiVersion_V3 {
		t.Error("lds_config and cds_config share a ConfigSource")
	}
}
