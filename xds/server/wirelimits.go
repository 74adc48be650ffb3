package server

import (
	"fmt"
	"strings"
	"sync"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// The per-request limits of limits.go are applied twice: here, on a
// request's wire bytes before it is decoded, and again on the decoded
// request. Decoding is most of what an attacker costs: 100,000 names of a
// delta request are 100,000 strings allocated and checked for UTF-8, and a
// CPU profile of serve under issue 13's stream attackers spent 40 % of its
// time in Unmarshal before a limit closed the stream. Counting fields on
// the wire costs a fraction of that, and what is refused here is never
// decoded.

// MaxRequestBytes bounds the encoded size of one xDS request: gRPC refuses
// a longer one on its 5-byte length prefix, before reading it. It is the
// largest request the other limits allow a client that asks only for
// names shadowplane can serve:
//
//   - the node, MaxNodeBytes;
//   - MaxNamesPerRequest names, each as a delta initial_resource_versions
//     entry (the largest way to send a name): the longest name served,
//     maxServedNameBytes, a version of at most maxVersionBytes, and 9
//     bytes of tags and lengths (entry tag and length, key tag and length,
//     value tag and length) — 20,000 × 331 bytes;
//   - 64 KiB for the rest: type URL, nonce, version, error detail.
//
// That is 6,751,072 bytes (6.4 MiB), above gRPC's default of 4 MiB, which until now refused
// some requests the other limits allow (and lets a stream make the server
// buffer 2.4 MiB more). It does not refuse issue 13's 3.9 MB node or
// 1.5 MB of delta names on their length: those are read, and refused by
// the wire check below without being decoded.
const MaxRequestBytes = MaxNodeBytes + MaxNamesPerRequest*(maxServedNameBytes+maxVersionBytes+9) + 64<<10

const (
	// maxServedNameBytes is the longest resource name shadowplane serves:
	// a proxyless gRPC client's route configuration, "grpc_" and a host of
	// up to 253 bytes (xds.GRPCRouteConfigName, policy.validate). Cluster
	// and endpoint names, app_variant of two DNS labels, are at most 127.
	maxServedNameBytes = 5 + 253
	// maxVersionBytes is the longest resource version worth echoing:
	// shadowplane's are 16 hex digits (an FNV-64 hash); 64 leaves room for
	// a server before it with longer ones.
	maxVersionBytes = 64
)

// wireFields are the field numbers a request's check counts: the node,
// and the fields whose entries are resource names.
type wireFields struct {
	node  protowire.Number
	names []protowire.Number
}

var (
	sotwWire  = wireFieldsOf((&discovery.DiscoveryRequest{}).ProtoReflect().Descriptor(), "node", "resource_names")
	deltaWire = wireFieldsOf((&discovery.DeltaDiscoveryRequest{}).ProtoReflect().Descriptor(), "node",
		"resource_names_subscribe", "resource_names_unsubscribe", "initial_resource_versions")
	nodeIDField = protowire.Number((&core.Node{}).ProtoReflect().Descriptor().Fields().ByName("id").Number())
)

func wireFieldsOf(d protoreflect.MessageDescriptor, node string, names ...string) wireFields {
	f := wireFields{node: protowire.Number(d.Fields().ByName(protoreflect.Name(node)).Number())}
	for _, n := range names {
		f.names = append(f.names, protowire.Number(d.Fields().ByName(protoreflect.Name(n)).Number()))
	}
	return f
}

// checkWire applies checkRequest's limits to an encoded request: the
// names it carries (each entry of a name field is one name) and the size
// of its node (every occurrence counted: proto merges them). It returns
// the limit's error and the node id the request claims, if any, for the
// log. A request it cannot parse is refused too (errMalformed), not left
// to proto.Unmarshal, which would decode all that parses before failing;
// it is an offence like going over a limit.
func checkWire(b []byte, f wireFields) (nodeID string, err error) {
	var names, nodeBytes int
	var node []byte
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return wireNodeID(node), errMalformed
		}
		b = b[n:]
		if typ != protowire.BytesType {
			if n = protowire.ConsumeFieldValue(num, typ, b); n < 0 {
				return wireNodeID(node), errMalformed
			}
			b = b[n:]
			continue
		}
		v, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return wireNodeID(node), errMalformed
		}
		b = b[n:]
		switch {
		case num == f.node:
			nodeBytes += len(v)
			node = v
		case isNameField(num, f.names):
			names++
		}
	}
	if names > MaxNamesPerRequest {
		return wireNodeID(node), errNamesPerReq
	}
	if nodeBytes > MaxNodeBytes {
		return wireNodeID(node), status.Errorf(codes.ResourceExhausted, "node of %d bytes is over %d (MaxNodeBytes)", nodeBytes, MaxNodeBytes)
	}
	return "", nil
}

// errMalformed refuses a request that is not a protobuf message.
var errMalformed = status.Error(codes.InvalidArgument, "request is not a valid protobuf message")

func isNameField(num protowire.Number, names []protowire.Number) bool {
	for _, n := range names {
		if num == n {
			return true
		}
	}
	return false
}

// wireNodeID is the id of an encoded node, read without decoding the rest
// of it; "" if it has none or cannot be parsed.
func wireNodeID(b []byte) string {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return ""
		}
		b = b[n:]
		if num == nodeIDField && typ == protowire.BytesType {
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return ""
			}
			return strings.ToValidUTF8(string(v[:min(len(v), 256)]), "?")
		}
		if n = protowire.ConsumeFieldValue(num, typ, b); n < 0 {
			return ""
		}
		b = b[n:]
	}
	return ""
}

// wireChecked is what a stream under wireLimits hands gRPC to receive
// into: the request, and, when the request goes over a limit, the limit
// and the node id it claims. gRPC gives it as it is to the codec.
type wireChecked struct {
	msg    proto.Message
	fields wireFields
	err    error
	nodeID string
}

// wireCodec is the server's codec, except that a wireChecked request is
// checked on the wire before it is decoded. A request over a limit is
// left undecoded with the limit in wireChecked.err, and no error is
// returned: gRPC would send an error of the codec's to the client at once,
// as Internal; the stream instead ends with the limit's own status.
type wireCodec struct{ codec }

func (c wireCodec) Unmarshal(data mem.BufferSlice, v any) error {
	w, ok := v.(*wireChecked)
	if !ok {
		return c.codec.Unmarshal(data, v)
	}
	buf := data.MaterializeToBuffer(mem.DefaultBufferPool())
	defer buf.Free()
	b := buf.ReadOnlyData()
	if w.nodeID, w.err = checkWire(b, w.fields); w.err != nil {
		return nil
	}
	return proto.Unmarshal(b, w.msg)
}

var _ encoding.CodecV2 = wireCodec{}

// wireLimits checks every request of the ADS streams on the wire
// (checkWire). gRPC refuses a request over MaxRequestBytes on its length
// itself, telling the client in its own words (ResourceExhausted,
// "received message larger than max"); the line logged names
// MaxRequestBytes. A request over a limit ends the stream with the limit's status;
// onLimit is told, with the node id the stream gave, unless the handler
// returned that status itself (then Server.limited has told it).
func wireLimits(onLimit func(peer, nodeID string, err error)) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		fields := sotwWire
		if strings.HasSuffix(info.FullMethod, "/DeltaAggregatedResources") {
			fields = deltaWire
		}
		w := &wireLimitedStream{ServerStream: ss, fields: fields}
		err := handler(srv, w)
		limit, nodeID := w.result()
		if limit == nil {
			return err
		}
		if err != limit {
			onLimit(peerOf(ss.Context()), nodeID, limit)
		}
		return limit
	}
}

// wireLimitedStream receives requests through wireCodec. go-control-plane's
// delta handler calls RecvMsg on a goroutine of its own that it does not
// wait for, which may still be receiving when the handler returns: the
// fields are guarded, and the first limit is the one that counts.
type wireLimitedStream struct {
	grpc.ServerStream
	fields wireFields

	mu     sync.Mutex
	limit  error  // the limit a request went over
	nodeID string // the node id the stream gave
}

// result is the limit a request went over, if any, and the node id.
func (s *wireLimitedStream) result() (limit error, nodeID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.limit, s.nodeID
}

// over records limit, unless one is recorded already, and the node id
// if none is; it returns the limit recorded.
func (s *wireLimitedStream) over(limit error, nodeID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.limit == nil {
		s.limit = limit
	}
	if nodeID != "" && s.nodeID == "" {
		s.nodeID = nodeID
	}
	return s.limit
}

func (s *wireLimitedStream) RecvMsg(m any) error {
	msg, ok := m.(proto.Message)
	if !ok {
		return s.ServerStream.RecvMsg(m)
	}
	w := &wireChecked{msg: msg, fields: s.fields}
	err := s.ServerStream.RecvMsg(w)
	if w.err != nil {
		return s.over(w.err, w.nodeID)
	}
	if err != nil {
		if st := status.Convert(err); st.Code() == codes.ResourceExhausted && strings.Contains(st.Message(), "larger than max") {
			// gRPC's message names its own option; say which of ours.
			return s.over(status.Error(codes.ResourceExhausted, fmt.Sprintf("request over %d bytes (MaxRequestBytes): %s", MaxRequestBytes, st.Message())), "")
		}
		return err
	}
	if n, ok := m.(interface{ GetNode() *core.Node }); ok {
		s.over(nil, n.GetNode().GetId())
	}
	return nil
}
