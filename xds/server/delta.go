package server

import (
	"context"
	"sort"

	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/v3"
)

// CreateDeltaWatch answers an incremental request with the resources whose
// version differs from what the client holds, and the names it holds that
// are gone. A NACK needs no special case here: the server records what it
// sent, so the rejected resources show no difference and are not resent.
func (c *Cache) CreateDeltaWatch(req *cache.DeltaRequest, sub cache.Subscription, ch chan cache.DeltaResponse) (func(), error) {
	w := &deltaWatch{req: req, sub: sub, ch: ch, overflow: c.overflow}
	cancel, send := open(c, c.deltas, req.GetTypeUrl(), w, c.respondDelta)
	if send != nil {
		// Answered at once, on the stream's own goroutine, which has just
		// emptied the channel.
		send.write(false)
	}
	return func() {
		cancel()
		w.cancel()
	}, nil
}

// respondDelta builds w's response, or reports there is nothing to send.
// Called with c.mu.
func (c *Cache) respondDelta(w *deltaWatch) (cache.DeltaResponse, bool) {
	ts := c.typeSnapshot(w.req.GetNode(), w.req.GetTypeUrl())
	if ts == nil {
		return nil, false
	}
	known := w.sub.ReturnedResources()
	wanted := func(name string) bool {
		if w.sub.IsWildcard() {
			return true
		}
		_, ok := w.sub.SubscribedResources()[name]
		return ok
	}

	// The system version is informational in delta xDS; shadowplane
	// makes it the version of what the stream subscribes to, as in state
	// of the world, so that a step can be checked against what each
	// stream holds (Registry.WaitRoutes).
	version := ts.Version
	if !w.sub.IsWildcard() {
		version = ts.Subset(w.sub.SubscribedResources()).Version
	}
	r := &deltaResponse{req: w.req, version: version, next: make(map[string]string, len(known))}
	for name, v := range known {
		r.next[name] = v
	}
	for _, name := range ts.Names {
		it := ts.Items[name]
		if !wanted(name) || known[name] == it.Version {
			continue
		}
		r.resources = append(r.resources, it.Delta)
		r.next[name] = it.Version
	}
	for name := range known {
		if _, ok := ts.Items[name]; ok && wanted(name) {
			continue
		}
		r.removed = append(r.removed, name)
		delete(r.next, name)
	}
	sort.Strings(r.removed)

	// A fresh subscription is answered even when empty: Envoy finishes
	// its initial fetch of a type only on a response.
	fresh := w.req.GetResponseNonce() == "" && len(known) == 0
	if len(r.resources) == 0 && len(r.removed) == 0 && !fresh {
		return nil, false
	}
	return r, true
}

type deltaResponse struct {
	req       *cache.DeltaRequest
	version   string
	resources []*discovery.Resource
	removed   []string
	next      map[string]string
}

var _ cache.DeltaResponse = (*deltaResponse)(nil)

func (r *deltaResponse) GetDeltaDiscoveryResponse() (*discovery.DeltaDiscoveryResponse, error) {
	return &discovery.DeltaDiscoveryResponse{
		SystemVersionInfo: r.version,
		Resources:         r.resources,
		RemovedResources:  r.removed,
		TypeUrl:           r.req.GetTypeUrl(),
	}, nil
}
func (r *deltaResponse) GetDeltaRequest() *discovery.DeltaDiscoveryRequest { return r.req }
func (r *deltaResponse) GetSystemVersion() (string, error)                 { return r.version, nil }
func (r *deltaResponse) GetResponseVersion() string                        { return r.version }
func (r *deltaResponse) GetNextVersionMap() map[string]string              { return r.next }
func (r *deltaResponse) GetReturnedResources() map[string]string           { return r.next }
func (r *deltaResponse) GetContext() context.Context                       { return context.Background() }
