package kubee2e

import (
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/shadowplane/shadowplane/test/kube"
)

// apiOutage is how long the API server is down: the 30 s, longer
// than any client-go backoff step, so the watches must re-list.
const apiOutage = 30 * time.Second

// catchUp bounds the catch-up after it: client-go's reflector backoff
// (at most 60 s) and a margin for a busy machine.
const catchUp = 90 * time.Second

// With the API server stopped for 30 s, serve keeps serving the last
// model, stays healthy, and once the API server is back catches up with
// what changed meanwhile — here, objects created right after the restart,
// which a watch that did not recover would miss.
func TestAPIServerOutage(t *testing.T) {
	t.Parallel()
	c := kube.StartOwn(t)
	a := &api{t: t, client: c.Client, ns: c.Namespace(t)}
	a.service("httpbin-v1")
	a.slice("httpbin-v1", "httpbin-v1-a", endpoint{"192.0.2.1", true})
	a.policy("httpbin", "httpbin.yaml", seed002(a.ns))
	cp := startServe(t, c.Kubeconfig, a.ns)
	cp.waitServed("seed 002, v1 only", func(s *served) bool {
		return slices.Equal(s.endpoints("httpbin_v1"), []string{"192.0.2.1:8080"}) && !s.mirrors()
	})

	c.StopAPIServer(t)
	down := time.Now()
	tick := time.NewTicker(time.Second)
	for time.Since(down) < apiOutage {
		s, err := cp.served()
		if err != nil || !slices.Equal(s.endpoints("httpbin_v1"), []string{"192.0.2.1:8080"}) {
			t.Fatalf("%s into the outage, the last model is not served (err %v)", time.Since(down).Round(time.Second), err)
		}
		resp, err := http.Get(cp.admin + "/healthz")
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("%s into the outage, /healthz: %v %v", time.Since(down).Round(time.Second), resp, err)
		}
		resp.Body.Close()
		<-tick.C
	}
	tick.Stop()
	c.StartAPIServer(t)

	a.service("httpbin-v2")
	a.slice("httpbin-v2", "httpbin-v2-a", endpoint{"192.0.2.2", true})
	a.slice("httpbin-v1", "httpbin-v1-a", endpoint{"192.0.2.1", true}, endpoint{"192.0.2.3", true})
	// client-go's informers retry a failed list or watch with a backoff
	// that reaches [30 s, 60 s) during a 30 s outage (its defaults, which
	// informers do not let a caller change): catching up takes up to that
	// long after the API server is back.
	took := pollWithin(t, catchUp, "caught up: the v2 mirror and v1's new pod", func() bool {
		s, err := cp.served()
		return err == nil && s.mirrors() && slices.Equal(s.endpoints("httpbin_v1"), []string{"192.0.2.1:8080", "192.0.2.3:8080"})
	})
	t.Logf("caught up %s after the API server came back", took)
}
