package e2e

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/shadowplane/shadowplane/analysis"
	"github.com/shadowplane/shadowplane/analysis/metrics"
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
	if st.Stage != analysis.Completed || st.Winner != "v2" {
		t.Fatalf("with Prometheus: stage %s winner %q: %s", st.Stage, st.Winner, st.Reason)
	}

	defs, err := metrics.NewDefinitions()
	if err != nil {
		t.Fatal(err)
	}
	judged := 0
	for _, rec := range st.History {
		if rec.Action == analysis.Hold || len(rec.Verdicts) == 0 {
			continue
		}
		judged++
		for _, vd := range rec.Verdicts {
			def, _ := defs.Lookup(vd.Metric)
			val, err := scraper.Value(ctx, metrics.Query{Definition: def, App: "greeter", Version: vd.Version,
				Cluster: xds.ClusterName("greeter", vd.Version), Start: rec.WindowStart, End: rec.At})
			if err != nil {
				t.Fatalf("iteration %d: direct scrape of %s %s: %v", rec.Iteration, vd.Version, vd.Metric, err)
			}
			pass := (vd.Upper == nil || val.Value <= *vd.Upper) && (vd.Lower == nil || val.Value >= *vd.Lower)
			if pass != vd.Pass {
				t.Errorf("iteration %d %s %s: Prometheus %.4g (pass %v), direct scrape %.4g (pass %v)",
					rec.Iteration, vd.Version, vd.Metric, vd.Value, vd.Pass, val.Value, pass)
			}
			if vd.Metric == metrics.AppMeanLatency && math.Abs(val.Value-vd.Value) > 0.5*vd.Value {
				t.Errorf("iteration %d: mean latency %.3g ms from Prometheus, %.3g ms scraped", rec.Iteration, vd.Value, val.Value)
			}
		}
	}
	if judged < 3 {
		t.Fatalf("only %d judged iterations to compare", judged)
	}
}

// Prometheus stopped mid-experiment: the experiment holds, then rolls
// back, and never promotes.
func TestPrometheusOutageNeverPromotes(t *testing.T) {
	v1 := startSample(t, "v1", "--latency", "3ms")
	v2 := startSample(t, "v2", "--latency", "3ms")
	prom := promserver.Run(t, []string{v1.MetricsURL(), v2.MetricsURL()}, time.Second)

	policy := strings.Replace(prometheusPolicy(v1, v2, prom.URL, 20, 5), "maxNoData: 10", "maxNoData: 3", 1)
	policy = strings.Replace(policy, "interval: 1s", "interval: 2s", 1)
	cp := startServe(t, writePolicy(t, policy))
	drive(t, grpcxds.Dial(t, cp.xds, "outage-client", "clients", "greeter.test"))
	before := cp.waitExperiment(t, "greeter-canary", func(st analysis.State) bool { return st.Iteration >= 1 })

	prom.Stop()
	stoppedAt := time.Now()
	st := cp.waitExperiment(t, "greeter-canary", ended)
	if st.Stage != analysis.RolledBack || st.Route.Weights()["v2"] != 0 {
		t.Fatalf("after the outage: stage %s weights %v: %s", st.Stage, st.Route.Weights(), st.Reason)
	}
	holds := 0
	for _, rec := range st.History[len(before.History):] {
		switch rec.Action {
		case analysis.Advance, analysis.PromoteWinner:
			// A record is stamped before its metrics are read: one stamped
			// after the stop read nothing.
			if rec.At.After(stoppedAt) {
				t.Fatalf("advanced during the outage: %+v", rec)
			}
		case analysis.Hold:
			holds++
		}
	}
	if holds == 0 || !strings.Contains(st.Reason, "intervals in a row without data") {
		t.Fatalf("%d holds; final reason %q: want holds, then a rollback for missing data", holds, st.Reason)
	}
}
