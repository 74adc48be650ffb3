package server

import (
	"context"
	"strings"
	"testing"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
)

// rawDelta encodes a delta request by hand: a node with id, and names to
// subscribe to, which need not be valid UTF-8 (proto.Marshal would refuse
// them; proto.Unmarshal too).
func rawDelta(id string, names []string) []byte {
	node := protowire.AppendString(protowire.AppendTag(nil, nodeIDField, protowire.BytesType), id)
	b := protowire.AppendBytes(protowire.AppendTag(nil, deltaWire.node, protowire.BytesType), node)
	for _, n := range names {
		b = protowire.AppendString(protowire.AppendTag(b, deltaWire.names[0], protowire.BytesType), n)
	}
	return b
}

func unmarshalChecked(b []byte, into proto.Message, f wireFields) (*wireChecked, error) {
	w := &wireChecked{msg: into, fields: f}
	return w, wireCodec{newCodec()}.Unmarshal(mem.BufferSlice{mem.SliceBuffer(b)}, w)
}

// A request over a limit is refused on its wire bytes and never decoded:
// names that are not UTF-8, which decoding rejects, are refused for their
// number, with the node id read from the wire for the log.
func TestRequestOverLimitIsRefusedBeforeDecoding(t *testing.T) {
	bad := fillers("\xff", MaxNamesPerRequest+1)
	var req discovery.DeltaDiscoveryRequest
	w, err := unmarshalChecked(rawDelta("liar", bad), &req, deltaWire)
	if err == nil {
		err = w.err
	}
	if st := status.Convert(err); st.Code() != codes.ResourceExhausted || !strings.Contains(st.Message(), "MaxNamesPerRequest") {
		t.Fatalf("over the limit: %v, want ResourceExhausted naming MaxNamesPerRequest", err)
	}
	if w.nodeID != "liar" || len(req.ResourceNamesSubscribe) != 0 {
		t.Errorf("refused request: node %q and %d names decoded; want liar and none", w.nodeID, len(req.ResourceNamesSubscribe))
	}

	// At the limit it is decoded, and decoding is what rejects the bytes.
	_, err = unmarshalChecked(rawDelta("liar", bad[1:]), &req, deltaWire)
	if err == nil || status.Code(err) == codes.ResourceExhausted {
		t.Fatalf("at the limit, invalid UTF-8: %v, want a decoding error", err)
	}
	good := fillers("n", MaxNamesPerRequest)
	if _, err := unmarshalChecked(rawDelta("ok", good), &req, deltaWire); err != nil || len(req.ResourceNamesSubscribe) != MaxNamesPerRequest || req.Node.GetId() != "ok" {
		t.Fatalf("at the limit: %v, %d names, node %q", err, len(req.ResourceNamesSubscribe), req.Node.GetId())
	}

	// A state-of-the-world node over MaxNodeBytes, counted on the wire.
	md, _ := structpb.NewStruct(map[string]any{"blob": strings.Repeat("x", MaxNodeBytes)})
	b, err := proto.Marshal(&discovery.DiscoveryRequest{Node: &core.Node{Id: "fat", Metadata: md}, TypeUrl: resourcev3.ClusterType})
	if err != nil {
		t.Fatal(err)
	}
	var sotw discovery.DiscoveryRequest
	w, err = unmarshalChecked(b, &sotw, sotwWire)
	if err == nil {
		err = w.err
	}
	if st := status.Convert(err); st.Code() != codes.ResourceExhausted || !strings.Contains(st.Message(), "MaxNodeBytes") || w.nodeID != "fat" || sotw.Node != nil {
		t.Fatalf("node over the limit: %v, node %q, decoded %v; want ResourceExhausted naming MaxNodeBytes, fat, nothing", err, w.nodeID, sotw.Node != nil)
	}
}

// A request longer than MaxRequestBytes is refused by gRPC on its length,
// unread: the client is told ResourceExhausted in gRPC's words, the line
// logged names the peer and MaxRequestBytes. The healthy proxy beside it is served.
func TestRequestOverMaxRequestBytesIsClosed(t *testing.T) {
	h, healthy := withHealthy(t)

	a, errc := h.attacker(t, "huge")
	md, _ := structpb.NewStruct(map[string]any{"blob": strings.Repeat("x", MaxRequestBytes)})
	a.stream.Send(&discovery.DiscoveryRequest{Node: &core.Node{Id: "huge", Metadata: md}, TypeUrl: resourcev3.ClusterType})
	closedWith(t, errc, codes.ResourceExhausted, "larger than max")
	ev := overLimit(t, h)
	if ev.peer == "" || ev.peer == "unknown" || !strings.Contains(ev.err.Error(), "MaxRequestBytes") {
		t.Errorf("reported %+v, want the peer and MaxRequestBytes", ev)
	}
	stillServed(t, h, healthy)
}

// A delta stream refused on the wire is reported with the node id it
// claimed, read from the wire.
func TestWireRefusalNamesTheNode(t *testing.T) {
	h, healthy := withHealthy(t)

	s, _, errc := h.deltaAttacker(t)
	s.Send(&discovery.DeltaDiscoveryRequest{Node: &core.Node{Id: "delta-wire"}, TypeUrl: resourcev3.EndpointType, ResourceNamesSubscribe: fillers("n", MaxNamesPerRequest+1)})
	closedWith(t, errc, codes.ResourceExhausted, "MaxNamesPerRequest")
	if ev := overLimit(t, h); ev.nodeID != "delta-wire" || ev.peer == "" || ev.peer == "unknown" {
		t.Errorf("reported %+v, want the peer and node delta-wire", ev)
	}
	stillServed(t, h, healthy)
}

// MaxRequestBytes holds the largest request the other limits allow for
// names shadowplane serves: every name a delta initial version of the
// longest name and version.
func TestMaxRequestBytesHoldsTheLargestLegitimateRequest(t *testing.T) {
	versions := make(map[string]string, MaxNamesPerRequest)
	for _, name := range fillers(strings.Repeat("n", maxServedNameBytes-6), MaxNamesPerRequest) {
		versions[name] = strings.Repeat("v", maxVersionBytes)
	}
	md, _ := structpb.NewStruct(map[string]any{"m": strings.Repeat("x", MaxNodeBytes-100)})
	req := &discovery.DeltaDiscoveryRequest{
		Node:                    &core.Node{Id: "big", Metadata: md},
		TypeUrl:                 resourcev3.RouteType,
		InitialResourceVersions: versions,
		ResponseNonce:           strings.Repeat("0", 64),
	}
	if proto.Size(req.Node) > MaxNodeBytes {
		t.Fatalf("test node of %d bytes is over MaxNodeBytes", proto.Size(req.Node))
	}
	if n := proto.Size(req); n > MaxRequestBytes {
		t.Fatalf("largest legitimate request is %d bytes, over MaxRequestBytes %d", n, MaxRequestBytes)
	}
}

// overLimit is the next stream the harness was told was closed over a
// limit.
func overLimit(t *testing.T, h *harness) limitEvent {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	select {
	case ev := <-h.overLimit:
		return ev
	case <-ctx.Done():
		t.Fatal("no stream was reported closed over a limit")
	}
	return limitEvent{}
}

// A request that is not a protobuf message — a million names and a stray
// byte — is refused on the wire, not decoded up to the stray byte, and
// the node id read before it is kept for the log.
func TestMalformedRequestIsRefusedBeforeDecoding(t *testing.T) {
	b := append(rawDelta("garbled", fillers("n", 1000)), 0xff)
	var req discovery.DeltaDiscoveryRequest
	w, err := unmarshalChecked(b, &req, deltaWire)
	if err == nil {
		err = w.err
	}
	if status.Code(err) != codes.InvalidArgument || w.err == nil || w.nodeID != "garbled" || len(req.ResourceNamesSubscribe) != 0 {
		t.Fatalf("malformed request: %v, node %q, %d names decoded; want InvalidArgument on the wire, garbled, none", err, w.nodeID, len(req.ResourceNamesSubscribe))
	}
}
