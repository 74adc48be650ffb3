package server

import (
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
)

// encodedResponse is a state-of-the-world response whose body was encoded
// once for every stream of its group (snapshot.TypeSnapshot.Response); only the
// nonce is this stream's.
type encodedResponse struct {
	body  []byte
	nonce string
}

// nonceField is the DiscoveryResponse field number of the nonce.
var nonceField = protowire.Number((&discovery.DiscoveryResponse{}).ProtoReflect().Descriptor().Fields().ByName("nonce").Number())

// codec is gRPC's protobuf codec, except that an encodedResponse goes out
// as its shared body followed by its nonce field: no marshalling, and no
// copy of the body per stream — gRPC writes from the shared bytes.
type codec struct{ proto encoding.CodecV2 }

func newCodec() codec { return codec{proto: encoding.GetCodecV2(proto.Name)} }

func (c codec) Marshal(v any) (mem.BufferSlice, error) {
	if r, ok := v.(*encodedResponse); ok {
		tail := protowire.AppendString(protowire.AppendTag(nil, nonceField, protowire.BytesType), r.nonce)
		return mem.BufferSlice{mem.SliceBuffer(r.body), mem.SliceBuffer(tail)}, nil
	}
	return c.proto.Marshal(v)
}

func (c codec) Unmarshal(data mem.BufferSlice, v any) error { return c.proto.Unmarshal(data, v) }

func (c codec) Name() string { return proto.Name }
