package server

import (
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// Limits on what one xDS stream may make the server hold or do. A stream
// over any of them is closed with codes.ResourceExhausted and a message
// naming the limit; the client may reconnect, and every other stream goes
// on as before.
//
// Each is far above what a real proxy asks for, so that only a broken or
// hostile client meets one: without them a single stream could make the
// server keep whatever it sent (issue 13: 10,000 names under a new type
// URL per request took the server from 236 MB to 2.0 GB in 15 s).
const (
	// MaxRequestsPerSecond bounds the requests one stream may send in a
	// second. Envoy and gRPC send a handful per push (one ACK per type); a
	// stream far beyond that is broken or hostile, and is closed rather
	// than allowed to take the server's time from every other proxy.
	MaxRequestsPerSecond = 500

	// MaxTypesPerStream bounds the distinct type URLs one stream may ask
	// for, in full (two URLs with the same short name count apart). Five
	// are served (snapshot.PushOrder); Envoy may ask for a few more that are
	// not (secrets, for one), and each one asked for is remembered for the
	// stream's life, with its names.
	MaxTypesPerStream = 16

	// MaxNamesPerRequest bounds the resource names in one request: a
	// state-of-the-world request's names, or a delta request's names to
	// subscribe, to unsubscribe and with initial versions, together. The
	// most a proxy asks for at once is every cluster or every endpoint
	// of the model, one per app variant: 20,000 is nearly seven times the
	// 3,000 of the 1,000-app load test (xdsload), and far below the
	// 100,000 per request of the filed attack.
	MaxNamesPerRequest = 20000

	// MaxNamesPerStream bounds the names one stream subscribes to at once,
	// over all its types (in delta, after its subscribes and
	// unsubscribes; in state of the world, each request replacing its
	// type's names). Clusters and endpoints come to two per app variant
	// and routes one per port, some 6,000 at 1,000 apps: 50,000 leaves
	// room for models eight times the largest we test, while a stream can
	// no longer grow its subscriptions a request at a time.
	MaxNamesPerStream = 50000

	// MaxNodeBytes bounds the encoded size (proto.Size) of the node a
	// stream identifies itself with. The stream keeps its node for its
	// life, and may send it again with every request. Envoy's, with the
	// list of its compiled-in extensions, is 11 to 23 KB
	// (envoyproxy/envoy#12138, #15838); gRPC's, with no extensions, far
	// less. 64 KiB leaves room for metadata, while a stream's node no
	// longer costs megabytes (3.9 MB of metadata kept 9.9 MB a stream).
	MaxNodeBytes = 64 << 10
)

var (
	errFlood        = status.Errorf(codes.ResourceExhausted, "more than %d xDS requests in a second on one stream (MaxRequestsPerSecond)", MaxRequestsPerSecond)
	errTooManyTypes = status.Errorf(codes.ResourceExhausted, "more than %d distinct type URLs on one stream (MaxTypesPerStream)", MaxTypesPerStream)
	errNamesPerReq  = status.Errorf(codes.ResourceExhausted, "more than %d resource names in one request (MaxNamesPerRequest)", MaxNamesPerRequest)
	errNamesPerStr  = status.Errorf(codes.ResourceExhausted, "more than %d resource names subscribed on one stream (MaxNamesPerStream)", MaxNamesPerStream)
)

// checkRequest applies the limits that need nothing of the stream's
// state: the size of the node, when the request carries one, and the
// number of names in the request.
func checkRequest(node *core.Node, names int) error {
	if names > MaxNamesPerRequest {
		return errNamesPerReq
	}
	if node != nil {
		if n := proto.Size(node); n > MaxNodeBytes {
			return status.Errorf(codes.ResourceExhausted, "node of %d bytes is over %d (MaxNodeBytes)", n, MaxNodeBytes)
		}
	}
	return nil
}

// checkTotal reports whether a stream that holds held names in other types
// may hold n in one more.
func checkTotal(held, n int) error {
	if held+n > MaxNamesPerStream {
		return errNamesPerStr
	}
	return nil
}
