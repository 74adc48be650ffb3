package kubee2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	adminapi "github.com/shadowplane/shadowplane/admin/api"
	"github.com/shadowplane/shadowplane/k8s"
	"github.com/shadowplane/shadowplane/test/grpcxds"
	"github.com/shadowplane/shadowplane/test/kube"
	"github.com/shadowplane/shadowplane/test/sampleproc"
)

// The lease timing of the HA test: short, so that a takeover is quick to
// see; the defaults (15 s, 10 s, 2 s) are Kubernetes' own.
const (
	leaseDuration = 4 * time.Second
	renewDeadline = 3 * time.Second
	retryPeriod   = 500 * time.Millisecond
)

// canaryPolicy is seed 003's shape for a proxyless gRPC app: greeter's
// route split v1 100 / v2 0, with a progressive canary of v2 judged on the
// sample app's own metrics, scraped directly by whichever replica leads.
func canaryPolicy(v1, v2 *sampleproc.App) string {
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
steps: {stepWeight: 5, maxWeight: 100}
objectives:
  - {metric: app/error-rate, upperLimit: 0.05}
interval: 1s
iterations: 40
minSamples: 10
maxNoData: 10
metrics:
  targets:
    v1: [%q]
    v2: [%q]
`, v1.GRPC, v2.GRPC, v1.MetricsURL(), v2.MetricsURL())
}

func startSample(t *testing.T, version string) *sampleproc.App {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	a, err := sampleproc.Start(ctx, sampleBinary, version, "--latency", "2ms")
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

// drive sends RPCs through c until the test ends.
func drive(t *testing.T, c *grpcxds.Client) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() {
		cancel()
		<-done
	})
	go func() {
		defer close(done)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for ctx.Err() == nil {
			c.Call(ctx)
			<-tick.C
		}
	}()
}

func (cp *controlPlane) experiment(name string) (adminapi.Experiment, error) {
	var body adminapi.ExperimentList
	if err := cp.get("/api/v1/experiments", &body); err != nil {
		return adminapi.Experiment{}, err
	}
	for _, st := range body.Experiments {
		if st.Name == name {
			return st, nil
		}
	}
	return adminapi.Experiment{}, fmt.Errorf("experiment %s not in /api/v1/experiments", name)
}

// grpcWeights is the weights a proxyless client of cp is served for
// greeter's route, as "v1=95,v2=5".
func (cp *controlPlane) grpcWeights() (string, error) {
	var dump struct{ Routes []json.RawMessage }
	if err := cp.get("/debug/config_dump?node=probe&cluster=clients&kind=grpc", &dump); err != nil {
		return "", err
	}
	var rc []struct {
		VirtualHosts []struct {
			Routes []struct {
				Route struct {
					WeightedClusters struct {
						Clusters []struct {
							Name   string `json:"name"`
							Weight int    `json:"weight"`
						} `json:"clusters"`
					} `json:"weighted_clusters"`
				} `json:"route"`
			} `json:"routes"`
		} `json:"virtual_hosts"`
	}
	b, _ := json.Marshal(dump.Routes)
	if err := json.Unmarshal(b, &rc); err != nil {
		return "", err
	}
	var parts []string
	for _, r := range rc {
		for _, vh := range r.VirtualHosts {
			for _, rt := range vh.Routes {
				for _, c := range rt.Route.WeightedClusters.Clusters {
					parts = append(parts, fmt.Sprintf("%s=%d", c.Name, c.Weight))
				}
			}
		}
	}
	return strings.Join(parts, ","), nil
}

// stateWeights is a state's weights in grpcWeights' form.
func stateWeights(st adminapi.Experiment) string {
	w := st.Route.Weights()
	return fmt.Sprintf("greeter_v1=%d,greeter_v2=%d", w["v1"], w["v2"])
}

// Three replicas serve the same sources; one, elected with a Lease, runs
// the experiment. Killed with SIGKILL mid-experiment, another takes over
// within the Lease duration and goes on from the same step, and every
// proxy, whichever replica it talks to, is served the same weights.
func TestLeaderKilledMidExperiment(t *testing.T) {
	t.Parallel()
	c := kube.Start(t)
	a := &api{t: t, client: c.Client, ns: c.Namespace(t)}
	v1, v2 := startSample(t, "v1"), startSample(t, "v2")
	a.policy("greeter", "greeter.yaml", canaryPolicy(v1, v2))

	replicas := make([]*controlPlane, 3)
	for i := range replicas {
		replicas[i] = startServe(t, c.Kubeconfig, a.ns, "--leader-elect", "--k8s-namespace", a.ns,
			"--leader-elect-lease-duration", leaseDuration.String(),
			"--leader-elect-renew-deadline", renewDeadline.String(),
			"--leader-elect-retry-period", retryPeriod.String())
		drive(t, grpcxds.Dial(t, replicas[i].proc.XDS, fmt.Sprintf("client-%d", i), "clients", "greeter.test"))
	}

	leader := func() (int, string) {
		lease, err := c.Client.CoordinationV1().Leases(a.ns).Get(context.Background(), k8s.DefaultLeaseName, metav1.GetOptions{})
		if err != nil || lease.Spec.HolderIdentity == nil {
			return -1, ""
		}
		id := *lease.Spec.HolderIdentity
		for i, r := range replicas {
			if r != nil && strings.HasSuffix(id, "_"+strconv.Itoa(r.proc.PID())) {
				return i, id
			}
		}
		return -1, id
	}
	var first int
	poll(t, "a leader among the replicas", func() bool { first, _ = leader(); return first >= 0 })

	var before adminapi.Experiment
	poll(t, "the experiment at its third step", func() bool {
		st, err := replicas[first].experiment("greeter-canary")
		before = st
		return err == nil && st.Iteration >= 3
	})
	t.Logf("leader %d at iteration %d, weights %s", first, before.Iteration, stateWeights(before))

	killed := time.Now()
	if err := syscall.Kill(replicas[first].proc.PID(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	replicas[first].proc.Wait()
	replicas[first] = nil

	var next int
	took := poll(t, "another replica leading", func() bool { next, _ = leader(); return next >= 0 })
	t.Logf("replica %d took over %s after the kill (lease %s)", next, took, leaseDuration)
	if took > leaseDuration+2*retryPeriod+5*time.Second {
		// Not a timing assertion on our code: a takeover far beyond the
		// Lease duration means the Lease was not released or not
		// watched; the margin covers a busy machine.
		t.Errorf("takeover took %s, lease duration %s", took, leaseDuration)
	}
	_ = killed

	// The new leader resumes at the saved step, not the policy's 0, and
	// goes on.
	var after adminapi.Experiment
	poll(t, "the experiment going on under the new leader", func() bool {
		st, err := replicas[next].experiment("greeter-canary")
		after = st
		return err == nil && st.Iteration > before.Iteration
	})
	if after.Route.Weights()["v2"] < before.Route.Weights()["v2"] {
		t.Fatalf("resumed at weights %s, below the step before the kill, %s", stateWeights(after), stateWeights(before))
	}

	// Both remaining replicas serve the same weights: the leader's. Each
	// is read after the state it reports, so a step in between is seen by
	// the retry.
	poll(t, "both replicas serving the leader's weights", func() bool {
		want := ""
		for _, r := range replicas {
			if r == nil {
				continue
			}
			st, err := r.experiment("greeter-canary")
			if err != nil {
				return false
			}
			got, err := r.grpcWeights()
			if err != nil || got != stateWeights(st) {
				return false
			}
			if want == "" {
				want = got
			}
			if got != want {
				return false
			}
		}
		return true
	})
}
