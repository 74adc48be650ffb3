package e2e

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shadowplane/shadowplane/admin"
	"github.com/shadowplane/shadowplane/admin/api"
	"github.com/shadowplane/shadowplane/policy"
	"github.com/shadowplane/shadowplane/test/grpcxds"
	"github.com/shadowplane/shadowplane/xds/server"
	"github.com/shadowplane/shadowplane/xds/server/snapshot"
)

func u32(v uint32) *uint32 { return &v }

func greeter(v1, v2 *grpcxds.Backend, w1, w2 uint32) *policy.Model {
	return &policy.Model{Apps: []policy.App{{
		Kind: policy.KindApp, Name: "greeter", Hosts: []string{"greeter.test"},
		Variants: []policy.Variant{
			{Name: "v1", Endpoints: []string{v1.Addr}},
			{Name: "v2", Endpoints: []string{v2.Addr}},
		},
		Routes: []policy.Route{{
			Name:  "all",
			Split: []policy.Backend{{Variant: "v1", Weight: u32(w1)}, {Variant: "v2", Weight: u32(w2)}},
		}},
	}}}
}

// TestGRPCClientNackIsVisibleAndNotResent serves a real gRPC-Go xDS client
// a route it rejects — weights that sum to zero, which policy validation
// would refuse, so the model is handed to the cache in process — and checks
// through the admin API that the NACK and its error text are recorded, that
// the route is not sent again, and that the client keeps routing on its
// last good configuration.
func TestGRPCClientNackIsVisibleAndNotResent(t *testing.T) {
	v1, v2 := grpcxds.StartBackend(t, "v1"), grpcxds.StartBackend(t, "v2")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := server.NewCache(server.CacheOptions{})
	if err := c.SetGeneration(snapshot.NewGeneration(greeter(v1, v2, 100, 0))); err != nil {
		t.Fatal(err)
	}
	reg := server.NewRegistry(c, nil)
	adminSrv := httptest.NewServer(admin.NewHandler(admin.Config{
		Proxies: reg, Snapshots: c, Ready: func() bool { return true }, Gatherer: prometheus.NewRegistry(),
	}))
	defer adminSrv.Close()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go server.New(ctx, c, reg, server.Options{}).Serve(ctx, lis)

	client := grpcxds.Dial(t, lis.Addr().String(), "grpc-nack", "clients", "greeter.test")
	if v, err := client.Call(ctx); err != nil || v != "v1" {
		t.Fatalf("first call = %q, %v; want v1", v, err)
	}

	if err := c.SetGeneration(snapshot.NewGeneration(greeter(v1, v2, 0, 0))); err != nil {
		t.Fatal(err)
	}
	// route reads the client's route status from /api/v1/proxies.
	route := func() *api.TypeStatus {
		resp, err := http.Get(adminSrv.URL + "/api/v1/proxies")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body api.ProxyList
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			t.Fatal(err)
		}
		for _, p := range body.Proxies {
			if p.NodeID == "grpc-nack" {
				if ts, ok := p.Types["RouteConfiguration"]; ok {
					return &ts
				}
				return nil
			}
		}
		return nil
	}
	deadline := time.Now().Add(10 * time.Second)
	for route() == nil || route().LastNack == nil {
		if time.Now().After(deadline) {
			t.Fatalf("no NACK recorded; route status %+v", route())
		}
		time.Sleep(20 * time.Millisecond)
	}
	nacked := route()
	if !strings.Contains(nacked.LastNack.Error, "weight") {
		t.Errorf("NACK error %q does not say what was wrong", nacked.LastNack.Error)
	}
	if nacked.AckedVersion == nacked.LastNack.Version {
		t.Errorf("rejected version %s recorded as ACKed", nacked.AckedVersion)
	}

	// No resend storm: over a second, the rejected route is not sent again.
	time.Sleep(time.Second)
	if after := route(); after.Pushes != nacked.Pushes {
		t.Fatalf("route pushed %d more times after the NACK", after.Pushes-nacked.Pushes)
	}
	// The client kept its last good route.
	if v, err := client.Call(ctx); err != nil || v != "v1" {
		t.Fatalf("call after NACK = %q, %v; want v1 from the last good config", v, err)
	}

	// A good change goes through again.
	if err := c.SetGeneration(snapshot.NewGeneration(greeter(v1, v2, 0, 100))); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(10 * time.Second)
	for {
		v, err := client.Call(ctx)
		if err == nil && v == "v2" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after a good change, calls still answer %q, %v", v, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
