package k8s

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/shadowplane/shadowplane/analysis"
	"github.com/shadowplane/shadowplane/analysis/metrics"
	"github.com/shadowplane/shadowplane/policy"
	"github.com/shadowplane/shadowplane/test/kube"
)

// canaryModel is a progressive canary of v2 on the wakanda route, one
// objective, a look every 300 ms.
func canaryModel() *policy.Model {
	w := func(v uint32) *uint32 { return &v }
	limit := 0.01
	e := policy.Experiment{
		Kind: policy.KindExperiment, Name: "wakanda", App: "sample-app", Route: "wakanda",
		Testing: policy.Canary, Baseline: "v1", Candidates: []string{"v2"},
		Objectives: []policy.Objective{{Metric: "error-rate", UpperLimit: &limit}},
		Steps:      policy.Steps{StepWeight: 5, MaxWeight: 80}, Iterations: 50,
		Interval: 300 * time.Millisecond,
		Metrics:  policy.MetricsSource{Targets: map[string][]string{"*": {"http://127.0.0.1:1/metrics"}}},
	}
	e.Defaults()
	app := policy.App{
		Kind: policy.KindApp, Name: "sample-app", Hosts: []string{"example.com"}, Port: 10000,
		Variants: []policy.Variant{{Name: "v1", Endpoints: []string{"127.0.0.1:9001"}}, {Name: "v2", Endpoints: []string{"127.0.0.1:9002"}}},
		Routes: []policy.Route{
			{Name: "wakanda", Split: []policy.Backend{{Variant: "v1", Weight: w(100)}, {Variant: "v2", Weight: w(0)}}},
		},
	}
	return &policy.Model{Apps: []policy.App{app}, Experiments: []policy.Experiment{e}}
}

// healthyErrors are error rates well within the objective.
var healthyErrors = analysis.ObserverFunc(func(context.Context, *policy.Experiment, time.Time, time.Time) analysis.Observations {
	o := analysis.Observation{Type: metrics.Ratio, Unit: "ratio", Scale: 1, Events: 5, Samples: 5000, Value: 0.001}
	return analysis.Observations{"v1": {"error-rate": o}, "v2": {"error-rate": o}}
})

// served records the v2 weight of every model a replica publishes.
type served struct {
	mu sync.Mutex
	v2 []uint32
}

func (s *served) Publish(_ context.Context, m *policy.Model) error {
	app, _ := m.App("sample-app")
	w := analysis.Route{Split: app.Routes[0].Split}.Weights()["v2"]
	s.mu.Lock()
	s.v2 = append(s.v2, w)
	s.mu.Unlock()
	return nil
}

func (s *served) WaitRoutes(context.Context, string) error { return nil }

func (s *served) weights() []uint32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.v2)
}

// replica is one serve process, wired as serve wires it under leader
// election: a following runner on the ConfigMap store, fed by the state
// watcher, leading while its elector holds the Lease.
type replica struct {
	runner  *analysis.Runner
	elector *Elector
	pub     *served
	cancel  context.CancelFunc
	done    sync.WaitGroup
}

func startReplica(t *testing.T, c *kube.Cluster, ns, id string, m *policy.Model) *replica {
	t.Helper()
	rp := &replica{pub: &served{}}
	store := NewStateStore(c.Client, ns, 0)
	store.OnConflict(func(string) { rp.elector.Resign() })
	var err error
	rp.runner, err = analysis.NewRunner(analysis.RunnerConfig{Store: store, Observer: healthyErrors, Publisher: rp.pub, Follower: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	rp.cancel = cancel
	watcher, err := NewStateWatcher(c.Client, ns, func(states map[string]*analysis.State, invalid map[string]error) {
		rp.runner.SetStates(ctx, states, invalid)
	})
	if err != nil {
		t.Fatal(err)
	}
	rp.elector, err = NewElector(ElectionConfig{
		Client: c.Client, Namespace: ns, Identity: id,
		LeaseDuration: testLease, RenewDeadline: testRenew, RetryPeriod: testRetry,
	}, Callbacks{
		OnStartedLeading: func(ctx context.Context) { rp.runner.Lead(ctx) },
		OnStoppedLeading: rp.runner.Follow,
	})
	if err != nil {
		t.Fatal(err)
	}
	// As the pipeline starts it: the saved steps first, then the model.
	rp.pub.Publish(ctx, rp.runner.Effective(m))
	rp.runner.Start(ctx)
	rp.runner.SetModel(ctx, m)
	rp.done.Add(2)
	go func() { defer rp.done.Done(); watcher.Run(ctx) }()
	go func() { defer rp.done.Done(); rp.elector.Run(ctx) }()
	t.Cleanup(rp.stop)
	return rp
}

// stop ends the replica: its elector releases the Lease, its runner
// follows, its watch ends.
func (rp *replica) stop() {
	rp.cancel()
	rp.done.Wait()
	rp.runner.Wait()
}

func (rp *replica) state() analysis.State {
	if sts := rp.runner.States(); len(sts) == 1 {
		return sts[0]
	}
	return analysis.State{}
}

// eventually polls cond until it holds. The replicas move with the API
// server, another process, and with real time: there is no event to wait
// on, so a deadline bounds the wait.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(testTimeout); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", testTimeout, what)
		}
	}
}

// Two replicas: one runs the experiment, the other serves the same
// weights from the states in the API; when the leader goes, the other
// takes over at the step it had reached, and no weight served goes back.
func TestReplicasShareOneExperiment(t *testing.T) {
	c := kube.Start(t)
	ns := c.Namespace(t)
	m := canaryModel()
	a, b := startReplica(t, c, ns, "replica-a", m), startReplica(t, c, ns, "replica-b", m)
	var leader, follower *replica
	eventually(t, "a leader", func() bool { return a.elector.IsLeader() || b.elector.IsLeader() })
	leader, follower = a, b
	if b.elector.IsLeader() {
		leader, follower = b, a
	}
	eventually(t, "the leader at iteration 3", func() bool { return leader.state().Iteration >= 3 })
	if follower.elector.IsLeader() {
		t.Fatal("both replicas lead")
	}
	// The follower serves the leader's steps as they are saved.
	eventually(t, "the follower on the leader's weights", func() bool {
		want := leader.state().Route.Weights()["v2"]
		got := follower.pub.weights()
		return want > 15 && got[len(got)-1] == want
	})
	started := leader.state().StartedAt

	leader.stop()
	stoppedAt := leader.state() // its last state, saved: Follow waited for its loop
	if stoppedAt.Stage != analysis.Running {
		t.Fatalf("the experiment %s before the hand-over: %s", stoppedAt.Stage, stoppedAt.Reason)
	}
	eventually(t, "the follower leading", follower.elector.IsLeader)
	eventually(t, "the new leader one look further", func() bool { return follower.state().Iteration > stoppedAt.Iteration })
	st := follower.state()
	n := len(stoppedAt.History)
	if !st.StartedAt.Equal(started) || n == 0 || len(st.History) <= n || !st.History[n-1].At.Equal(stoppedAt.History[n-1].At) {
		t.Fatalf("the new leader is at iteration %d (started %s, %d looks), want the old leader's iteration %d carried on (started %s, %d looks)",
			st.Iteration, st.StartedAt, len(st.History), stoppedAt.Iteration, started, n)
	}
	// What every proxy of the follower saw: never a step back, from the
	// first snapshot to its own steps as leader.
	v2 := follower.pub.weights()
	for i := 1; i < len(v2); i++ {
		if v2[i] < v2[i-1] {
			t.Fatalf("the follower served v2 %v: a step back", v2)
		}
	}
	t.Logf("v2 as served by the replica that took over: %v", slices.Compact(v2))
}
