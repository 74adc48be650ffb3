package metrics

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// clock is a settable clock for scrape stamps.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) set(sec float64) { c.mu.Lock(); defer c.mu.Unlock(); c.t = at(sec) }

func newTestScraper(t *testing.T, c *clock, defs []Definition, targets ...Target) *Scraper {
	t.Helper()
	s, err := NewScraper(ScraperOptions{Targets: targets, Definitions: defs, Timeout: 200 * time.Millisecond, Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func query(s Provider, def Definition, version string, start, end float64) (Value, error) {
	return s.Value(context.Background(), Query{
		Definition: def, App: testApp, Version: version, Cluster: cluster(version),
		Start: at(start), End: at(end),
	})
}

func builtin(t testing.TB, name string) Definition {
	t.Helper()
	defs, err := NewDefinitions()
	if err != nil {
		t.Fatal(err)
	}
	d, ok := defs.Lookup(name)
	if !ok {
		t.Fatalf("no builtin %s", name)
	}
	return d
}

func near(got, want float64) bool {
	return math.Abs(got-want) <= 1e-9*math.Max(1, math.Abs(want))
}

// TestScraperBuiltins drives the plan's load between two scrapes and checks
// every builtin against the hand-computed values.
func TestScraperBuiltins(t *testing.T) {
	e := newExporter(t)
	c := &clock{}
	s := newTestScraper(t, c, nil, Target{URL: e.url(), Version: AllVersions})
	e.touchPlan()
	c.set(0)
	if err := s.ScrapeNow(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.drivePlan()
	c.set(1)
	if err := s.ScrapeNow(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, tr := range plan() {
		for name, want := range tr.want {
			got, err := query(s, builtin(t, name), tr.version, 0.5, 1.5)
			if err != nil {
				t.Errorf("%s %s: %v", tr.version, name, err)
				continue
			}
			if !near(got.Value, want) {
				t.Errorf("%s %s = %v, want %v", tr.version, name, got.Value, want)
			}
		}
	}
	// The window must include the baseline scrape: [0, 1) sees nothing.
	if _, err := query(s, builtin(t, AppRequestCount), "v2", 0, 0.9); !errors.Is(err, ErrNoData) {
		t.Errorf("window before the traffic: err = %v, want ErrNoData", err)
	}
	// A version nobody serves has no series.
	if _, err := query(s, builtin(t, EnvoyP95Latency), "v9", 0.5, 1.5); !errors.Is(err, ErrNoData) {
		t.Errorf("unknown version: err = %v, want ErrNoData", err)
	}
}

// textCounter is a target exposing one counter whose value the test sets;
// a negative value serves garbage.
type textCounter struct{ v atomic.Int64 }

func (tc *textCounter) body() (string, int) {
	v := tc.v.Load()
	if v < 0 {
		return "hits_total{version=\"v1\" garbage\n", http.StatusOK
	}
	return fmt.Sprintf("# TYPE hits_total counter\nhits_total{version=\"v1\"} %d\n", v), http.StatusOK
}

var hits = Definition{Name: "test/hits", Type: Count, Scrape: ScrapeSpec{Counter: Selector{Family: "hits_total"}}}

func TestScraperCounterReset(t *testing.T) {
	var tc textCounter
	srv := serveText(t, tc.body)
	c := &clock{}
	s := newTestScraper(t, c, []Definition{hits}, Target{URL: srv.URL})
	for i, v := range []int64{100, 130, 4, 10} { // +30, restart (+4), +6
		tc.v.Store(v)
		c.set(float64(i))
		if err := s.ScrapeNow(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	got, err := query(s, hits, "v1", 0, 3)
	if err != nil || got.Value != 40 || got.Samples != 40 {
		t.Fatalf("got %+v, %v; want 40 requests", got, err)
	}
}

func TestScraperPerVersionTargets(t *testing.T) {
	var v1, v2, shared textCounter
	c := &clock{}
	s := newTestScraper(t, c, []Definition{hits},
		Target{URL: serveText(t, v1.body).URL, Version: "v1"},
		Target{URL: serveText(t, v2.body).URL, Version: "v2"},
		Target{URL: serveText(t, shared.body).URL}, // every version
	)
	for i, vals := range [][3]int64{{10, 100, 1}, {15, 130, 2}} {
		v1.v.Store(vals[0])
		v2.v.Store(vals[1])
		shared.v.Store(vals[2])
		c.set(float64(i))
		if err := s.ScrapeNow(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	for version, want := range map[string]float64{"v1": 5 + 1, "v2": 30 + 1} {
		got, err := query(s, hits, version, 0, 1)
		if err != nil || got.Value != want {
			t.Errorf("%s: got %+v, %v; want %v", version, got, err, want)
		}
	}
}

// A target that fails is never read as zero: queries that need it fail,
// and are not mistaken for "no data" either.
func TestScraperFailingTargets(t *testing.T) {
	var good, flaky textCounter
	// Stalls until the scraper gives up and closes the connection.
	stalled := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	t.Cleanup(stalled.Close)
	broken := serveText(t, func() (string, int) { return "oops", http.StatusInternalServerError })

	for _, tc := range []struct {
		name   string
		target func(c *clock) Target
		err    string
	}{
		{"garbage", func(*clock) Target { flaky.v.Store(-1); return Target{URL: serveText(t, flaky.body).URL} }, "parse"},
		{"timeout", func(*clock) Target { return Target{URL: stalled.URL} }, "deadline exceeded"},
		{"HTTP 500", func(*clock) Target { return Target{URL: broken.URL} }, "HTTP 500"},
		{"unreachable", func(*clock) Target { return Target{URL: "http://127.0.0.1:1/metrics"} }, "connection refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			good.v.Store(1)
			c := &clock{}
			s := newTestScraper(t, c, []Definition{hits}, Target{URL: serveText(t, good.body).URL}, tc.target(c))
			for i := range 2 {
				good.v.Add(10)
				c.set(float64(i))
				start := time.Now()
				err := s.ScrapeNow(context.Background())
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("ScrapeNow: err = %v, want %q", err, tc.err)
				}
				if d := time.Since(start); d > 2*time.Second {
					t.Fatalf("scrape took %s despite a 200ms timeout", d)
				}
			}
			_, err := query(s, hits, "v1", 0, 1)
			if err == nil || errors.Is(err, ErrNoData) || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("Value: err = %v, want a failure with %q", err, tc.err)
			}
		})
	}
}

func TestScraperRecoversAfterFailure(t *testing.T) {
	var tc textCounter
	c := &clock{}
	s := newTestScraper(t, c, []Definition{hits}, Target{URL: serveText(t, tc.body).URL})
	for i, v := range []int64{5, -1, 9} { // ok, garbage, ok
		tc.v.Store(v)
		c.set(float64(i))
		s.ScrapeNow(context.Background())
	}
	if got, err := query(s, hits, "v1", 0, 2); err != nil || got.Value != 4 {
		t.Fatalf("got %+v, %v; want 4 across the failed scrape", got, err)
	}
	if _, err := query(s, hits, "v1", 0, 1.5); err == nil || errors.Is(err, ErrNoData) {
		t.Fatalf("window ending on the failed scrape: err = %v, want a failure", err)
	}
}

func TestScraperStaleAndEarly(t *testing.T) {
	var tc textCounter
	c := &clock{}
	s := newTestScraper(t, c, []Definition{hits}, Target{URL: serveText(t, tc.body).URL})
	if _, err := query(s, hits, "v1", 0, 1); !errors.Is(err, ErrNoData) {
		t.Fatalf("before any scrape: err = %v, want ErrNoData", err)
	}
	tc.v.Store(1)
	c.set(10)
	s.ScrapeNow(context.Background())
	if _, err := query(s, hits, "v1", 0, 100); err == nil || errors.Is(err, ErrNoData) || !strings.Contains(err.Error(), "stale") {
		t.Fatalf("long after the last scrape: err = %v, want a stale failure", err)
	}
}

func TestScraperRefusesUnkeptMetrics(t *testing.T) {
	var tc textCounter
	s := newTestScraper(t, &clock{}, []Definition{hits}, Target{URL: serveText(t, tc.body).URL})
	_, err := query(s, builtin(t, EnvoyErrorRate), "v1", 0, 1)
	if err == nil || errors.Is(err, ErrNoData) || !strings.Contains(err.Error(), "not kept") {
		t.Fatalf("err = %v", err)
	}
}

func TestNewScraperChecksOptions(t *testing.T) {
	_, err := NewScraper(ScraperOptions{Targets: []Target{{}}, Definitions: []Definition{{Name: "bad"}}})
	if err == nil || !strings.Contains(err.Error(), "no URL") || !strings.Contains(err.Error(), `metric "bad"`) {
		t.Fatalf("err = %v", err)
	}
	if _, err := NewScraper(ScraperOptions{}); err == nil {
		t.Fatal("no targets: no error")
	}
}

// TestScraperRunConcurrent runs the loop while queries read, for the race
// detector, and checks Run ends with its context.
func TestScraperRunConcurrent(t *testing.T) {
	e := newExporter(t)
	e.touchPlan()
	s, err := NewScraper(ScraperOptions{Targets: []Target{{URL: e.url()}}, Interval: 5 * time.Millisecond, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := s.ScrapeNow(ctx); err != nil { // the baseline, before any traffic
		t.Fatal(err)
	}
	start := time.Now()
	done := make(chan error)
	go func() { done <- s.Run(ctx) }()
	var wg sync.WaitGroup
	wg.Go(func() {
		for range 20 {
			e.drivePlan()
			time.Sleep(2 * time.Millisecond)
		}
	})
	deadline := time.Now().Add(5 * time.Second)
	var got Value
	for time.Now().Before(deadline) {
		got, err = s.Value(ctx, Query{Definition: builtin(t, EnvoyP95Latency), App: testApp, Version: "v2", Cluster: cluster("v2"), Start: start, End: time.Now()})
		if err == nil && got.Samples == 2000 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	wg.Wait()
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if got.Samples != 2000 || !near(got.Value, 175) {
		t.Fatalf("got %+v, %v; want p95 175 ms over 2000 requests", got, err)
	}
}
