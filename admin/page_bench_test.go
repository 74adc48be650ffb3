package admin

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"

	"github.com/shadowplane/shadowplane/xds/server"
)

// fixedProxies is a registry's view that always shows the same proxies.
type fixedProxies []server.Proxy

func (p fixedProxies) Proxies() []server.Proxy      { return p }
func (fixedProxies) Node(string) (*core.Node, bool) { return nil, false }

// envoyProxies are n proxies each with the four Envoy types sent and
// ACKed, as a registry shows them: the bytes of a real answer.
func envoyProxies(n int) fixedProxies {
	now := time.Now()
	out := make(fixedProxies, n)
	for i := range out {
		types := map[string]*server.TypeStatus{}
		for _, ty := range []string{"CDS", "EDS", "LDS", "RDS"} {
			types[ty] = &server.TypeStatus{SentVersion: "v42", SentNonce: "17", SentAt: now, AckedVersion: "v42", AckedAt: now, Pushes: 3}
		}
		out[i] = server.Proxy{StreamID: int64(i + 1), NodeID: fmt.Sprintf("front-proxy-%05d", i), Cluster: "front-proxy",
			Kind: "envoy", Group: "envoy/front-proxy", Protocol: "sotw", ConnectedAt: now, Types: types}
	}
	return out
}

// BenchmarkProxiesAnswer: one GET /api/v1/proxies with 10,000 proxies
// connected: the default page, the largest page, and (limit=10000 is
// refused) what the whole list cost before pages, as two largest pages.
func BenchmarkProxiesAnswer(b *testing.B) {
	h := NewHandler(Config{Proxies: envoyProxies(10_000)})
	for _, c := range []struct{ name, query string }{
		{"page=default", ""},
		{"page=5000", "?limit=5000"},
	} {
		b.Run(c.name, func(b *testing.B) {
			var size int
			for b.Loop() {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "http://127.0.0.1/api/v1/proxies"+c.query, nil))
				if w.Code != http.StatusOK {
					b.Fatalf("status %d", w.Code)
				}
				size = w.Body.Len()
			}
			b.ReportMetric(float64(size), "bytes/answer")
		})
	}
}
