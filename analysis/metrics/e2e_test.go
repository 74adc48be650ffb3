package metrics

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/shadowplane/shadowplane/test/promserver"
)

// TestProvidersAgainstRealPrometheus drives known traffic at an exporter
// that both a real Prometheus and the Scraper read every second, and
// checks that both providers give the hand-computed values over the same
// window, and so agree.
//
// Tolerance: 1e-9 relative (float noise only). That is exact on purpose
// and holds because of how the window is laid: every series exists at 0
// before Start, Prometheus has scraped once more after Start before the
// traffic, and End is a Prometheus scrape instant. PromQL's increase()
// then has nothing to extrapolate (its first sample in the window is 0 and
// its last is at End), so Prometheus counts exactly what the Scraper's
// deltas count. Real windows are not so aligned: Prometheus's counts are
// then extrapolated by up to a scrape interval's share of the window,
// while ratios, means and quantiles stay close.
func TestProvidersAgainstRealPrometheus(t *testing.T) {
	e := newExporter(t)
	e.touchPlan()
	srv := promserver.Run(t, []string{e.url()}, time.Second)
	prom, err := NewPrometheus(PrometheusOptions{Address: srv.URL, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	scraper, err := NewScraper(ScraperOptions{Targets: []Target{{URL: e.url(), Version: AllVersions}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := scraper.ScrapeNow(ctx); err != nil {
		t.Fatal(err)
	}
	go scraper.Run(ctx)

	start := time.Now()
	srv.ScrapedAfter(t, start) // Prometheus's first sample in the window: all zeros
	e.drivePlan()
	if err := scraper.ScrapeNow(ctx); err != nil {
		t.Fatal(err)
	}
	end := srv.ScrapedAfter(t, time.Now())

	for _, tr := range plan() {
		for name, want := range tr.want {
			q := Query{Definition: builtin(t, name), App: testApp, Version: tr.version, Cluster: cluster(tr.version), Start: start, End: end}
			fromProm, errProm := prom.Value(ctx, q)
			fromScrape, errScrape := scraper.Value(ctx, q)
			if errProm != nil || errScrape != nil {
				t.Errorf("%s %s: prometheus: %v; scrape: %v", tr.version, name, errProm, errScrape)
				continue
			}
			if !near(fromProm.Value, want) || !near(fromScrape.Value, want) {
				t.Errorf("%s %s: prometheus %v, scrape %v, want %v", tr.version, name, fromProm.Value, fromScrape.Value, want)
			}
			if !near(fromProm.Samples, fromScrape.Samples) {
				t.Errorf("%s %s: samples: prometheus %v, scrape %v", tr.version, name, fromProm.Samples, fromScrape.Samples)
			}
			// The counts the analysis judges on agree too: a ratio's
			// events, a histogram's buckets (in ms, after Scale).
			if !near(fromProm.Events, fromScrape.Events) {
				t.Errorf("%s %s: events: prometheus %v, scrape %v", tr.version, name, fromProm.Events, fromScrape.Events)
			}
			if len(fromProm.Buckets) != len(fromScrape.Buckets) {
				t.Errorf("%s %s: %d buckets from prometheus, %d scraped", tr.version, name, len(fromProm.Buckets), len(fromScrape.Buckets))
				continue
			}
			for i, b := range fromScrape.Buckets {
				if p := fromProm.Buckets[i]; p.UpperBound != b.UpperBound || !near(p.Count, b.Count) {
					t.Errorf("%s %s: bucket %d: prometheus %+v, scrape %+v", tr.version, name, i, p, b)
				}
			}
		}
	}

	t.Run("several series is an error", func(t *testing.T) {
		d := Definition{Name: "test/unaggregated", Type: Count, Prometheus: PrometheusQueries{
			Value:   `increase(sampleapp_requests_total{version="{{.Version}}"}[{{.Window}}])`, // one per code
			Samples: `sum(increase(sampleapp_requests_total{version="{{.Version}}"}[{{.Window}}]))`,
		}}
		_, err := prom.Value(ctx, Query{Definition: d, App: testApp, Version: "v2", Cluster: cluster("v2"), Start: start, End: end})
		if err == nil || errors.Is(err, ErrNoData) || !strings.Contains(err.Error(), "2 series") || !strings.Contains(err.Error(), "increase(sampleapp_requests_total") {
			t.Fatalf("err = %v, want a failure naming the query and 2 series", err)
		}
	})

	t.Run("no traffic is no data", func(t *testing.T) {
		q := Query{Definition: builtin(t, EnvoyErrorRate), App: testApp, Version: "v9", Cluster: cluster("v9"), Start: start, End: end}
		if _, err := prom.Value(ctx, q); !errors.Is(err, ErrNoData) {
			t.Errorf("prometheus: err = %v, want ErrNoData", err)
		}
		if _, err := scraper.Value(ctx, q); !errors.Is(err, ErrNoData) {
			t.Errorf("scrape: err = %v, want ErrNoData", err)
		}
	})

	t.Run("prometheus stopped is an error, not a value", func(t *testing.T) {
		srv.Stop()
		q := Query{Definition: builtin(t, EnvoyP95Latency), App: testApp, Version: "v2", Cluster: cluster("v2"), Start: start, End: end}
		v, err := prom.Value(ctx, q)
		if err == nil || errors.Is(err, ErrNoData) {
			t.Fatalf("got %+v, %v; want a failure", v, err)
		}
	})
}
