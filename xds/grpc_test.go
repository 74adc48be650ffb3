package xds

import (
	"testing"

	"github.com/shadowplane/shadowplane/policy"
)

// Two Envoy apps may share a host on different ports; a gRPC client names
// only the host and must get exactly one listener for it.
func TestGRPCHostSharedAcrossPorts(t *testing.T) {
	w := uint32(100)
	app := func(name string, port int) policy.App {
		return policy.App{
			Name: name, Hosts: []string{"shop.example"}, Port: port,
			Variants: []policy.Variant{{Name: "v1", Endpoints: []string{"10.0.0.1:80"}}},
			Routes:   []policy.Route{{Name: "all", Split: []policy.Backend{{Variant: "v1", Weight: &w}}}},
		}
	}
	res, err := Translate([]policy.App{app("shop-tls", 443), app("shop", 80)}, GRPC)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Listeners) != 1 {
		t.Fatalf("%d listeners for one host, want 1", len(res.Listeners))
	}
	names, err := ListenerRouteNames(res.Listeners[0])
	if err != nil || len(names) != 1 || names[0] != GRPCRouteConfigName("shop") {
		t.Fatalf("listener routes to %v, %v; want the port-80 app's %s", names, err, GRPCRouteConfigName("shop"))
	}
}
