package server

import (
	"testing"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/shadowplane/shadowplane/xds/server/snapshot"
)

// A shared body with a stream's nonce appended decodes to exactly the
// response a per-stream marshal would have sent, for a full set and for a
// subset.
func TestEncodedResponseDecodesAsMarshalled(t *testing.T) {
	g := snapshot.NewGeneration(model(20, 40))
	snap, err := g.Snapshot(g.Key(&core.Node{Id: "n", UserAgentName: "envoy"}))
	if err != nil {
		t.Fatal(err)
	}
	clusters := snap.Type(resourcev3.ClusterType)
	sub := clusters.Subset(map[string]struct{}{clusters.Names[1]: {}, "absent": {}})
	for _, tc := range []struct {
		name      string
		body      interface{ Response() []byte }
		version   string
		resources []*anypb.Any
	}{
		{"full set", clusters, clusters.Version, clusters.All()},
		{"subset", sub, sub.Version, sub.Resources},
	} {
		if len(tc.resources) == 0 {
			t.Fatalf("%s: nothing to encode", tc.name)
		}
		buf, err := newCodec().Marshal(&encodedResponse{body: tc.body.Response(), nonce: "42"})
		if err != nil {
			t.Fatal(err)
		}
		var got discovery.DiscoveryResponse
		if err := proto.Unmarshal(buf.Materialize(), &got); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		want := &discovery.DiscoveryResponse{VersionInfo: tc.version, TypeUrl: resourcev3.ClusterType, Nonce: "42", Resources: tc.resources}
		if !proto.Equal(&got, want) {
			t.Fatalf("%s: decoded %v, want %v", tc.name, &got, want)
		}
	}
	// Anything else is marshalled as protobuf, unchanged.
	req := &discovery.DiscoveryRequest{TypeUrl: resourcev3.RouteType, ResourceNames: []string{"a"}}
	buf, err := newCodec().Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	var back discovery.DiscoveryRequest
	if err := newCodec().Unmarshal(buf, &back); err != nil || !proto.Equal(&back, req) {
		t.Fatalf("round trip: %v %v", &back, err)
	}
}
