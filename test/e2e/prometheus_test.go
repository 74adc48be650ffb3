package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/shadowplane/shadowplane/admin/api"
	"github.com/shadowplane/shadowplane/analysis"
	"github.com/shadowplane/shadowplane/analysis/metrics"
	"github.com/shadowplane/shadowplane/policy"
	"github.com/shadowplane/shadowplane/test/grpcxds"
	"github.com/shadowplane/shadowplane/test/promserver"
	"github.com/shadowplane/shadowplane/test/sampleproc"
	"github.com/shadowplane/shadowplane/xds"
)

// prometheusPolicy is canaryPolicy judged through a real Prometheus
// server's HTTP API instead of direct scraping.
func prometheusPolicy(v1, v2 *sampleproc.App, prom string, iterations, step int) string {
	p := canaryPolicy(v1, v2, iterations, step)
	i := strings.Index(p, "metrics:\n  targets:")
	return p[:i] + fmt.Sprintf("metrics:\n  provider: prometheus\n  prometheus: %s\n", prom)
}

// The same run judged twice: shadowplane reads Prometheus, while this test
// scrapes the same apps itself; for every judged iteration, the
// direct-scrape values must give the same verdicts.
func TestPrometheusAndDirectScrapeAgree(t *testing.T) {
	v1 := startSample(t, "v1", "--latency", "3ms", "--latency-jitter", "1ms")
	v2 := startSample(t, "v2", "--latency", "3ms", "--latency-jitter", "1ms")
	prom := promserver.Start(t, []string{v1.MetricsURL(), v2.MetricsURL()}, time.Second)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	scraper, err := metrics.NewScraper(metrics.ScraperOptions{Targets: []metrics.Target{
		{URL: v1.MetricsURL(), Version: "v1"}, {URL: v2.MetricsURL(), Version: "v2"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	go scraper.Run(ctx)

	cp := startServe(t, writePolicy(t, strings.Replace(prometheusPolicy(v1, v2, prom, 3, 30), "interval: 1s", "interval: 3s", 1)))
	drive(t, grpcxds.Dial(t, cp.xds, "prom-client", "clients", "greeter.test"))
	st := cp.waitExperiment(t, "greeter-canary", ended)
	if st.Stage != api.Completed || st.Winner != "v2" {
		t.Fatalf("with Prometheus: stage %s winner %q: %s", st.Stage, st.Winner, st.Reason)
	}

	// Judge the same windows again from the direct scrape: the two sources
	// must never contradict each other (one showing an objective passing
	// where the other shows it failing), and must count about the same
	// requests (Prometheus' increase() extrapolates to the window's edges).
	defs, err := metrics.NewDefinitions()
	if err != nil {
		t.Fatal(err)
	}
	spec := policySpec(t, st.Spec)
	read := func(from, to time.Time) analysis.Observations {
		obs := analysis.Observations{}
		for _, v := range spec.Versions() {
			obs[v] = map[string]analysis.Observation{}
			for _, o := range spec.Objectives {
				def, _ := defs.Lookup(o.Metric)
				val, err := scraper.Value(ctx, metrics.Query{Definition: def, App: "greeter", Version: v,
					Cluster: xds.ClusterName("greeter", v), Start: from, End: to})
				obs[v][o.Metric] = analysis.ObservationOf(def, val, err)
			}
		}
		return obs
	}
	judged := 0
	for _, rec := range st.History {
		if len(rec.Verdicts) == 0 {
			continue
		}
		judged++
		obs := read(rec.WindowStart, rec.At)
		route := &policy.Route{Name: "all", Split: []policy.Backend{backend("v1", 100), backend("v2", 0)}}
		state := &analysis.State{Iteration: rec.Iteration, WindowStart: rec.WindowStart, Route: analysis.Route{Split: route.Split}}
		direct := analysis.Evaluate(&spec, route, state, obs, rec.At).Verdicts
		for i, vd := range rec.Verdicts {
			if i >= len(direct) {
				t.Fatalf("look at %s: %d verdicts from the scrape, %d from Prometheus", rec.At, len(direct), len(rec.Verdicts))
			}
			d := direct[i]
			if (vd.Outcome == api.Pass && d.Outcome == analysis.Fail) || (vd.Outcome == api.Fail && d.Outcome == analysis.Pass) {
				t.Errorf("look at %s, %s %s: Prometheus says %s (%s), the direct scrape %s (%s)", rec.At, vd.Version, vd.Metric, vd.Outcome, vd.Why, d.Outcome, d.Why)
			}
			if d.Samples > 100 && math.Abs(vd.Samples-d.Samples) > 0.25*d.Samples {
				t.Errorf("look at %s, %s %s: %.0f requests from Prometheus, %.0f scraped", rec.At, vd.Version, vd.Metric, vd.Samples, d.Samples)
			}
			if vd.Metric == metrics.AppMeanLatency && d.Samples > 0 && math.Abs(d.Value-vd.Value) > 0.5*vd.Value {
				t.Errorf("look at %s: mean latency %.3g ms from Prometheus, %.3g ms scraped", rec.At, vd.Value, d.Value)
			}
		}
	}
	if judged < 3 {
		t.Fatalf("only %d judged looks to compare", judged)
	}
}

func backend(v string, w uint32) policy.Backend { return policy.Backend{Variant: v, Weight: &w} }

// policySpec is the experiment's spec as the policy package has it, for
// analysis.Evaluate: the API's spec is the policy's JSON (defaults filled
// in, URLs redacted), so it reads back as the experiment that ran.
func policySpec(t *testing.T, spec api.ExperimentSpec) policy.Experiment {
	t.Helper()
	var e policy.Experiment
	if err := json.Unmarshal(mustJSON(t, spec), &e); err != nil {
		t.Fatalf("the API's spec is not a policy experiment: %v", err)
	}
	return e
}

// Prometheus stopped mid-experiment: the experiment holds, then pauses
// for a person with the weights where they were; it never promotes, and
// an outage is not taken for a verdict on the candidate.
func TestPrometheusOutageNeverPromotes(t *testing.T) {
	v1 := startSample(t, "v1", "--latency", "3ms")
	v2 := startSample(t, "v2", "--latency", "3ms")
	prom := promserver.Run(t, []string{v1.MetricsURL(), v2.MetricsURL()}, time.Second)

	policy := strings.Replace(prometheusPolicy(v1, v2, prom.URL, 20, 5), "maxNoData: 10", "maxNoData: 3", 1)
	policy = strings.Replace(policy, "interval: 1s", "interval: 2s", 1)
	cp := startServe(t, writePolicy(t, policy))
	drive(t, grpcxds.Dial(t, cp.xds, "outage-client", "clients", "greeter.test"))
	before := cp.waitExperiment(t, "greeter-canary", func(st api.Experiment) bool { return st.Iteration >= 1 })

	prom.Stop()
	stoppedAt := time.Now()
	st := cp.waitExperiment(t, "greeter-canary", ended)
	if st.Stage != api.Paused {
		t.Fatalf("after the outage: stage %s weights %v: %s; want paused", st.Stage, st.Route.Weights(), st.Reason)
	}
	holds := 0
	for _, rec := range st.History[len(before.History):] {
		switch rec.Action {
		case api.Advance, api.PromoteWinner:
			// A record is stamped before its metrics are read: one stamped
			// after the stop read nothing.
			if rec.At.After(stoppedAt) {
				t.Fatalf("advanced during the outage: %+v", rec)
			}
		case api.Hold:
			holds++
		case api.RollBack:
			t.Fatalf("an outage rolled back a healthy candidate: %+v", rec)
		}
	}
	if holds == 0 || !strings.Contains(st.Reason, "metrics source down") || !strings.Contains(st.Reason, "3 looks in a row") {
		t.Fatalf("%d holds; final reason %q: want holds, then a pause for the outage", holds, st.Reason)
	}
	if w := st.Route.Weights(); w["v2"] == 0 {
		t.Errorf("paused with weights %v: the candidate's step should stay", w)
	}
}
