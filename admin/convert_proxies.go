package admin

import (
	"slices"

	"github.com/shadowplane/shadowplane/admin/api"
	"github.com/shadowplane/shadowplane/xds/server"
)

// proxyOf is p as /api/v1/proxies shows it.
func proxyOf(p server.Proxy) api.Proxy {
	out := api.Proxy{StreamID: p.StreamID, NodeID: p.NodeID, Cluster: p.Cluster, UserAgent: p.UserAgent,
		Kind: p.Kind, Group: p.Group, Protocol: p.Protocol, Identity: p.Identity, ConnectedAt: p.ConnectedAt}
	if p.Types != nil {
		out.Types = make(map[string]api.TypeStatus, len(p.Types))
		for name, ts := range p.Types {
			if ts != nil { // the registry keeps none; one would be left out
				out.Types[name] = typeStatusOf(*ts)
			}
		}
	}
	return out
}

func typeStatusOf(ts server.TypeStatus) api.TypeStatus {
	out := api.TypeStatus{SentVersion: ts.SentVersion, SentNonce: ts.SentNonce, SentAt: ts.SentAt,
		AckedVersion: ts.AckedVersion, AckedAt: ts.AckedAt, Pushes: ts.Pushes, Nacks: ts.Nacks,
		Names: slices.Clone(ts.Names), None: ts.None}
	if n := ts.LastNack; n != nil {
		out.LastNack = &api.Nack{Version: n.Version, Nonce: n.Nonce, Error: n.Error, At: n.At}
	}
	return out
}
