package server

import (
	"context"
	"fmt"
	"testing"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/shadowplane/shadowplane/policy"
	"github.com/shadowplane/shadowplane/xds"
	"github.com/shadowplane/shadowplane/xds/server/snapshot"
)

// BenchmarkAnalysisStepAckWait measures one analysis step at 10,000
// proxies and 1,000 apps, from the decision to the step counted: a new
// weight for one app is published, every proxy served new routes ACKs
// them, and WaitRoutes returns. The proxies are fed to the registry
// directly, as its stream callbacks would (no gRPC: BenchmarkPush measures
// the wire), so the figure is the model's translation plus the registry's
// bookkeeping and the wait. With groups=10 every app selects one of ten
// clusters, so a step changes one group's routes (1,000 proxies ACK);
// with groups=1 every proxy receives every app, and all 10,000 ACK.
func BenchmarkAnalysisStepAckWait(b *testing.B) {
	for _, groups := range []int{1, 10} {
		b.Run(fmt.Sprintf("proxies=10000/apps=1000/groups=%d", groups), func(b *testing.B) {
			f := newAckFleet(b, 10000, 1000, groups)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				f.step(b, i)
			}
		})
	}
}

// BenchmarkWaitRoutesInSync is the wait alone: WaitRoutes on a fleet of
// 10,000 proxies and 1,000 apps that already holds the current routes,
// which is what each wake-up of a wait costs.
func BenchmarkWaitRoutesInSync(b *testing.B) {
	f := newAckFleet(b, 10000, 1000, 10)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := f.reg.WaitRoutes(ctx, "app-0"); err != nil {
			b.Fatal(err)
		}
	}
}

// ackFleet is a registry fed by simulated Envoys that subscribe to routes
// by name, as Envoy does, and ACK whatever they are sent.
type ackFleet struct {
	cache   *Cache
	reg     *Registry
	groups  int
	weights []uint32
	proxies []ackProxy
	nonce   int
}

type ackProxy struct {
	id    int64
	node  *core.Node
	route string // the route version it holds
}

func newAckFleet(b *testing.B, proxies, apps, groups int) *ackFleet {
	b.Helper()
	f := &ackFleet{cache: NewCache(CacheOptions{}), groups: groups, weights: make([]uint32, apps)}
	for i := range f.weights {
		f.weights[i] = 10
	}
	f.reg = NewRegistry(f.cache, nil)
	gen := snapshot.NewGeneration(f.model())
	if err := f.cache.SetGeneration(gen); err != nil {
		b.Fatal(err)
	}
	for i := 0; i < proxies; i++ {
		p := ackProxy{id: f.reg.newStreamID(), node: &core.Node{Id: fmt.Sprintf("proxy-%d", i), Cluster: fmt.Sprintf("c%d", i%groups), UserAgentName: "envoy"}}
		f.reg.open(p.id, "sotw")
		if err := f.reg.request(p.id, p.node, resourcev3.RouteType, "", "", "", false); err != nil {
			b.Fatal(err)
		}
		f.proxies = append(f.proxies, p)
	}
	if err := f.push(gen); err != nil {
		b.Fatal(err)
	}
	// The first wait indexes the fleet, once; a running server's index
	// is built long before a step.
	if err := f.reg.WaitRoutes(context.Background(), "app-0"); err != nil {
		b.Fatal(err)
	}
	return f
}

// model is apps apps over ten ports, each splitting its traffic between
// two variants; with more than one group, app i selects cluster c(i%groups).
func (f *ackFleet) model() *policy.Model {
	m := &policy.Model{}
	for i, w := range f.weights {
		a := policy.App{
			Kind: policy.KindApp, Name: fmt.Sprintf("app-%d", i), Hosts: []string{fmt.Sprintf("app-%d.example", i)}, Port: 10000 + i%10,
			Variants: []policy.Variant{
				{Name: "v1", Endpoints: []string{"127.0.0.1:9001"}},
				{Name: "v2", Endpoints: []string{"127.0.0.1:9002"}},
			},
			Routes: []policy.Route{{Name: "all", Split: []policy.Backend{{Variant: "v1", Weight: u32(100 - w)}, {Variant: "v2", Weight: u32(w)}}}},
		}
		if f.groups > 1 {
			a.Proxies.Clusters = []string{fmt.Sprintf("c%d", i%f.groups)}
		}
		m.Apps = append(m.Apps, a)
	}
	return m
}

// push sends gen's routes to every proxy whose version they change and
// ACKs them, as the server and the proxies would. Proxies of a group share
// one list of names, as the server's streams do.
func (f *ackFleet) push(gen *snapshot.Generation) error {
	names := map[xds.GroupKey][]string{}
	versions := map[xds.GroupKey]string{}
	for i := range f.proxies {
		p := &f.proxies[i]
		key := gen.Key(p.node)
		if _, ok := names[key]; !ok {
			snap, err := gen.Snapshot(key)
			if err != nil {
				return err
			}
			routes := snap.Type(resourcev3.RouteType)
			names[key] = routes.Names
			versions[key] = routes.SubsetOf(snapshot.NameSetOf(routes.Names)).Version
		}
		v := versions[key]
		if p.route == v {
			continue
		}
		if p.route == "" {
			f.reg.subscribed(p.id, resourcev3.RouteType, names[key], false)
		}
		f.nonce++
		nonce := fmt.Sprint(f.nonce)
		f.reg.sent(p.id, resourcev3.RouteType, v, nonce)
		if err := f.reg.request(p.id, nil, resourcev3.RouteType, nonce, v, "", false); err != nil {
			return err
		}
		p.route = v
	}
	return nil
}

// step is one decision: app i%apps moves its weight, the generation is
// served, proxies ACK while the analysis loop waits.
func (f *ackFleet) step(b *testing.B, i int) {
	app := i % len(f.weights)
	f.weights[app] = 10 + uint32(i%80) + 1
	gen := snapshot.NewGeneration(f.model())
	if err := f.cache.SetGeneration(gen); err != nil {
		b.Fatal(err)
	}
	acked := make(chan error, 1)
	go func() { acked <- f.push(gen) }()
	if err := f.reg.WaitRoutes(context.Background(), fmt.Sprintf("app-%d", app)); err != nil {
		b.Fatal(err)
	}
	if err := <-acked; err != nil {
		b.Fatal(err)
	}
}
