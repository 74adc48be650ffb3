package bootstrap

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestGRPCBootstrapShape(t *testing.T) {
	out, err := GRPC(Options{XDSAddress: "127.0.0.1:18000", NodeID: "client-1", NodeCluster: "clients"})
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		XDSServers []struct {
			ServerURI      string   `json:"server_uri"`
			ChannelCreds   []any    `json:"channel_creds"`
			ServerFeatures []string `json:"server_features"`
		} `json:"xds_servers"`
		Node struct {
			ID       string          `json:"id"`
			Cluster  string          `json:"cluster"`
			Locality json.RawMessage `json:"locality"`
		} `json:"node"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out)
	}
	if len(got.XDSServers) != 1 || got.XDSServers[0].ServerURI != "127.0.0.1:18000" {
		t.Errorf("xds_servers = %+v", got.XDSServers)
	}
	if s := got.XDSServers[0]; len(s.ChannelCreds) != 1 || len(s.ServerFeatures) != 1 || s.ServerFeatures[0] != "xds_v3" {
		t.Errorf("server = %+v, want insecure creds and server_features [xds_v3]", s)
	}
	if got.Node.ID != "client-1" || got.Node.Cluster != "clients" {
		t.Errorf("node = %+v", got.Node)
	}
	// grpc-js-xds refuses a node without a locality object.
	if !strings.HasPrefix(string(got.Node.Locality), "{") {
		t.Errorf("node.locality = %s, want an object", got.Node.Locality)
	}
}

func TestGRPCBootstrapRefusesBadOptions(t *testing.T) {
	for name, o := range map[string]Options{
		"delta":      {XDSAddress: "127.0.0.1:18000", NodeID: "n", NodeCluster: "c", Delta: true},
		"no address": {NodeID: "n", NodeCluster: "c"},
		"no node":    {XDSAddress: "127.0.0.1:18000", NodeCluster: "c"},
	} {
		if _, err := GRPC(o); err == nil {
			t.Errorf("%s: GRPC(%+v) succeeded", name, o)
		}
	}
}
