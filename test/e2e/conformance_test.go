package e2e

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/shadowplane/shadowplane/admin/api"
	"github.com/shadowplane/shadowplane/test/grpcxds"
	"github.com/shadowplane/shadowplane/test/sampleproc"
)

// conformancePolicy is seed 000: all live traffic to v1, 40 % mirrored to a
// dark v2, and a Conformance experiment on v2.
func conformancePolicy(v1, v2 *sampleproc.App) string {
	return fmt.Sprintf(`kind: App
name: greeter
hosts: [greeter.test]
port: 10000
variants:
  - name: v1
    endpoints: [%q]
  - name: v2
    endpoints: [%q]
routes:
  - name: all
    split:
      - variant: v1
    mirror:
      variant: v2
      percent: 40
---
kind: Experiment
name: dark-v2
app: greeter
route: all
testing: Conformance
candidates: [v2]
objectives:
  - {metric: app/mean-latency, upperLimit: 100}
  - {metric: app/error-rate, upperLimit: 0.01}
interval: 1s
iterations: 2
minSamples: 10
metrics:
  targets:
    v2: [%q]
`, v1.GRPC, v2.GRPC, v2.MetricsURL())
}

// mirrorLikeEnvoy stands in for Envoy's request mirroring, which no binary
// on these machines can run: for every live call it makes through
// shadowplane's routes, it sends a copy straight to the dark version with
// the header shadowplane's mirror policy adds, and ignores the answer.
// What is under test is the experiment's verdict on the dark version's own
// metrics; the mirror policy itself is covered by the translation tests.
func mirrorLikeEnvoy(t *testing.T, live *grpcxds.Client, dark *sampleproc.App) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() {
		cancel()
		<-done
	})
	copyTo := "http://" + dark.HTTP + "/"
	go func() {
		defer close(done)
		for i := 0; ctx.Err() == nil; i++ {
			live.Call(ctx)
			if i%5 < 2 { // 40 %
				go func() {
					req, _ := http.NewRequestWithContext(ctx, http.MethodGet, copyTo, nil)
					req.Header.Set("x-shadowplane-mirror", "true")
					if resp, err := http.DefaultClient.Do(req); err == nil {
						resp.Body.Close()
					}
				}()
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
}

func TestConformanceOfAHealthyDarkVersionPasses(t *testing.T) {
	v1 := startSample(t, "v1", "--latency", "2ms")
	v2 := startSample(t, "v2", "--latency", "5ms")
	cp := startServe(t, writePolicy(t, conformancePolicy(v1, v2)))
	mirrorLikeEnvoy(t, grpcxds.Dial(t, cp.xds, "live", "clients", "greeter.test"), v2)

	st := cp.waitExperiment(t, "dark-v2", ended)
	if st.Stage != api.Completed || st.Route.MirrorOff {
		t.Fatalf("stage %s mirrorOff %v: %s", st.Stage, st.Route.MirrorOff, st.Reason)
	}
	// onSuccess defaults to keep for Conformance: the mirror stays.
	if dump := envoyRoutes(t, cp); !strings.Contains(dump, "request_mirror_policies") {
		t.Errorf("the mirror was removed after a passing conformance test:\n%s", dump)
	}
}

func TestConformanceOfASlowDarkVersionFails(t *testing.T) {
	v1 := startSample(t, "v1", "--latency", "2ms")
	v2 := startSample(t, "v2", "--latency", "300ms", "--latency-jitter", "0s")
	cp := startServe(t, writePolicy(t, conformancePolicy(v1, v2)))
	mirrorLikeEnvoy(t, grpcxds.Dial(t, cp.xds, "live", "clients", "greeter.test"), v2)

	st := cp.waitExperiment(t, "dark-v2", ended)
	if st.Stage != api.RolledBack || !st.Route.MirrorOff || !strings.Contains(st.Reason, "app/mean-latency") {
		t.Fatalf("stage %s mirrorOff %v: %s", st.Stage, st.Route.MirrorOff, st.Reason)
	}
	// The failed dark version stops receiving copies: Envoy is no longer
	// told to mirror.
	if dump := envoyRoutes(t, cp); strings.Contains(dump, "request_mirror_policies") {
		t.Errorf("mirror still served after the dark version failed:\n%s", dump)
	}
}

// envoyRoutes is what an Envoy of any cluster would be served now.
func envoyRoutes(t *testing.T, cp *controlPlane) string {
	t.Helper()
	var dump struct{ Routes []any }
	cp.get(t, "/debug/config_dump?node=probe&cluster=edge", &dump)
	return fmt.Sprintf("%s", mustJSON(t, dump.Routes))
}
