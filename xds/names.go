package xds

import (
	"fmt"
)

// Names shared by the translator, the Envoy bootstrap and the analysis loop.
// They are part of shadowplane's interface: Envoy stats and Prometheus
// queries are keyed by them, so they change only with a decision record.
const (
	// RuntimeLayerName is the RTDS layer every Envoy bootstrap declares and
	// every Envoy snapshot carries, even when it has no keys: Envoy waits
	// for declared RTDS layers before it finishes starting.
	RuntimeLayerName = "shadowplane"

	// XDSClusterName is the bootstrap's static cluster that reaches the
	// control plane.
	XDSClusterName = "shadowplane_xds"

	// runtimeKeyPrefix starts every runtime key shadowplane serves.
	runtimeKeyPrefix = "shadowplane"
)

// ClusterName is the Envoy cluster of an app's variant. App and variant
// names are DNS labels, so '_' cannot occur in either and the name is
// unambiguous. A dot is avoided on purpose: Envoy's default stats tag
// extraction ends the cluster name at the first dot.
func ClusterName(app, variant string) string { return app + "_" + variant }

// ListenerName is the Envoy listener for a port; apps on one port share it.
func ListenerName(port int) string { return fmt.Sprintf("http_%d", port) }

// RouteConfigName is the RouteConfiguration of an Envoy port listener.
func RouteConfigName(port int) string { return fmt.Sprintf("http_%d", port) }

// GRPCRouteConfigName is the RouteConfiguration behind the api_listener a
// proxyless gRPC client resolves for host (its xds:/// target).
func GRPCRouteConfigName(host string) string { return "grpc_" + host }

// MirrorRuntimeKey is the runtime key that carries the mirror fraction of
// an app's route, so a fraction can change over RTDS without a route change.
func MirrorRuntimeKey(app, route string) string {
	return runtimeKeyPrefix + ".mirror." + app + "." + route
}
