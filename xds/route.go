package xds

import (
	"fmt"
	"math"
	"strings"

	mutation "github.com/envoyproxy/go-control-plane/envoy/config/common/mutation_rules/v3"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	matcher "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/shadowplane/shadowplane/policy"
)

// virtualHost is an app's virtual host: its domains and its routes in
// policy order. port is the listener port (0 for gRPC), added to the
// domains so that a Host header carrying the port matches too.
func virtualHost(app *policy.App, port int, kind ClientKind) *route.VirtualHost {
	vh := &route.VirtualHost{Name: app.Name, Domains: domains(app.Hosts, port)}
	for i := range app.Routes {
		vh.Routes = append(vh.Routes, routes(app, &app.Routes[i], kind)...)
	}
	return vh
}

func domains(hosts []string, port int) []string {
	out := make([]string, 0, 2*len(hosts))
	for _, h := range hosts {
		out = append(out, h)
		if port != 0 {
			out = append(out, fmt.Sprintf("%s:%d", h, port))
		}
	}
	return out
}

// routes translates one policy route. It is usually one Envoy route; a
// mirror limited to safe methods becomes two: the first matches only the
// safe methods and mirrors, the second matches the rest and does not.
func routes(app *policy.App, r *policy.Route, kind ClientKind) []*route.Route {
	mirror := activeMirror(app, r)
	if kind == GRPC {
		// gRPC ignores mirror policies; leaving them out keeps the shadow
		// cluster out of a proxyless client's subscriptions.
		mirror = nil
	}
	if mirror == nil || !mirror.SafeMethodsOnly {
		return []*route.Route{envoyRoute(app, r, r.Name, r.Match.Methods, mirror, kind)}
	}
	safe := intersectMethods(r.Match.Methods, policy.SafeMethods)
	if len(safe) == 0 {
		// The route matches no safe method: nothing is ever mirrored.
		return []*route.Route{envoyRoute(app, r, r.Name, r.Match.Methods, nil, kind)}
	}
	return []*route.Route{
		envoyRoute(app, r, r.Name+"-mirrored", safe, mirror, kind),
		envoyRoute(app, r, r.Name, r.Match.Methods, nil, kind),
	}
}

// activeMirror is the route's mirror if its variant can receive traffic. A
// mirror to a variant with no endpoints is withdrawn rather than served:
// Envoy would count every copy as an upstream failure of the dark version.
func activeMirror(app *policy.App, r *policy.Route) *policy.Mirror {
	if r.Mirror == nil {
		return nil
	}
	v, ok := app.Variant(r.Mirror.Variant)
	if !ok || !v.Available() {
		return nil
	}
	return r.Mirror
}

func intersectMethods(methods, allowed []string) []string {
	if len(methods) == 0 {
		return allowed
	}
	var out []string
	for _, m := range methods {
		for _, a := range allowed {
			if m == a {
				out = append(out, m)
			}
		}
	}
	return out
}

func envoyRoute(app *policy.App, r *policy.Route, name string, methods []string, mirror *policy.Mirror, kind ClientKind) *route.Route {
	return &route.Route{
		Name:   name,
		Match:  routeMatch(r.Match, methods, kind),
		Action: &route.Route_Route{Route: routeAction(app, r, mirror, kind)},
	}
}

func routeMatch(m policy.Match, methods []string, kind ClientKind) *route.RouteMatch {
	rm := &route.RouteMatch{PathSpecifier: &route.RouteMatch_Prefix{Prefix: "/"}}
	if p := m.Path; p != nil {
		switch {
		case p.Exact != "":
			rm.PathSpecifier = &route.RouteMatch_Path{Path: p.Exact}
		case p.Prefix != "":
			rm.PathSpecifier = &route.RouteMatch_Prefix{Prefix: p.Prefix}
		case p.Regex != "":
			rm.PathSpecifier = &route.RouteMatch_SafeRegex{SafeRegex: regexMatcher(p.Regex)}
		}
	}
	for _, h := range m.Headers {
		rm.Headers = append(rm.Headers, headerMatcher(h, kind))
	}
	if len(methods) > 0 {
		rm.Headers = append(rm.Headers, methodMatcher(methods, kind))
	}
	return rm
}

// headerMatcher matches one header. Envoy gets string_match; proxyless
// gRPC clients get the older exact/prefix/safe_regex fields instead: gRPC
// C-core as shipped by Debian (python3-grpcio 1.51) reads only those and
// NACKs the whole route table when it meets string_match. gRPC-Go and
// grpc-js read both (decision 0004).
func headerMatcher(h policy.HeaderMatch, kind ClientKind) *route.HeaderMatcher {
	hm := &route.HeaderMatcher{Name: h.Name}
	switch {
	case h.Present:
		hm.HeaderMatchSpecifier = &route.HeaderMatcher_PresentMatch{PresentMatch: true}
	case kind != GRPC:
		hm.HeaderMatchSpecifier = &route.HeaderMatcher_StringMatch{StringMatch: stringMatcher(h.StringMatch)}
	case h.Prefix != "":
		hm.HeaderMatchSpecifier = &route.HeaderMatcher_PrefixMatch{PrefixMatch: h.Prefix}
	case h.Regex != "":
		hm.HeaderMatchSpecifier = &route.HeaderMatcher_SafeRegexMatch{SafeRegexMatch: regexMatcher(h.Regex)}
	default:
		hm.HeaderMatchSpecifier = &route.HeaderMatcher_ExactMatch{ExactMatch: h.Exact}
	}
	return hm
}

func stringMatcher(s policy.StringMatch) *matcher.StringMatcher {
	switch {
	case s.Prefix != "":
		return &matcher.StringMatcher{MatchPattern: &matcher.StringMatcher_Prefix{Prefix: s.Prefix}}
	case s.Regex != "":
		return &matcher.StringMatcher{MatchPattern: &matcher.StringMatcher_SafeRegex{SafeRegex: regexMatcher(s.Regex)}}
	default:
		return &matcher.StringMatcher{MatchPattern: &matcher.StringMatcher_Exact{Exact: s.Exact}}
	}
}

// methodMatcher matches the :method pseudo-header against a set of methods.
func methodMatcher(methods []string, kind ClientKind) *route.HeaderMatcher {
	if len(methods) == 1 {
		return headerMatcher(policy.HeaderMatch{Name: ":method", StringMatch: policy.StringMatch{Exact: methods[0]}}, kind)
	}
	return headerMatcher(policy.HeaderMatch{Name: ":method", StringMatch: policy.StringMatch{
		Regex: "^(" + strings.Join(methods, "|") + ")$",
	}}, kind)
}

// regexMatcher uses Envoy's RE2 engine, whose syntax the policy validated
// with Go's regexp (also RE2).
func regexMatcher(re string) *matcher.RegexMatcher {
	return &matcher.RegexMatcher{Regex: re}
}

func routeAction(app *policy.App, r *policy.Route, mirror *policy.Mirror, kind ClientKind) *route.RouteAction {
	ra := &route.RouteAction{}
	if len(r.Split) == 1 {
		ra.ClusterSpecifier = &route.RouteAction_Cluster{Cluster: ClusterName(app.Name, r.Split[0].Variant)}
	} else {
		ra.ClusterSpecifier = &route.RouteAction_WeightedClusters{WeightedClusters: weightedClusters(app, r.Split, kind)}
	}
	if r.Timeout > 0 {
		ra.Timeout = durationpb.New(r.Timeout)
	}
	if r.Retries != nil {
		ra.RetryPolicy = retryPolicy(r.Retries)
	}
	if mirror != nil {
		ra.RequestMirrorPolicies = []*route.RouteAction_RequestMirrorPolicy{mirrorPolicy(app, r, mirror)}
	}
	return ra
}

// weightedClusters keeps zero-weight backends: their clusters stay warm, so
// an experiment's first step to a candidate takes effect at once. The
// deprecated total_weight is left unset for Envoy, which uses the sum; a
// proxyless gRPC client gets it set to the sum, since gRPC C-core 1.51
// (Debian's python3-grpcio) takes an unset total_weight as 100 and NACKs
// any split whose weights add up to something else.
func weightedClusters(app *policy.App, split []policy.Backend, kind ClientKind) *route.WeightedCluster {
	wc := &route.WeightedCluster{}
	var total uint32
	for _, b := range split {
		wc.Clusters = append(wc.Clusters, &route.WeightedCluster_ClusterWeight{
			Name:   ClusterName(app.Name, b.Variant),
			Weight: wrapperspb.UInt32(weightOf(b)),
		})
		total += weightOf(b)
	}
	if kind == GRPC && total > 0 {
		wc.TotalWeight = wrapperspb.UInt32(total)
	}
	return wc
}

func weightOf(b policy.Backend) uint32 {
	if b.Weight == nil {
		return 0
	}
	return *b.Weight
}

// mirrorPolicy copies a fraction of the route's requests to the mirror
// variant. The fraction is served twice on purpose: as the default value in
// the route, which every client honours, and under a stable runtime key in
// the RTDS layer, so that Envoy can be given a new fraction without a route
// change.
func mirrorPolicy(app *policy.App, r *policy.Route, m *policy.Mirror) *route.RouteAction_RequestMirrorPolicy {
	p := &route.RouteAction_RequestMirrorPolicy{
		Cluster: ClusterName(app.Name, m.Variant),
		RuntimeFraction: &core.RuntimeFractionalPercent{
			DefaultValue: fractionalPercent(*m.Percent),
			RuntimeKey:   MirrorRuntimeKey(app.Name, r.Name),
		},
		DisableShadowHostSuffixAppend: !app.ShadowHostSuffix,
		RequestHeadersMutations: []*mutation.HeaderMutation{{
			Action: &mutation.HeaderMutation_Append{Append: &core.HeaderValueOption{
				Header:       &core.HeaderValue{Key: policy.MirrorHeader, Value: "true"},
				AppendAction: core.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD,
			}},
		}},
	}
	return p
}

// fractionalPercent expresses a percentage in millionths, as Istio does, so
// that the policy's 0.0001 % steps are exact.
func fractionalPercent(percent float64) *typev3.FractionalPercent {
	return &typev3.FractionalPercent{
		Numerator:   millionths(percent),
		Denominator: typev3.FractionalPercent_MILLION,
	}
}

func millionths(percent float64) uint32 {
	return uint32(math.Round(percent * 10000))
}

func retryPolicy(r *policy.Retries) *route.RetryPolicy {
	rp := &route.RetryPolicy{
		RetryOn:    strings.Join(r.On, ","),
		NumRetries: wrapperspb.UInt32(r.Attempts),
	}
	if r.PerTryTimeout > 0 {
		rp.PerTryTimeout = durationpb.New(r.PerTryTimeout)
	}
	return rp
}
