package bootstrap

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// grpcBootstrap is the gRPC xDS bootstrap file (gRFC A27), the JSON a
// proxyless client reads from GRPC_XDS_BOOTSTRAP. Field order is the
// output order.
type grpcBootstrap struct {
	XDSServers []grpcXDSServer `json:"xds_servers"`
	Node       grpcNode        `json:"node"`
}

type grpcXDSServer struct {
	ServerURI    string            `json:"server_uri"`
	ChannelCreds []grpcChannelCred `json:"channel_creds"`
	// ServerFeatures must name xds_v3, or older clients speak xDS v2.
	ServerFeatures []string `json:"server_features"`
}

type grpcChannelCred struct {
	Type   string         `json:"type"`
	Config *grpcTLSConfig `json:"config,omitempty"`
}

type grpcNode struct {
	ID      string `json:"id"`
	Cluster string `json:"cluster"`
	// Locality is written even though shadowplane ignores it: grpc-js-xds
	// refuses a bootstrap whose node has none, with an error that does not
	// say so.
	Locality grpcLocality `json:"locality"`
}

type grpcLocality struct {
	Region  string `json:"region"`
	Zone    string `json:"zone"`
	SubZone string `json:"sub_zone"`
}

// GRPC renders the bootstrap a proxyless gRPC client (gRPC-Go, grpc-js-xds,
// gRPC C-core) needs to take its routes from shadowplane: one xDS server
// (plaintext, or TLS with o.TLS), xDS v3, and node.id / node.cluster. One file works unchanged for
// all three. gRPC speaks state-of-the-world ADS only, so o.Delta is an
// error; o.AdminAddress has no meaning for a client and is ignored.
func GRPC(o Options) ([]byte, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if o.Delta {
		return nil, errors.New("--delta: proxyless gRPC clients speak only state-of-the-world ADS")
	}
	addr, err := parseXDSAddress(o.XDSAddress)
	if err != nil {
		return nil, err
	}
	b := grpcBootstrap{
		XDSServers: []grpcXDSServer{{
			ServerURI:      addr.String(),
			ChannelCreds:   o.TLS.grpcCreds(),
			ServerFeatures: []string{"xds_v3"},
		}},
		Node: grpcNode{ID: o.NodeID, Cluster: o.NodeCluster},
	}
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetIndent("", "  ")
	if err := enc.Encode(b); err != nil {
		return nil, fmt.Errorf("encoding gRPC bootstrap: %w", err)
	}
	return out.Bytes(), nil
}
