package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shadowplane/shadowplane/admin/api"
	"github.com/shadowplane/shadowplane/test/grpcxds"
)

// servedGreeter is where the greeter route sends traffic for a proxyless
// gRPC client now: each cluster with a share of it and its weight ("a
// cluster: X" route is X at 100), as the config dump shows the route.
func servedGreeter(t *testing.T, cp *controlPlane) string {
	t.Helper()
	var dump struct {
		Routes []struct {
			VirtualHosts []struct {
				Routes []struct {
					Route struct {
						Cluster          string
						WeightedClusters struct {
							Clusters []struct {
								Name   string
								Weight uint32
							}
						} `json:"weighted_clusters"`
					}
				}
			} `json:"virtual_hosts"`
		}
	}
	cp.get(t, "/debug/config_dump?node=probe&cluster=clients&kind=grpc", &dump)
	if len(dump.Routes) != 1 || len(dump.Routes[0].VirtualHosts) != 1 || len(dump.Routes[0].VirtualHosts[0].Routes) != 1 {
		t.Fatalf("config dump: want one route configuration with one route, got %+v", dump.Routes)
	}
	r := dump.Routes[0].VirtualHosts[0].Routes[0].Route
	if r.Cluster != "" {
		return r.Cluster + " 100"
	}
	var parts []string
	for _, c := range r.WeightedClusters.Clusters {
		if c.Weight > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", c.Name, c.Weight))
		}
	}
	return strings.Join(parts, ", ")
}

// shell runs the shadowplane CLI as a person would, and returns its output.
func shell(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), "USER=dana")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("shadowplane %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// A person promotes a running canary with --write: the winner's weights
// are written into the policy file (its comments kept), survive a kill -9,
// and stay served after the experiment is removed from the policy — the
// promotion sticks, because the policy now says it.
func TestPromoteWriteSticksAfterKillAndRemoval(t *testing.T) {
	v1 := startSample(t, "v1", "--latency", "2ms")
	v2 := startSample(t, "v2", "--latency", "2ms")
	// Many short steps: the person promotes long before the last one.
	const comment = "# greeter: owned by the checkout team\n"
	dir := writePolicy(t, comment+canaryPolicy(v1, v2, 50, 2))
	file := filepath.Join(dir, "greeter.yaml")
	token := filepath.Join(t.TempDir(), "admin-token")
	if err := os.WriteFile(token, []byte("s3cret-admin-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := newRestartable(t, dir, "--admin-token-file", token)
	drive(t, grpcxds.Dial(t, r.cp.xds, "promote-client", "clients", "greeter.test"))
	r.cp.waitExperiment(t, "greeter-canary", func(st api.Experiment) bool { return st.Iteration >= 1 })

	out := shell(t, "promote", "greeter-canary", "--write", "--reason", "ship it", "--admin", r.cp.admin, "--token-file", token)
	if !strings.Contains(out, "greeter-canary: Completed") {
		t.Fatalf("promote --write said %q", out)
	}
	st := r.cp.waitExperiment(t, "greeter-canary", func(st api.Experiment) bool {
		return slices.ContainsFunc(st.Events, writtenBack)
	})
	if !slices.ContainsFunc(st.Events, func(e api.Event) bool {
		return e.Action == "promote" && e.By == "dana" && e.Reason == "ship it"
	}) {
		t.Errorf("events %+v: want the promotion by dana, 'ship it'", st.Events)
	}
	if i := slices.IndexFunc(st.Events, writtenBack); st.Events[i].Result != "ok" {
		t.Fatalf("write-back: %s", st.Events[i].Result)
	}
	if w := st.Route.Weights(); w["v2"] != 100 || w["v1"] != 0 {
		t.Fatalf("promoted to %v, want v2 100", w)
	}
	written, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(written), comment) {
		t.Errorf("the write-back lost the file's comment:\n%s", written)
	}
	app, _, _ := strings.Cut(string(written), "\n---\n")
	if !strings.Contains(app, "variant: v2\n        weight: 100") || !strings.Contains(app, "variant: v1\n        weight: 0") {
		t.Fatalf("the policy file does not say v2 100, v1 0:\n%s", app)
	}
	promoted := servedGreeter(t, r.cp)
	if promoted != "greeter_v2 100" {
		t.Fatalf("promoted, the route sends %q, want all to greeter_v2", promoted)
	}

	// kill -9 and start again: the promotion is served from the start.
	r.kill9()
	r.start()
	if got := servedGreeter(t, r.cp); got != promoted {
		t.Fatalf("after kill -9 the route is %s, want %s", got, promoted)
	}
	if st := r.cp.experiment(t, "greeter-canary"); st.Stage != api.Completed {
		t.Fatalf("after kill -9 the experiment is %s: %s", st.Stage, st.Reason)
	}

	// Remove the experiment, as its owner does after a promotion.
	if err := os.WriteFile(file+".tmp", []byte(app+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(file+".tmp", file); err != nil {
		t.Fatal(err)
	}
	r.cp.waitFor(t, "the experiment removed", func() bool {
		var body api.ExperimentList
		r.cp.get(t, "/api/v1/experiments", &body)
		return len(body.Experiments) == 0
	})
	if got := servedGreeter(t, r.cp); got != promoted {
		t.Fatalf("after the experiment was removed the route is %s, want the promoted %s", got, promoted)
	}
}

// waitFor polls the control plane until ok, for at most a minute.
func (cp *controlPlane) waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for !ok() {
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v", what, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// writtenBack is the event a write-back records once it has run; the one
// saved with the promotion before it runs says "pending".
func writtenBack(e api.Event) bool { return e.Action == "writeback" && e.Result != "pending" }
