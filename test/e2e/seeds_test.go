package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shadowplane/shadowplane/admin/api"
	"github.com/shadowplane/shadowplane/test/grpcxds"
	"github.com/shadowplane/shadowplane/test/sampleproc"
)

// The seeds' own scenarios at the seeds' own traffic, with healthy
// versions, through real processes: the decision must be a promotion, not
// a rollback. They take as long as the statistics need at a few requests
// a second (about 10 minutes for seed 000), so they run apart from
// `make test`: `make e2e-seeds` (CI runs it too).
func seeds(t *testing.T) {
	t.Helper()
	if os.Getenv("SHADOWPLANE_SEEDS") == "" {
		t.Skip("runs for about 10 minutes at the seeds' traffic: make e2e-seeds (SHADOWPLANE_SEEDS=1)")
	}
	t.Parallel()
}

// seedObjectives are Iter8's: mean < 50 ms, p95 < 100 ms, errors < 1 %.
const seedObjectives = `objectives:
  - {metric: app/mean-latency, upperLimit: 50}
  - {metric: app/p95-latency, upperLimit: 100}
  - {metric: app/error-rate, upperLimit: 0.01}
interval: 10s
iterations: 10
`

// healthySample is a version as the seeds' sample apps are: about 20 ms,
// no errors.
func healthySample(t *testing.T, version string) *sampleproc.App {
	return startSample(t, version, "--latency", "20ms", "--latency-jitter", "10ms")
}

// paced calls f rps times a second until the test ends; i counts calls.
func paced(t *testing.T, rps float64, f func(ctx context.Context, i int)) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() {
		cancel()
		<-done
	})
	go func() {
		var calls sync.WaitGroup
		defer close(done)
		defer calls.Wait()
		tick := time.NewTicker(time.Duration(float64(time.Second) / rps))
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				calls.Go(func() { f(ctx, i) })
			}
		}
	}()
}

// waitSeed waits up to limit for the experiment to end, logging its
// progress each minute, and reports how it ended.
func (cp *controlPlane) waitSeed(t *testing.T, name string, limit time.Duration) api.Experiment {
	t.Helper()
	start := time.Now()
	nextLog := start.Add(time.Minute)
	for {
		st := cp.experiment(t, name)
		if st.Stage.Done() {
			t.Logf("%s ended %s after %s: %s", name, st.Stage, time.Since(start).Round(time.Second), st.Reason)
			return st
		}
		if time.Now().After(nextLog) {
			t.Logf("%s after %s: iteration %d, weights %v: %s", name, time.Since(start).Round(time.Second), st.Iteration, st.Route.Weights(), st.Reason)
			nextLog = nextLog.Add(time.Minute)
		}
		if time.Since(start) > limit {
			t.Fatalf("%s still %s after %s: %s", name, st.Stage, limit, st.Reason)
		}
		time.Sleep(time.Second) // polling a process's API; the wait is for the experiment, which takes minutes
	}
}

// Seed 000 (Iter8's conformance test of a dark version fed by 40 %
// mirroring), at its own 2 requests a second.
func TestSeed000ConformanceAt2RPS(t *testing.T) {
	seeds(t)
	v1, v2 := healthySample(t, "v1"), healthySample(t, "v2")
	policy := fmt.Sprintf(`kind: App
name: greeter
hosts: [greeter.test]
port: 10000
variants:
  - {name: v1, endpoints: [%q]}
  - {name: v2, endpoints: [%q]}
routes:
  - name: all
    split: [{variant: v1}]
    mirror: {variant: v2, percent: 40}
---
kind: Experiment
name: seed-000
app: greeter
route: all
testing: Conformance
candidates: [v2]
%smetrics:
  targets:
    v2: [%q]
`, v1.GRPC, v2.GRPC, seedObjectives, v2.MetricsURL())
	cp := startServe(t, writePolicy(t, policy))
	live := grpcxds.Dial(t, cp.xds, "seed-000-client", "clients", "greeter.test")
	rng := rand.New(rand.NewPCG(0, 0))
	mirrored := make([]bool, 1<<20)
	for i := range mirrored {
		mirrored[i] = rng.Float64() < 0.4 // Envoy's runtime fraction, per request
	}
	copyTo := "http://" + v2.HTTP + "/"
	paced(t, 2, func(ctx context.Context, i int) {
		live.Call(ctx)
		if mirrored[i%len(mirrored)] {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, copyTo, nil)
			req.Header.Set("x-shadowplane-mirror", "true")
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
			}
		}
	})
	st := cp.waitSeed(t, "seed-000", 40*time.Minute)
	if st.Stage != api.Completed {
		t.Fatalf("a healthy dark version at 2 rps ended %s: %s", st.Stage, st.Reason)
	}
	report(t, st)
}

// Seed 003 (Iter8's progressive canary on the wakanda segment) at its own
// traffic: 4 requests a second from wakanda, 1 from gondor.
func TestSeed003CanaryAt4RPS(t *testing.T) {
	seeds(t)
	v1, v2 := healthySample(t, "v1"), healthySample(t, "v2")
	policy := fmt.Sprintf(`kind: App
name: sample-app
hosts: [example.test]
port: 10000
variants:
  - {name: v1, endpoints: [%q]}
  - {name: v2, endpoints: [%q]}
routes:
  - name: wakanda
    match: {headers: [{name: country, exact: wakanda}]}
    split:
      - {variant: v1, weight: 100}
      - {variant: v2, weight: 0}
  - name: default
    split: [{variant: v1}]
---
kind: Experiment
name: seed-003
app: sample-app
route: wakanda
testing: Canary
baseline: v1
candidates: [v2]
%smetrics:
  targets:
    v1: [%q]
    v2: [%q]
`, v1.GRPC, v2.GRPC, seedObjectives, v1.MetricsURL(), v2.MetricsURL())
	cp := startServe(t, writePolicy(t, policy))
	c := grpcxds.Dial(t, cp.xds, "seed-003-client", "clients", "example.test")
	paced(t, 4, func(ctx context.Context, _ int) { c.Call(ctx, "country", "wakanda") })
	paced(t, 1, func(ctx context.Context, _ int) { c.Call(ctx, "country", "gondor") })
	st := cp.waitSeed(t, "seed-003", 40*time.Minute)
	if st.Stage != api.Completed || st.Route.Weights()["v2"] != 100 {
		t.Fatalf("a healthy canary at 4 rps ended %s with weights %v: %s", st.Stage, st.Route.Weights(), st.Reason)
	}
	report(t, st)
}

// report logs, and appends to $SEEDS_REPORT when set, how the experiment
// got there: looks, time, the evidence behind each verdict at the end.
func report(t *testing.T, st api.Experiment) {
	t.Helper()
	var b strings.Builder
	took := st.UpdatedAt.Sub(st.StartedAt).Round(time.Second)
	fmt.Fprintf(&b, "- %s: %s after %s and %d looks; %s\n", st.Name, st.Stage, took, len(st.History), st.Reason)
	if n := len(st.History); n > 0 {
		for _, vd := range st.History[n-1].Verdicts {
			fmt.Fprintf(&b, "  - %s: %s\n", vd.Version, vd.Why)
		}
	}
	t.Log("\n" + b.String())
	if path := os.Getenv("SEEDS_REPORT"); path != "" {
		f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.WriteString(b.String()); err != nil {
			t.Fatal(err)
		}
	}
}
