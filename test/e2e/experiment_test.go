package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shadowplane/shadowplane/admin/api"
	"github.com/shadowplane/shadowplane/test/grpcxds"
	"github.com/shadowplane/shadowplane/test/sampleproc"
	"github.com/shadowplane/shadowplane/test/serveproc"
)

func startSample(t *testing.T, version string, extra ...string) *sampleproc.App {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	a, err := sampleproc.Start(ctx, sampleBinary, version, extra...)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		a.Wait()
	})
	return a
}

// canaryPolicy is seed 003's shape for a proxyless gRPC app: greeter's
// route split v1 100 / v2 0, with a progressive canary of v2 judged on the
// sample app's own metrics, scraped directly.
func canaryPolicy(v1, v2 *sampleproc.App, iterations, step int) string {
	return fmt.Sprintf(`kind: App
name: greeter
hosts: [greeter.test]
variants:
  - name: v1
    endpoints: [%q]
  - name: v2
    endpoints: [%q]
routes:
  - name: all
    split:
      - variant: v1
        weight: 100
      - variant: v2
        weight: 0
---
kind: Experiment
name: greeter-canary
app: greeter
route: all
testing: Canary
baseline: v1
candidates: [v2]
steps: {stepWeight: %d, maxWeight: 100}
objectives:
  - {metric: app/mean-latency, upperLimit: 250}
  - {metric: app/p95-latency, upperLimit: 500}
  - {metric: app/error-rate, upperLimit: 0.05}
interval: 1s
iterations: %d
minSamples: 10
maxNoData: 10
metrics:
  targets:
    v1: [%q]
    v2: [%q]
`, v1.GRPC, v2.GRPC, step, iterations, v1.MetricsURL(), v2.MetricsURL())
}

// drive sends RPCs through shadowplane's routes until the test ends.
func drive(t *testing.T, c *grpcxds.Client) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() {
		cancel()
		<-done
	})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			c.Call(ctx)
			time.Sleep(2 * time.Millisecond)
		}
	}()
}

func (cp *controlPlane) experiment(t *testing.T, name string) api.Experiment {
	t.Helper()
	var body api.ExperimentList
	cp.get(t, "/api/v1/experiments", &body)
	for _, st := range body.Experiments {
		if st.Name == name {
			return st
		}
	}
	t.Fatalf("experiment %s not in /api/v1/experiments", name)
	return api.Experiment{}
}

func (cp *controlPlane) waitExperiment(t *testing.T, name string, done func(api.Experiment) bool) api.Experiment {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		st := cp.experiment(t, name)
		if done(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("experiment %s: stage %s iteration %d: %s", name, st.Stage, st.Iteration, st.Reason)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func ended(st api.Experiment) bool { return st.Stage.Done() }

func writePolicy(t *testing.T, content string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "greeter.yaml"), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestCanaryOfAHealthyCandidateIsPromoted(t *testing.T) {
	v1 := startSample(t, "v1", "--latency", "2ms", "--latency-jitter", "1ms")
	v2 := startSample(t, "v2", "--latency", "2ms", "--latency-jitter", "1ms")
	cp := startServe(t, writePolicy(t, canaryPolicy(v1, v2, 3, 30)))
	drive(t, grpcxds.Dial(t, cp.xds, "canary-client", "clients", "greeter.test"))

	st := cp.waitExperiment(t, "greeter-canary", ended)
	if st.Stage != api.Completed || st.Winner != "v2" || st.Route.Weights()["v2"] != 100 {
		t.Fatalf("stage %s winner %q weights %v: %s", st.Stage, st.Winner, st.Route.Weights(), st.Reason)
	}
	var steps []uint32
	for _, h := range st.History {
		if h.Action == api.Advance || h.Action == api.PromoteWinner {
			steps = append(steps, h.Weights["v2"])
		}
	}
	if fmt.Sprint(steps) != "[60 90 100]" {
		t.Errorf("v2 weights after each passing iteration %v, want [60 90 100] (30 at start, +30 per step)", steps)
	}
	// The promotion reached the proxyless client.
	client := grpcxds.Dial(t, cp.xds, "after-promotion", "clients", "greeter.test")
	assertShare(t, client, 200, 100, 0)
}

func TestCanaryWithErrorsIsRolledBack(t *testing.T) {
	v1 := startSample(t, "v1", "--latency", "2ms")
	v2 := startSample(t, "v2", "--latency", "2ms", "--error-rate", "0.5")
	cp := startServe(t, writePolicy(t, canaryPolicy(v1, v2, 5, 50)))
	drive(t, grpcxds.Dial(t, cp.xds, "canary-client", "clients", "greeter.test"))

	st := cp.waitExperiment(t, "greeter-canary", ended)
	if st.Stage != api.RolledBack || st.Route.Weights()["v2"] != 0 {
		t.Fatalf("stage %s weights %v: %s", st.Stage, st.Route.Weights(), st.Reason)
	}
	if !strings.Contains(st.Reason, "app/error-rate") {
		t.Errorf("reason %q does not name the failing objective", st.Reason)
	}
	// Rolled back within one interval after the minimum sample: the first
	// judged iteration is the rollback, and nothing advanced before it.
	for _, h := range st.History {
		if h.Action == api.Advance || h.Action == api.PromoteWinner {
			t.Fatalf("advanced a failing candidate: %+v", h)
		}
		if h.Action == api.RollBack {
			break
		}
	}
	client := grpcxds.Dial(t, cp.xds, "after-rollback", "clients", "greeter.test")
	assertShare(t, client, 200, 0, 0)
}

func freePort(t *testing.T) string {
	t.Helper()
	return freePorts(t, 1)[0]
}

// freePorts returns n distinct free loopback addresses.
func freePorts(t *testing.T, n int) []string {
	t.Helper()
	addrs, err := serveproc.FreeAddrs(n)
	if err != nil {
		t.Fatal(err)
	}
	return addrs
}

// The control plane killed with SIGKILL mid-experiment and restarted
// resumes at the same step: its very first configuration carries the saved
// weights, and the experiment goes on from the same iteration.
func TestExperimentSurvivesKill9(t *testing.T) {
	v1 := startSample(t, "v1", "--latency", "2ms")
	v2 := startSample(t, "v2", "--latency", "2ms")
	dir := writePolicy(t, canaryPolicy(v1, v2, 8, 10))
	state := t.TempDir()
	ports := freePorts(t, 2)
	xdsAddr, adminAddr := ports[0], ports[1]
	start := func() (*serveproc.Proc, context.CancelFunc) {
		ctx, cancel := context.WithCancel(context.Background())
		p, err := serveproc.Start(ctx, binary, dir, func(line string) { t.Log("shadowplane: " + line) },
			"--state-dir", state, "--xds-addr", xdsAddr, "--admin-addr", adminAddr)
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		return p, cancel
	}
	first, cancelFirst := start()
	cp := &controlPlane{xds: first.XDS, admin: first.Admin}
	drive(t, grpcxds.Dial(t, cp.xds, "kill-client", "clients", "greeter.test"))
	before := cp.waitExperiment(t, "greeter-canary", func(st api.Experiment) bool { return st.Iteration >= 2 })

	if err := syscall.Kill(first.PID(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	first.Wait()
	cancelFirst()
	saved := before.Route.Weights()["v2"]

	second, cancelSecond := start()
	t.Cleanup(func() {
		cancelSecond()
		second.Wait()
	})
	// What a proxyless client would be served right now.
	var dump struct{ Routes []map[string]any }
	cp.get(t, "/debug/config_dump?node=probe&cluster=clients&kind=grpc", &dump)
	if got := fmt.Sprint(dump.Routes); !strings.Contains(got, fmt.Sprintf("weight:%d", saved)) && saved != 0 {
		t.Fatalf("after the restart the routes are %s, want v2 at the saved weight %d", got, saved)
	}
	after := cp.experiment(t, "greeter-canary")
	if after.Iteration < before.Iteration || after.Route.Weights()["v2"] < saved {
		t.Fatalf("resumed at iteration %d weights %v, want at least iteration %d and v2 %d", after.Iteration, after.Route.Weights(), before.Iteration, saved)
	}
	// And it goes on.
	cp.waitExperiment(t, "greeter-canary", func(st api.Experiment) bool { return st.Iteration > after.Iteration })
}

// A custom metric defined as data in the policy — here the share of
// requests the sample app counted as errors — judges the candidate like
// a built-in one.
func TestCustomMetricObjective(t *testing.T) {
	v1 := startSample(t, "v1", "--latency", "2ms")
	v2 := startSample(t, "v2", "--latency", "2ms", "--error-rate", "0.5")
	custom := `---
kind: Metric
name: greeter/error-share
unit: ratio
type: ratio
scrape:
  numerator:
    family: sampleapp_errors_total
    matchers: [{label: version, op: "=", value: "{{.Version}}"}]
  denominator:
    family: sampleapp_requests_total
    matchers: [{label: version, op: "=", value: "{{.Version}}"}]
`
	p := strings.Replace(canaryPolicy(v1, v2, 5, 50), "  - {metric: app/error-rate, upperLimit: 0.05}", "  - {metric: greeter/error-share, upperLimit: 0.05}", 1) + custom
	cp := startServe(t, writePolicy(t, p))
	drive(t, grpcxds.Dial(t, cp.xds, "custom-client", "clients", "greeter.test"))
	st := cp.waitExperiment(t, "greeter-canary", ended)
	if st.Stage != api.RolledBack || !strings.Contains(st.Reason, "greeter/error-share") {
		t.Fatalf("stage %s: %s; want a rollback on the custom metric", st.Stage, st.Reason)
	}
}
