package xds

import (
	"sort"
	"strings"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"

	"github.com/shadowplane/shadowplane/policy"
)

// ClientKind is the kind of xDS client, which decides the shape of its
// listeners: Envoy gets port listeners and a runtime layer, proxyless gRPC
// gets api_listeners and no runtime.
type ClientKind int

const (
	Envoy ClientKind = iota
	GRPC
)

func (k ClientKind) String() string {
	if k == GRPC {
		return "grpc"
	}
	return "envoy"
}

// KindOf tells a proxyless gRPC client from Envoy by the user agent its
// xDS client reports ("gRPC Go", "gRPC C++", "gRPC Java" …); anything else
// is served as Envoy.
func KindOf(node *core.Node) ClientKind {
	if strings.HasPrefix(node.GetUserAgentName(), "gRPC") {
		return GRPC
	}
	return Envoy
}

// GroupKey identifies the proxies that receive identical resources, so one
// snapshot serves them all. Cluster and ID are kept only when some app
// selects them; every proxy that no selector names shares one group per kind.
type GroupKey struct {
	Kind    ClientKind
	Cluster string
	ID      string
}

func (k GroupKey) String() string {
	s := k.Kind.String()
	if k.Cluster != "" {
		s += "/cluster=" + k.Cluster
	}
	if k.ID != "" {
		s += "/id=" + k.ID
	}
	return s
}

// Grouper maps nodes to groups under one model.
type Grouper struct {
	clusters map[string]bool
	ids      map[string]bool
}

// NewGrouper indexes the selectors of apps.
func NewGrouper(apps []policy.App) *Grouper {
	g := &Grouper{clusters: map[string]bool{}, ids: map[string]bool{}}
	for i := range apps {
		for _, c := range apps[i].Proxies.Clusters {
			g.clusters[c] = true
		}
		for _, id := range apps[i].Proxies.IDs {
			g.ids[id] = true
		}
	}
	return g
}

// Key is the group of node.
func (g *Grouper) Key(node *core.Node) GroupKey {
	k := GroupKey{Kind: KindOf(node)}
	if g.clusters[node.GetCluster()] {
		k.Cluster = node.GetCluster()
	}
	if g.ids[node.GetId()] {
		k.ID = node.GetId()
	}
	return k
}

// AppsFor returns the apps a group receives: those that select every proxy
// and those whose selector names the group's cluster or id.
func AppsFor(apps []policy.App, key GroupKey) []policy.App {
	var out []policy.App
	for i := range apps {
		if selects(apps[i].Proxies, key) {
			out = append(out, apps[i])
		}
	}
	return out
}

func selects(s policy.Selector, key GroupKey) bool {
	if s.Empty() {
		return true
	}
	for _, c := range s.Clusters {
		if c == key.Cluster {
			return true
		}
	}
	for _, id := range s.IDs {
		if id == key.ID {
			return true
		}
	}
	return false
}

// Keys lists the groups a model can produce for nodes that match at most
// one selector, for `shadowplane render` without a node: for each kind,
// the group of unselected proxies, then one per selected cluster and id.
func (g *Grouper) Keys() []GroupKey {
	var clusters, ids []string
	for c := range g.clusters {
		clusters = append(clusters, c)
	}
	for id := range g.ids {
		ids = append(ids, id)
	}
	sort.Strings(clusters)
	sort.Strings(ids)
	var out []GroupKey
	for _, kind := range []ClientKind{Envoy, GRPC} {
		out = append(out, GroupKey{Kind: kind})
		for _, c := range clusters {
			out = append(out, GroupKey{Kind: kind, Cluster: c})
		}
		for _, id := range ids {
			out = append(out, GroupKey{Kind: kind, ID: id})
		}
	}
	return out
}
