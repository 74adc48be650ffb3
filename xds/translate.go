// Package xds translates shadowplane's policy model into Envoy xDS
// resources and checks them. Everything here is pure: the same model gives
// the same resources, byte for byte, and nothing does I/O. What serving
// needs on top — resources marshalled once, versioned, grouped into
// generations and staged — lives with the server, in xds/server/snapshot;
// the ADS server itself in xds/server.
package xds

import (
	"errors"
	"fmt"
	"sort"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpoint "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	runtime "github.com/envoyproxy/go-control-plane/envoy/service/runtime/v3"
	"google.golang.org/protobuf/proto"

	"github.com/shadowplane/shadowplane/policy"
)

// Resources is one proxy group's complete configuration, each list sorted
// by resource name.
type Resources struct {
	Listeners []*listener.Listener
	Routes    []*route.RouteConfiguration
	Clusters  []*cluster.Cluster
	Endpoints []*endpoint.ClusterLoadAssignment
	// Runtimes holds the RTDS layer; empty for proxyless gRPC clients, which
	// do not read runtime.
	Runtimes []*runtime.Runtime

	// validated is set once Validate passed, so a snapshot made of these
	// resources does not pay for it twice.
	validated bool
}

// Translate builds the resources a client of the given kind receives for
// apps. apps must be a validated model's apps (policy.Validate); an error
// here means a bug or a model that skipped validation, and the caller keeps
// serving what it had.
func Translate(apps []policy.App, kind ClientKind) (*Resources, error) {
	res, err := Build(apps, kind)
	if err != nil {
		return nil, err
	}
	if err := res.Validate(); err != nil {
		return nil, err
	}
	return res, nil
}

// Build is Translate without the validation, for a caller that runs
// Validate beside other work: snapshot.NewSnapshot validates while it
// marshals, keeping every core busy where two phases would each wait for
// their largest kind.
func Build(apps []policy.App, kind ClientKind) (*Resources, error) {
	sorted := make([]*policy.App, len(apps))
	for i := range apps {
		sorted[i] = &apps[i]
	}
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })

	var res *Resources
	switch kind {
	case Envoy:
		res = translateEnvoy(sorted)
	case GRPC:
		res = translateGRPC(sorted)
	default:
		return nil, fmt.Errorf("unknown client kind %d", kind)
	}
	return res, nil
}

func translateEnvoy(apps []*policy.App) *Resources {
	res := &Resources{}
	byPort := map[int][]*policy.App{}
	var ports []int
	for _, app := range apps {
		if app.Port == 0 {
			continue
		}
		if _, ok := byPort[app.Port]; !ok {
			ports = append(ports, app.Port)
		}
		byPort[app.Port] = append(byPort[app.Port], app)
	}
	sort.Ints(ports)

	// Virtual hosts are most of the work, and independent: each port's
	// are built on a core of their own.
	vhosts := make([][]*route.VirtualHost, len(ports))
	concurrently(len(ports), func(i int) error {
		for _, app := range byPort[ports[i]] {
			vhosts[i] = append(vhosts[i], virtualHost(app, ports[i], Envoy))
		}
		return nil
	})
	mirrors := map[string]uint32{}
	for i, port := range ports {
		res.Listeners = append(res.Listeners, portListener(port))
		for _, app := range byPort[port] {
			for key, n := range mirrorFractions(app) {
				mirrors[key] = n
			}
		}
		res.Routes = append(res.Routes, &route.RouteConfiguration{
			Name:         RouteConfigName(port),
			VirtualHosts: vhosts[i],
		})
	}
	res.Clusters, res.Endpoints = groupClusters(apps, Envoy).build(Envoy)
	res.Runtimes = []*runtime.Runtime{runtimeLayer(mirrors)}
	return res
}

func translateGRPC(apps []*policy.App) *Resources {
	res := &Resources{}
	for host, app := range grpcHosts(apps) {
		res.Listeners = append(res.Listeners, apiListener(host, GRPCRouteConfigName(app.Name)))
	}
	for _, app := range apps {
		res.Routes = append(res.Routes, &route.RouteConfiguration{
			Name:         GRPCRouteConfigName(app.Name),
			VirtualHosts: []*route.VirtualHost{virtualHost(app, 0, GRPC)},
		})
	}
	sort.Slice(res.Listeners, func(i, j int) bool { return res.Listeners[i].Name < res.Listeners[j].Name })
	res.Clusters, res.Endpoints = groupClusters(apps, GRPC).build(GRPC)
	return res
}

// grpcHosts decides which app a proxyless client reaches for each host. A
// gRPC client names only the host, while Envoy apps may share a host on
// different ports (80 and 443, say): the app without a port wins (the
// policy lets no other app claim its hosts), then the lowest port, then
// the name, so the choice is stable.
func grpcHosts(apps []*policy.App) map[string]*policy.App {
	rank := func(a *policy.App) int {
		if a.Port == 0 {
			return -1
		}
		return a.Port
	}
	out := map[string]*policy.App{}
	for _, app := range apps { // sorted by name
		for _, host := range app.Hosts {
			if cur, ok := out[host]; !ok || rank(app) < rank(cur) {
				out[host] = app
			}
		}
	}
	return out
}

// Validate runs every resource's generated ValidateAll and shadowplane's
// reference checks (see CheckReferences).
func (r *Resources) Validate() error {
	if r.validated {
		return nil
	}
	jobs := r.validation()
	err := concurrently(len(jobs), func(i int) error { return jobs[i]() })
	r.validated = err == nil
	return err
}

// validation is the work of Validate, one job per resource kind, to run
// concurrently; each kind's errors keep their order, so the joined error
// reads the same on every run.
func (r *Resources) validation() []func() error {
	check := func(what string, ms []validator, name func(int) string) func() error {
		return func() error {
			var errs []error
			for i, m := range ms {
				if err := m.ValidateAll(); err != nil {
					errs = append(errs, fmt.Errorf("%s %s: %w", what, name(i), err))
				}
			}
			return errors.Join(errs...)
		}
	}
	return []func() error{
		check("listener", asValidators(r.Listeners), func(i int) string { return r.Listeners[i].Name }),
		check("route", asValidators(r.Routes), func(i int) string { return r.Routes[i].Name }),
		check("cluster", asValidators(r.Clusters), func(i int) string { return r.Clusters[i].Name }),
		check("endpoints", asValidators(r.Endpoints), func(i int) string { return r.Endpoints[i].ClusterName }),
		check("runtime", asValidators(r.Runtimes), func(i int) string { return r.Runtimes[i].Name }),
		func() error { return CheckReferences(r) },
	}
}

// All returns every resource, in the order make-before-break pushes them:
// clusters, endpoints, listeners, routes, runtime.
func (r *Resources) All() []proto.Message {
	var out []proto.Message
	for _, m := range r.Clusters {
		out = append(out, m)
	}
	for _, m := range r.Endpoints {
		out = append(out, m)
	}
	for _, m := range r.Listeners {
		out = append(out, m)
	}
	for _, m := range r.Routes {
		out = append(out, m)
	}
	for _, m := range r.Runtimes {
		out = append(out, m)
	}
	return out
}

// validator is any generated Envoy message.
type validator interface{ ValidateAll() error }

func asValidators[T validator](ms []T) []validator {
	out := make([]validator, len(ms))
	for i, m := range ms {
		out[i] = m
	}
	return out
}
