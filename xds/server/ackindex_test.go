package server

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"testing/synctest"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/shadowplane/shadowplane/policy"
	"github.com/shadowplane/shadowplane/xds"
	"github.com/shadowplane/shadowplane/xds/server/snapshot"
)

// These tests feed the registry as its stream callbacks do, without gRPC,
// so that every step is ordered by the test; a wait in progress is
// observed blocked with synctest.Wait, not by sleeping.

// twoApps is web for every proxy, at w2, and api, at a2, for the proxies
// of the clusters listed (every proxy if none).
func twoApps(w2, a2 uint32, apiClusters ...string) *policy.Model {
	m := model(w2, 40)
	api := model(a2, 40).Apps[0]
	api.Name, api.Hosts, api.Port = "api", []string{"api.example"}, 10001
	api.Proxies.Clusters = apiClusters
	m.Apps = append(m.Apps, api)
	return m
}

// fakeProxy is one stream of a simulated Envoy, subscribing to route
// configurations by name.
type fakeProxy struct {
	t     *testing.T
	r     *Registry
	id    int64
	node  *core.Node
	nonce int
}

func connectProxy(t *testing.T, r *Registry, id, cluster string) *fakeProxy {
	t.Helper()
	p := &fakeProxy{t: t, r: r, id: r.newStreamID(), node: &core.Node{Id: id, Cluster: cluster, UserAgentName: "envoy"}}
	r.open(p.id, "sotw")
	if err := r.request(p.id, p.node, resourcev3.RouteType, "", "", "", false); err != nil {
		t.Fatal(err)
	}
	r.subscribed(p.id, resourcev3.RouteType, []string{"http_10000", "http_10001"}, false)
	return p
}

// version is the route version gen serves p.
func (p *fakeProxy) version(gen *snapshot.Generation) string {
	p.t.Helper()
	snap, err := gen.Snapshot(gen.Key(p.node))
	if err != nil {
		p.t.Fatal(err)
	}
	return snap.Type(resourcev3.RouteType).SubsetOf(snapshot.NameSetOf([]string{"http_10000", "http_10001"})).Version
}

// send records gen's routes sent to p, and returns the nonce.
func (p *fakeProxy) send(gen *snapshot.Generation) string {
	p.nonce++
	nonce := fmt.Sprintf("%d-%d", p.id, p.nonce)
	p.r.sent(p.id, resourcev3.RouteType, p.version(gen), nonce)
	return nonce
}

func (p *fakeProxy) ack(gen *snapshot.Generation, nonce string) {
	p.t.Helper()
	if err := p.r.request(p.id, nil, resourcev3.RouteType, nonce, p.version(gen), "", false); err != nil {
		p.t.Fatal(err)
	}
}

func (p *fakeProxy) nack(nonce, detail string) {
	p.t.Helper()
	if err := p.r.request(p.id, nil, resourcev3.RouteType, nonce, "old", detail, true); err != nil {
		p.t.Fatal(err)
	}
}

func (p *fakeProxy) sync(gen *snapshot.Generation) { p.ack(gen, p.send(gen)) }

// serve makes m the cache's generation.
func serve(t *testing.T, c *Cache, m *policy.Model) *snapshot.Generation {
	t.Helper()
	gen := snapshot.NewGeneration(m)
	if err := c.SetGeneration(gen); err != nil {
		t.Fatal(err)
	}
	return gen
}

// startWait runs WaitRoutes(app) and returns its result channel once the
// wait is blocked (or done).
func startWait(r *Registry, app string) chan error {
	done := make(chan error, 1)
	go func() { done <- r.WaitRoutes(context.Background(), app) }()
	synctest.Wait()
	return done
}

func mustBlock(t *testing.T, done chan error, what string) {
	t.Helper()
	select {
	case err := <-done:
		t.Fatalf("%s: WaitRoutes returned %v, want it waiting", what, err)
	default:
	}
}

func mustReturn(t *testing.T, done chan error, what string) error {
	t.Helper()
	synctest.Wait()
	select {
	case err := <-done:
		return err
	default:
		t.Fatalf("%s: WaitRoutes still waiting", what)
		return nil
	}
}

// A proxy that stops needing the routes mid-wait is no longer waited for:
// it disconnects, or lets go of every route configuration (an empty list
// after naming some, as gRPC clients do when an app goes; read as a
// wildcard, it held re-adding an app for the whole stage wait).
func TestWaitRoutesProxyGoneMidWait(t *testing.T) {
	for name, leave := range map[string]func(r *Registry, id int64){
		"disconnected":          func(r *Registry, id int64) { r.close(id) },
		"subscribed to nothing": func(r *Registry, id int64) { r.subscribed(id, resourcev3.RouteType, []string{}, true) },
	} {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c := NewCache(CacheOptions{})
				r := NewRegistry(c, nil)
				gen := serve(t, c, twoApps(20, 20))
				a, b := connectProxy(t, r, "a", "east"), connectProxy(t, r, "b", "east")
				a.sync(gen)
				b.sync(gen)

				gen = serve(t, c, twoApps(30, 20))
				na, _ := a.send(gen), b.send(gen)
				done := startWait(r, "web")
				mustBlock(t, done, "neither ACKed")
				a.ack(gen, na)
				synctest.Wait()
				mustBlock(t, done, "b has not ACKed")
				leave(r, b.id)
				if err := mustReturn(t, done, "b "+name); err != nil {
					t.Fatal(err)
				}
			})
		})
	}
}

func TestWaitRoutesNackMidWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := NewCache(CacheOptions{})
		r := NewRegistry(c, nil)
		gen := serve(t, c, twoApps(20, 20))
		a := connectProxy(t, r, "a", "east")
		a.sync(gen)

		gen = serve(t, c, twoApps(30, 20))
		n := a.send(gen)
		done := startWait(r, "web")
		mustBlock(t, done, "not ACKed")
		a.nack(n, " weights out of range ")
		err := mustReturn(t, done, "NACKed")
		var rej *RejectedError
		if !errors.As(err, &rej) || rej.Proxy != "a" || rej.Detail != "weights out of range" || rej.Version != a.version(gen) {
			t.Fatalf("WaitRoutes = %v, want a's rejection of %s", err, a.version(gen))
		}

		// Sent again and ACKed: the rejection is no longer the latest word.
		a.sync(gen)
		if err := mustReturn(t, startWait(r, "web"), "ACKed after the NACK"); err != nil {
			t.Fatal(err)
		}
		// The proxy receives api too, so rejecting api's step (in the
		// one route version it holds) fails a wait on api.
		gen = serve(t, c, twoApps(30, 40))
		n = a.send(gen)
		a.nack(n, "no")
		if err := mustReturn(t, startWait(r, "api"), "api NACKed"); !errors.As(err, &rej) {
			t.Fatalf("WaitRoutes(api) = %v, want a rejection", err)
		}
	})
}

// A model that selects a proxy's cluster moves the proxy to a group of
// its own; the wait follows it there.
func TestWaitRoutesProxyChangesGroup(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := NewCache(CacheOptions{})
		r := NewRegistry(c, nil)
		gen := serve(t, c, twoApps(20, 20, "east"))
		east, west := connectProxy(t, r, "e", "east"), connectProxy(t, r, "w", "west")
		east.sync(gen)
		west.sync(gen)
		if err := mustReturn(t, startWait(r, "api"), "in sync"); err != nil {
			t.Fatal(err)
		}
		if got := r.groups(gen); len(got) != 2 {
			t.Fatalf("groups = %v, want envoy and envoy/cluster=east", got)
		}

		// api now goes to west too, with a new weight.
		gen = serve(t, c, twoApps(20, 30, "east", "west"))
		ne, nw := east.send(gen), west.send(gen)
		done := startWait(r, "api")
		east.ack(gen, ne)
		synctest.Wait()
		mustBlock(t, done, "west, newly given api, has not ACKed")
		west.ack(gen, nw)
		if err := mustReturn(t, done, "both ACKed"); err != nil {
			t.Fatal(err)
		}
		if got := r.groups(gen); len(got) != 2 || !slices.Contains(got, (xds.GroupKey{Cluster: "west"})) {
			t.Fatalf("groups = %v, want envoy/cluster=east and envoy/cluster=west", got)
		}

		// And back: west no longer receives api, so a step of api does not
		// wait for it.
		gen = serve(t, c, twoApps(20, 40, "east"))
		east.sync(gen)
		west.send(gen)
		if err := mustReturn(t, startWait(r, "api"), "west left api"); err != nil {
			t.Fatal(err)
		}
		done = startWait(r, "web")
		mustBlock(t, done, "west still owes web's routes")
		west.sync(gen)
		if err := mustReturn(t, done, "west ACKed"); err != nil {
			t.Fatal(err)
		}
	})
}

// A proxy that reconnects tells the version it held in a request with no
// nonce, which is not an ACK: it is waited for until it ACKs what it is
// sent.
func TestWaitRoutesReconnectWithOldVersion(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := NewCache(CacheOptions{})
		r := NewRegistry(c, nil)
		old := serve(t, c, twoApps(20, 20))
		a := connectProxy(t, r, "a", "east")
		a.sync(old)

		gen := serve(t, c, twoApps(30, 20))
		a.send(gen)
		done := startWait(r, "web")
		r.close(a.id)
		if err := mustReturn(t, done, "the only proxy left"); err != nil {
			t.Fatal(err)
		}

		again := connectProxy(t, r, "a", "east")
		if err := r.request(again.id, nil, resourcev3.RouteType, "", again.version(old), "", false); err != nil {
			t.Fatal(err)
		}
		if err := mustReturn(t, startWait(r, "web"), "reconnected, sent nothing yet"); err != nil {
			t.Fatal(err)
		}
		n := again.send(gen)
		done = startWait(r, "web")
		mustBlock(t, done, "reconnected with the old version")
		again.ack(gen, n)
		if err := mustReturn(t, done, "ACKed"); err != nil {
			t.Fatal(err)
		}
	})
}

// The counters answer what a scan of every proxy answered, through a
// random history of connections, subscriptions, pushes, ACKs, NACKs,
// disconnections and models that regroup proxies.
func TestAckIndexAgreesWithAScan(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 10))
	c := NewCache(CacheOptions{})
	r := NewRegistry(c, nil)
	models := []func() *policy.Model{
		func() *policy.Model { return twoApps(uint32(rng.IntN(100)), 20) },
		func() *policy.Model { return twoApps(20, uint32(rng.IntN(100)), "east") },
		func() *policy.Model { return twoApps(20, uint32(rng.IntN(100)), "east", "west") },
	}
	gen := serve(t, c, models[0]())
	prev := gen
	subs := [][]string{nil, {"http_10000"}, {"http_10000", "http_10001"}, {"*"}}
	type stream struct {
		id    int64
		node  *core.Node
		nonce string
		names []string
	}
	var live []*stream
	// One wait per app lives through the history, as a long wait does,
	// so that counting only the groups that changed is what is checked;
	// a fresh one recounts everything.
	long := map[string]*waiter{"web": r.newWaiter(), "api": r.newWaiter()}
	// The history must reach the cases that matter, or it checks little.
	var waited, rejected, scanned int
	for step := 0; step < 3000; step++ {
		switch op := rng.IntN(10); {
		case op == 0 || len(live) == 0:
			s := &stream{id: r.newStreamID(), node: &core.Node{Id: fmt.Sprint("p", rng.IntN(20)), Cluster: []string{"east", "west", "north"}[rng.IntN(3)], UserAgentName: "envoy"}}
			r.open(s.id, "sotw")
			if rng.IntN(4) > 0 { // some never tell their node
				r.request(s.id, s.node, resourcev3.RouteType, "", "", "", false)
			}
			live = append(live, s)
		case op == 1:
			i := rng.IntN(len(live))
			r.close(live[i].id)
			live = slices.Delete(live, i, i+1)
		case op == 2:
			prev = gen
			gen = serve(t, c, models[rng.IntN(len(models))]())
		case op == 3:
			s := live[rng.IntN(len(live))]
			s.names = subs[rng.IntN(len(subs))]
			r.subscribed(s.id, resourcev3.RouteType, s.names, false)
		case op <= 6:
			s := live[rng.IntN(len(live))]
			snap, err := gen.Snapshot(gen.Key(s.node))
			if err != nil {
				t.Fatal(err)
			}
			s.nonce = fmt.Sprint("n", step)
			v := snap.Type(resourcev3.RouteType).Version
			if rng.IntN(2) == 0 {
				v = fmt.Sprint("stale", rng.IntN(3))
			}
			r.sent(s.id, resourcev3.RouteType, v, s.nonce)
		default:
			s := live[rng.IntN(len(live))]
			r.request(s.id, nil, resourcev3.RouteType, s.nonce, "", "bad", op == 7)
		}
		for _, app := range []string{"web", "api"} {
			want, wantErr := scanPending(r, gen, app)
			r.mu.Lock()
			fresh := r.newWaiterLocked()
			got, err := r.countLocked(fresh, gen, gen, servesApp(gen, app), true, resourcev3.RouteType)
			r.forgetLocked(fresh)
			gotLong, errLong := r.countLocked(long[app], gen, gen, servesApp(gen, app), true, resourcev3.RouteType)
			r.mu.Unlock()
			if (err != nil) != (wantErr != nil) || err == nil && got != want {
				t.Fatalf("step %d, %s: counters say %d, %v; a scan says %d, %v", step, app, got, err, want, wantErr)
			}
			if (errLong != nil) != (wantErr != nil) || errLong == nil && gotLong != want {
				t.Fatalf("step %d, %s: a long wait's counters say %d, %v; a scan says %d, %v", step, app, gotLong, errLong, want, wantErr)
			}
			// A wait on the generation before, which may group otherwise
			// than the one served: scanned, without moving the index.
			if want > 0 {
				waited++
			}
			if wantErr != nil {
				rejected++
			}
			if !sameGrouping(prev, gen) {
				scanned++
			}
			wantPrev, wantPrevErr := scanPending(r, prev, app)
			r.mu.Lock()
			stale := r.newWaiterLocked()
			indexed := r.acks.gen
			gotPrev, errPrev := r.countLocked(stale, prev, gen, servesApp(prev, app), true, resourcev3.RouteType)
			r.forgetLocked(stale)
			moved := r.acks.gen != indexed && !sameGrouping(r.acks.gen, gen)
			r.mu.Unlock()
			if (errPrev != nil) != (wantPrevErr != nil) || errPrev == nil && gotPrev != wantPrev {
				t.Fatalf("step %d, %s, the generation before: counters say %d, %v; a scan says %d, %v", step, app, gotPrev, errPrev, wantPrev, wantPrevErr)
			}
			if moved {
				t.Fatalf("step %d: a wait on a generation no longer served regrouped the index", step)
			}
		}
	}
	if waited == 0 || rejected == 0 || scanned == 0 {
		t.Fatalf("the history never had proxies pending (%d), a rejection (%d) or a regrouping (%d)", waited, rejected, scanned)
	}
	t.Logf("counts with proxies pending: %d, with a rejection: %d, across a regrouping: %d", waited, rejected, scanned)
}

// scanPending is WaitRoutes's count as it was before the index: every
// proxy, against every app.
func scanPending(r *Registry, gen *snapshot.Generation, app string) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	pending := 0
	for _, p := range r.streams {
		ts, ok := p.Types[shortType(resourcev3.RouteType)]
		if p.Kind == "" || !ok || ts.SentNonce == "" {
			continue
		}
		key := gen.Key(p.node())
		if !slices.ContainsFunc(xds.AppsFor(gen.Model.Apps, key), func(a policy.App) bool { return a.Name == app }) {
			continue
		}
		snap, err := gen.Snapshot(key)
		if err != nil {
			return 0, err
		}
		want := snap.Type(resourcev3.RouteType).Version
		if len(ts.Names) > 0 && !slices.Contains(ts.Names, "*") {
			want = snap.Type(resourcev3.RouteType).SubsetOf(snapshot.NameSetOf(ts.Names)).Version
		}
		if ts.AckedVersion == want {
			continue
		}
		if ts.LastNack != nil && ts.LastNack.Version == want {
			return 0, &RejectedError{Proxy: p.NodeID, Version: want, Detail: strings.TrimSpace(ts.LastNack.Error)}
		}
		pending++
	}
	return pending, nil
}
