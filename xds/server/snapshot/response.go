package snapshot

import (
	"sync"

	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// Response is the state-of-the-world DiscoveryResponse carrying the whole
// set, without a nonce, encoded once for every stream it goes to: a stream
// appends its own nonce field (a protobuf message's fields may come in any
// order), so a push to ten thousand proxies marshals nothing and holds one
// copy of the bytes instead of ten thousand.
func (ts *TypeSnapshot) Response() []byte { return ts.wire.encode(ts.TypeURL, ts.Version, ts.all) }

// Response is the subset's DiscoveryResponse, as TypeSnapshot.Response.
func (s *Subset) Response() []byte { return s.wire.encode(s.typeURL, s.Version, s.Resources) }

// wire is an encoded response, made on first use: most subsets are never
// sent by state of the world.
type wire struct {
	once sync.Once
	body []byte
}

func (w *wire) encode(typeURL, version string, resources []*anypb.Any) []byte {
	w.once.Do(func() {
		// Marshalling a message of already-marshalled Anys cannot fail.
		w.body, _ = proto.MarshalOptions{Deterministic: true}.Marshal(&discovery.DiscoveryResponse{
			VersionInfo: version,
			Resources:   resources,
			TypeUrl:     typeURL,
		})
	})
	return w.body
}
