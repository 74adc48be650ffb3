package xds

import (
	"errors"
	"fmt"
	"sort"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
)

// CheckReferences verifies what go-control-plane's Snapshot.Consistent does
// not: that every cluster a route sends to or mirrors to is in CDS (Envoy
// skips a mirror to an unknown cluster silently; gRPC stalls on a route to
// one), that the route configurations named inside api_listeners exist,
// that every EDS cluster has its endpoints and every mirror its runtime
// key. It then runs Consistent() itself on what that method understands.
func CheckReferences(r *Resources) error {
	var errs []error
	clusters := map[string]*cluster.Cluster{}
	for _, c := range r.Clusters {
		clusters[c.Name] = c
	}
	routes := map[string]bool{}
	for _, rc := range r.Routes {
		routes[rc.Name] = true
	}
	runtimeKeys := map[string]bool{}
	for _, rt := range r.Runtimes {
		for k := range rt.GetLayer().GetFields() {
			runtimeKeys[k] = true
		}
	}

	for _, l := range r.Listeners {
		names, err := ListenerRouteNames(l)
		if err != nil {
			errs = append(errs, fmt.Errorf("listener %s: %w", l.Name, err))
		}
		for _, name := range names {
			if !routes[name] {
				errs = append(errs, fmt.Errorf("listener %s: route configuration %q is not served", l.Name, name))
			}
		}
	}
	for _, rc := range r.Routes {
		for _, ref := range routeClusterRefs(rc) {
			if clusters[ref.cluster] == nil {
				errs = append(errs, fmt.Errorf("route %s: %s names cluster %q, which is not served", rc.Name, ref.what, ref.cluster))
			}
			if ref.runtimeKey != "" && len(r.Runtimes) > 0 && !runtimeKeys[ref.runtimeKey] {
				errs = append(errs, fmt.Errorf("route %s: runtime key %q is not in the runtime layer", rc.Name, ref.runtimeKey))
			}
		}
	}
	assigned := map[string]bool{}
	for _, e := range r.Endpoints {
		assigned[e.ClusterName] = true
	}
	for _, c := range r.Clusters {
		if c.GetType() == cluster.Cluster_EDS && !assigned[c.Name] {
			errs = append(errs, fmt.Errorf("cluster %s: EDS cluster has no endpoint assignment", c.Name))
		}
	}
	if err := consistent(r); err != nil {
		errs = append(errs, fmt.Errorf("Consistent(): %w", err))
	}
	return errors.Join(errs...)
}

// consistent runs go-control-plane's own check. It does not look inside
// api_listeners, so for a set with api_listeners only the EDS↔CDS relation
// is handed to it; the RDS relation is covered above.
func consistent(r *Resources) error {
	res := map[resourcev3.Type][]types.Resource{}
	for _, c := range r.Clusters {
		res[resourcev3.ClusterType] = append(res[resourcev3.ClusterType], c)
	}
	for _, e := range r.Endpoints {
		res[resourcev3.EndpointType] = append(res[resourcev3.EndpointType], e)
	}
	hasAPIListener := false
	for _, l := range r.Listeners {
		hasAPIListener = hasAPIListener || l.ApiListener != nil
	}
	if !hasAPIListener {
		for _, l := range r.Listeners {
			res[resourcev3.ListenerType] = append(res[resourcev3.ListenerType], l)
		}
		for _, rc := range r.Routes {
			res[resourcev3.RouteType] = append(res[resourcev3.RouteType], rc)
		}
	}
	snap, err := cachev3.NewSnapshot("check", res)
	if err != nil {
		return err
	}
	return snap.Consistent()
}

// ListenerRouteNames returns the RDS names of a listener's HTTP connection
// managers, in filter chains and in an api_listener.
func ListenerRouteNames(l *listener.Listener) ([]string, error) {
	var out []string
	add := func(m *hcm.HttpConnectionManager) {
		if rds := m.GetRds(); rds != nil {
			out = append(out, rds.RouteConfigName)
		}
	}
	if api := l.GetApiListener().GetApiListener(); api != nil {
		m := &hcm.HttpConnectionManager{}
		if err := api.UnmarshalTo(m); err != nil {
			return nil, fmt.Errorf("api_listener: %w", err)
		}
		add(m)
	}
	for _, fc := range l.FilterChains {
		for _, f := range fc.Filters {
			if f.GetTypedConfig() == nil || f.Name != hcmFilterName {
				continue
			}
			m := &hcm.HttpConnectionManager{}
			if err := f.GetTypedConfig().UnmarshalTo(m); err != nil {
				return nil, fmt.Errorf("filter %s: %w", f.Name, err)
			}
			add(m)
		}
	}
	sort.Strings(out)
	return out, nil
}

type routeRef struct {
	what, cluster, runtimeKey string
}

// routeClusterRefs lists every cluster a route configuration sends or
// mirrors to, with the runtime key of each mirror.
func routeClusterRefs(rc *route.RouteConfiguration) []routeRef {
	var out []routeRef
	mirrors := func(where string, ps []*route.RouteAction_RequestMirrorPolicy) {
		for _, p := range ps {
			out = append(out, routeRef{what: where + " mirror", cluster: p.Cluster, runtimeKey: p.GetRuntimeFraction().GetRuntimeKey()})
		}
	}
	mirrors("route configuration", rc.RequestMirrorPolicies)
	for _, vh := range rc.VirtualHosts {
		mirrors("virtual host "+vh.Name, vh.RequestMirrorPolicies)
		for _, rt := range vh.Routes {
			a := rt.GetRoute()
			if a == nil {
				continue
			}
			where := "route " + vh.Name + "/" + rt.Name
			if c := a.GetCluster(); c != "" {
				out = append(out, routeRef{what: where, cluster: c})
			}
			for _, w := range a.GetWeightedClusters().GetClusters() {
				out = append(out, routeRef{what: where + " split", cluster: w.Name})
			}
			mirrors(where, a.RequestMirrorPolicies)
		}
	}
	return out
}
