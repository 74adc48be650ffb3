package kubee2e

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/shadowplane/shadowplane/test/kube"
	"github.com/shadowplane/shadowplane/test/serveproc"
	"github.com/shadowplane/shadowplane/test/simproxy"
)

// Scale of the churn harness (issue 11 item 6): services × pods endpoints,
// changed at rate a second for churnFor, watched by proxies simulated
// Envoys, one of which times each change.
const (
	scaleServices = 100
	scalePods     = 100
	scaleRate     = 50
	churnFor      = 20 * time.Second
	scaleProxies  = 20
)

// TestScaleEndpointChurn measures, through a real kube-apiserver, what an
// EndpointSlice change costs serve (CPU per change) and how long it takes
// to reach a proxy, with 10,000 endpoints churning at 50 changes a
// second. A harness, not a check: it runs with SHADOWPLANE_K8S_SCALE=1
// (make bench-k8s) and logs the figures for docs/performance.md.
func TestScaleEndpointChurn(t *testing.T) {
	if os.Getenv("SHADOWPLANE_K8S_SCALE") == "" {
		t.Skip("a harness: run with SHADOWPLANE_K8S_SCALE=1 (make bench-k8s)")
	}
	c := kube.Start(t)
	a := &api{t: t, client: c.Client, ns: c.Namespace(t)}
	ip := func(svc, pod, gen int) string { return fmt.Sprintf("10.%d.%d.%d", svc, gen%250, pod+1) }
	var policy strings.Builder
	for s := range scaleServices {
		name := fmt.Sprintf("svc-%03d", s)
		a.service(name)
		eps := make([]endpoint, scalePods)
		for p := range eps {
			eps[p] = endpoint{ip(s, p, 0), true}
		}
		a.slice(name, name+"-a", eps...)
		fmt.Fprintf(&policy, "---\nkind: App\nname: app-%03d\nport: %d\nvariants: [{name: v1, service: {name: %s, namespace: %s, port: http}}]\nroutes: [{split: [{variant: v1}]}]\n", s, 10000+s%10, name, a.ns)
	}
	a.policy("apps", "apps.yaml", policy.String())

	ctx, cancel := context.WithCancel(context.Background())
	p, err := serveproc.Start(ctx, binary, t.TempDir(), nil, "--kubeconfig", c.Kubeconfig, "--k8s-watch-namespace", a.ns)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		p.Wait()
	})
	conn, err := grpc.NewClient(p.XDS, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	// The timing proxy notes when each address first reaches it.
	var mu sync.Mutex
	seen := map[string]time.Time{}
	total := 0
	timing := func(r *discovery.DiscoveryResponse, at time.Time) {
		if r.TypeUrl != resourcev3.EndpointType {
			return
		}
		n := 0
		mu.Lock()
		defer mu.Unlock()
		for _, res := range r.Resources {
			cla := &endpointv3.ClusterLoadAssignment{}
			if res.UnmarshalTo(cla) != nil {
				continue
			}
			for _, loc := range cla.Endpoints {
				for _, lb := range loc.LbEndpoints {
					addr := lb.GetEndpoint().GetAddress().GetSocketAddress().GetAddress()
					if _, ok := seen[addr]; !ok {
						seen[addr] = at
					}
					n++
				}
			}
		}
		total = n
	}
	for i := range scaleProxies {
		cfg := simproxy.Config{Conn: conn, Node: &core.Node{Id: fmt.Sprintf("envoy-%d", i), Cluster: "edge", UserAgentName: "envoy"}}
		if i == 0 {
			cfg.OnResponse = timing
		}
		go simproxy.Run(ctx, cfg)
	}
	poll(t, "all endpoints at the timing proxy", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return total == scaleServices*scalePods
	})

	cpu0, _ := p.CPU()
	changed := map[string]time.Time{}
	gen := make([]int, scaleServices)
	tick := time.NewTicker(time.Second / scaleRate)
	start := time.Now()
	changes := 0
	for time.Since(start) < churnFor {
		<-tick.C
		s := changes % scaleServices
		gen[s]++
		name := fmt.Sprintf("svc-%03d", s)
		// One pod replaced by a new one (a rollout's step): one address
		// gone, one new.
		pod := gen[s] % scalePods
		eps := make([]endpoint, scalePods)
		for p := range eps {
			g := 0
			if p == pod {
				g = gen[s]
			}
			eps[p] = endpoint{ip(s, p, g), true}
		}
		at := time.Now()
		a.slice(name, name+"-a", eps...)
		changed[ip(s, pod, gen[s])] = at
		changes++
	}
	tick.Stop()
	elapsed := time.Since(start)
	var lat []time.Duration
	poll(t, "every change at the timing proxy", func() bool {
		mu.Lock()
		defer mu.Unlock()
		lat = lat[:0]
		for addr, at := range changed {
			got, ok := seen[addr]
			if !ok {
				return false
			}
			lat = append(lat, got.Sub(at))
		}
		return true
	})
	cpu1, _ := p.CPU()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	q := func(f float64) time.Duration {
		return lat[min(len(lat)-1, int(f*float64(len(lat))))].Round(time.Millisecond)
	}
	rss, _ := p.RSS()
	t.Logf("%d endpoints in %d Services, %d proxies; %d changes in %s (%.0f/s)", scaleServices*scalePods, scaleServices, scaleProxies, changes, elapsed.Round(time.Millisecond), float64(changes)/elapsed.Seconds())
	t.Logf("serve CPU %s over the churn: %.1f ms per change; RSS %d MiB", (cpu1 - cpu0).Round(time.Millisecond), float64((cpu1-cpu0).Microseconds())/1000/float64(changes), rss>>20)
	t.Logf("EndpointSlice update → proxy has the new address: p50 %s, p90 %s, p99 %s, max %s", q(0.5), q(0.9), q(0.99), lat[len(lat)-1].Round(time.Millisecond))
}
