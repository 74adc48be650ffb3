package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	_ "net/http/pprof"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"sync"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"

	"github.com/shadowplane/shadowplane/policy"
	"github.com/shadowplane/shadowplane/xds"
	"github.com/shadowplane/shadowplane/xds/server"
	"github.com/shadowplane/shadowplane/xds/server/snapshot"
)

// runServer is the child process: an xDS server, ours or the baseline,
// serving the load-test policy, with a small HTTP control endpoint that
// applies a change in-process — the way the analysis loop applies a
// decision — so that only the push path is measured.
//
// It prints "xds=<addr> control=<addr>" on its first line of stdout.
func runServer(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("xdsload serve", flag.ContinueOnError)
	impl := fs.String("impl", "ours", "ours or baseline")
	apps := fs.Int("apps", 10, "apps in the policy")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile to `FILE` until the server stops")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *cpuprofile != "" {
		stop, err := cpuProfile(*cpuprofile)
		if err != nil {
			return err
		}
		defer stop()
	}
	var apply func(edit int) error
	var srv *grpc.Server
	switch *impl {
	case "ours":
		apply, srv = oursServer(ctx, *apps)
	case "baseline":
		apply, srv = baselineServer(ctx, *apps)
	default:
		return fmt.Errorf("unknown -impl %q", *impl)
	}
	if err := apply(0); err != nil {
		return err
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	ctl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	var mu sync.Mutex
	edit := 0
	mux := http.NewServeMux()
	mux.HandleFunc("POST /change", func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		edit++
		if err := apply(edit); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
	mux.Handle("/debug/pprof/", http.DefaultServeMux) // net/http/pprof
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, _ *http.Request) {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		json.NewEncoder(w).Encode(map[string]uint64{
			"goroutines": uint64(runtime.NumGoroutine()),
			"heapAlloc":  ms.HeapAlloc, "heapInuse": ms.HeapInuse, "heapIdle": ms.HeapIdle, "heapReleased": ms.HeapReleased,
			"stackInuse": ms.StackInuse, "sys": ms.Sys,
			"totalAlloc": ms.TotalAlloc, "numGC": uint64(ms.NumGC),
		})
	})
	go http.Serve(ctl, mux)
	go func() {
		<-ctx.Done()
		srv.Stop()
	}()
	fmt.Printf("xds=%s control=%s\n", lis.Addr(), ctl.Addr())
	err = srv.Serve(lis)
	if ctx.Err() != nil {
		return nil // stopped on purpose
	}
	return err
}

// loadModel is the load-test policy at edit 0, decoded and validated as
// shadowplane serve would.
func loadModel(apps int) (*policy.Model, error) {
	f, problems := policy.ParseFile("load.yaml", policyYAML(apps, 0))
	if len(problems) > 0 {
		return nil, policy.JoinProblems(problems)
	}
	m, problems := policy.Assemble([]policy.File{f})
	if len(problems) > 0 {
		return nil, policy.JoinProblems(problems)
	}
	return m, nil
}

// edited is base with the weights policyYAML gives edit, changed in memory
// the way the analysis loop changes weights: a decision is not a file.
func edited(base *policy.Model, edit int) *policy.Model {
	m := *base
	m.Apps = slices.Clone(base.Apps)
	for i := range m.Apps {
		a := &m.Apps[i]
		a.Routes = slices.Clone(a.Routes)
		w2 := uint32((edit + i) % 100)
		for j := range a.Routes {
			r := &a.Routes[j]
			r.Split = slices.Clone(r.Split)
			w1 := 100 - w2
			r.Split[0].Weight, r.Split[1].Weight = &w1, &w2
		}
	}
	return &m
}

// oursServer is shadowplane's cache and server, as `shadowplane serve`
// wires them.
func oursServer(ctx context.Context, apps int) (func(int) error, *grpc.Server) {
	c := server.NewCache(server.CacheOptions{})
	s := server.New(ctx, c, server.NewRegistry(c, nil), server.Options{MaxConcurrentStreams: 1 << 20})
	base, err := loadModel(apps)
	apply := func(edit int) error {
		if err != nil {
			return err
		}
		return c.SetGeneration(snapshot.NewGeneration(edited(base, edit)))
	}
	return apply, s.GRPC()
}

// allNodes puts every node in one group: one snapshot shared by the proxy
// group, as the baseline measured in XDS-FACTS.md was set up.
type allNodes struct{}

func (allNodes) ID(*core.Node) string { return "all" }

// baselineServer is a plain go-control-plane server set up the way its
// documentation and example show: a SnapshotCache in ADS mode,
// cache.NewSnapshot with one version for every type, SetSnapshot per
// change, the example's gRPC options.
func baselineServer(ctx context.Context, apps int) (func(int) error, *grpc.Server) {
	snapshots := cachev3.NewSnapshotCache(true, allNodes{}, nil)
	xs := serverv3.NewServer(ctx, snapshots, nil)
	gs := grpc.NewServer(
		grpc.MaxConcurrentStreams(1000000),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: 30 * time.Second, Timeout: 5 * time.Second}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 30 * time.Second, PermitWithoutStream: true}),
	)
	discovery.RegisterAggregatedDiscoveryServiceServer(gs, xs)
	base, err := loadModel(apps)
	apply := func(edit int) error {
		if err != nil {
			return err
		}
		res, err := xds.Translate(edited(base, edit).Apps, xds.Envoy)
		if err != nil {
			return err
		}
		snap, err := cachev3.NewSnapshot(strconv.Itoa(edit), map[resourcev3.Type][]types.Resource{
			resourcev3.ClusterType:  resources(res.Clusters),
			resourcev3.EndpointType: resources(res.Endpoints),
			resourcev3.ListenerType: resources(res.Listeners),
			resourcev3.RouteType:    resources(res.Routes),
			resourcev3.RuntimeType:  resources(res.Runtimes),
		})
		if err != nil {
			return err
		}
		return snapshots.SetSnapshot(ctx, "all", snap)
	}
	return apply, gs
}

func resources[T types.Resource](in []T) []types.Resource {
	out := make([]types.Resource, len(in))
	for i, r := range in {
		out[i] = r
	}
	return out
}

// cpuProfile profiles this process into path until stop is called.
func cpuProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
