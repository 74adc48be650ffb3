package xds

import (
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	router "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// Well-known names of the extensions the listeners use.
const (
	hcmFilterName    = "envoy.filters.network.http_connection_manager"
	routerFilterName = "envoy.filters.http.router"
)

// portListener is the Envoy listener of one port: an HTTP connection manager
// that takes its routes over RDS on the ADS stream.
func portListener(port int) *listener.Listener {
	name := ListenerName(port)
	return &listener.Listener{
		Name: name,
		Address: &core.Address{Address: &core.Address_SocketAddress{SocketAddress: &core.SocketAddress{
			Address:       "0.0.0.0",
			PortSpecifier: &core.SocketAddress_PortValue{PortValue: uint32(port)},
		}}},
		FilterChains: []*listener.FilterChain{{
			Filters: []*listener.Filter{{
				Name:       hcmFilterName,
				ConfigType: &listener.Filter_TypedConfig{TypedConfig: mustAny(httpConnectionManager(name, RouteConfigName(port)))},
			}},
		}},
	}
}

// apiListener is what a proxyless gRPC client resolves for xds:///host: an
// api_listener wrapping an HTTP connection manager with RDS and the router,
// the only shape gRPC accepts. Envoy must never receive one over LDS.
func apiListener(host, routeConfig string) *listener.Listener {
	return &listener.Listener{
		Name: host,
		ApiListener: &listener.ApiListener{
			ApiListener: mustAny(httpConnectionManager(host, routeConfig)),
		},
	}
}

func httpConnectionManager(statPrefix, routeConfig string) *hcm.HttpConnectionManager {
	return &hcm.HttpConnectionManager{
		StatPrefix: statPrefix,
		CodecType:  hcm.HttpConnectionManager_AUTO,
		RouteSpecifier: &hcm.HttpConnectionManager_Rds{Rds: &hcm.Rds{
			ConfigSource:    adsConfigSource(),
			RouteConfigName: routeConfig,
		}},
		HttpFilters: []*hcm.HttpFilter{{
			Name:       routerFilterName,
			ConfigType: &hcm.HttpFilter_TypedConfig{TypedConfig: mustAny(&router.Router{})},
		}},
	}
}

// adsConfigSource points a dynamic resource at the ADS stream it came on.
func adsConfigSource() *core.ConfigSource {
	return &core.ConfigSource{
		ResourceApiVersion:    core.ApiVersion_V3,
		ConfigSourceSpecifier: &core.ConfigSource_Ads{Ads: &core.AggregatedConfigSource{}},
	}
}

// mustAny wraps a message built here in an Any, marshalled
// deterministically so that equal configuration hashes to equal versions.
// Marshalling a well-formed generated message cannot fail; a failure is a
// programming error.
func mustAny(m proto.Message) *anypb.Any {
	a := &anypb.Any{}
	if err := anypb.MarshalFrom(a, m, proto.MarshalOptions{Deterministic: true}); err != nil {
		panic("xds: marshal " + string(proto.MessageName(m)) + ": " + err.Error())
	}
	return a
}
