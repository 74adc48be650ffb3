package ui_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/shadowplane/shadowplane/admin"
	"github.com/shadowplane/shadowplane/admin/ui"
	"github.com/shadowplane/shadowplane/analysis"
)

// chromium is Debian's package; CI installs it.
const chromium = "/usr/bin/chromium"

// screenshot is where the test leaves a picture of the page, from this
// package's directory (test/results is git-ignored).
const screenshot = "../../test/results/ui.png"

// cardJS reads what the page shows of one experiment, through the stable
// data-* hooks the page sets for tests.
const cardJS = `((name) => {
  const card = document.querySelector('[data-experiment="' + CSS.escape(name) + '"]');
  if (!card) return null;
  const chart = card.querySelector('[data-testid="weights-chart"]');
  return {
    stage: card.dataset.stage,
    reason: card.querySelector('[data-testid="reason"]').textContent,
    iteration: card.querySelector('[data-testid="iteration"]').textContent,
    weights: card.querySelector('[data-testid="weights"]').textContent,
    lines: [...chart.querySelectorAll('[data-testid="weights-line"]')].map((p) => ({
      variant: p.dataset.variant, points: +p.dataset.points,
      markers: chart.querySelectorAll('circle[data-variant="' + CSS.escape(p.dataset.variant) + '"]').length,
    })),
    objectives: [...card.querySelectorAll('[data-testid="objective-chart"]')].map((f) => ({
      metric: f.dataset.metric,
      limits: f.querySelectorAll('[data-testid="limit-line"]').length,
      failing: [...f.querySelectorAll('circle[data-pass="false"]')].map((c) => c.dataset.variant),
      markers: f.querySelectorAll('circle').length,
    })),
    decisions: [...card.querySelectorAll('[data-testid="decision"]')].map((r) => r.textContent),
  };
})(%s)`

type card struct {
	Stage, Reason, Iteration, Weights string
	Lines                             []struct {
		Variant         string
		Points, Markers int
	}
	Objectives []struct {
		Metric          string
		Limits, Markers int
		Failing         []string
	}
	Decisions []string
}

// browserLog collects what the page must not do: log an error (a CSP
// violation, a failed request, an exception) or contact another origin.
type browserLog struct {
	mu       sync.Mutex
	errors   []string
	requests []string
}

func (b *browserLog) listen(ev any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch ev := ev.(type) {
	case *log.EventEntryAdded:
		if ev.Entry.Level == log.EntryLevelError {
			b.errors = append(b.errors, fmt.Sprintf("%s: %s (%s)", ev.Entry.Source, ev.Entry.Text, ev.Entry.URL))
		}
	case *runtime.EventConsoleAPICalled:
		if ev.Type == runtime.ConsoleAPICalledTypeError {
			b.errors = append(b.errors, "console.error called")
		}
	case *runtime.EventExceptionThrown:
		text := ev.ExceptionDetails.Text
		if ex := ev.ExceptionDetails.Exception; ex != nil {
			text += " " + ex.Description
		}
		b.errors = append(b.errors, "exception: "+text)
	case *network.EventRequestWillBeSent:
		b.requests = append(b.requests, ev.Request.URL)
	}
}

func TestBrowserShowsLiveState(t *testing.T) {
	if _, err := os.Stat(chromium); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is missing: CI must install Debian's chromium (apt-get install -y chromium)", chromium)
		}
		t.Skipf("%s is missing: install Debian's chromium (apt-get install -y chromium) to run the browser test", chromium)
	}

	// The data: real policy files through a real watcher, experiments
	// judged by the real analysis.Evaluate, all served by the real admin
	// API next to the page.
	w := writePolicies(t)
	m := w.Model()
	start := time.Date(2026, 8, 20, 14, 30, 0, 0, time.Local)
	at := func(s int) time.Time { return start.Add(time.Duration(s) * time.Second) }
	type mv = map[string]map[string]float64

	canary := newRun(t, m, "checkout-canary", start)
	canary.step(at(10), obs(200, mv{"v1": {"error-rate": .002, "p95-latency": 80}, "v2": {"error-rate": .004, "p95-latency": 86}}))
	canary.step(at(20), obs(200, mv{"v1": {"error-rate": .002, "p95-latency": 82}, "v2": {"error-rate": .006, "p95-latency": 91}}))
	canary.step(at(30), obs(12, mv{"v1": {"error-rate": .003, "p95-latency": 79}, "v2": {"error-rate": .002, "p95-latency": 84}}))
	canary.step(at(40), obs(200, mv{"v1": {"error-rate": .002, "p95-latency": 81}, "v2": {"error-rate": .005, "p95-latency": 88}}))
	wantActions(t, canary, analysis.Advance, analysis.Advance, analysis.Hold, analysis.Advance)
	if got := v2Weights(canary); !slices.Equal(got, []uint32{10, 20, 20, 30}) {
		t.Fatalf("fixture: canary weights of v2 %v, want 10 → 20 (hold) → 30", got)
	}

	ab := newRun(t, m, "search-ab", start)
	ab.step(at(10), obs(300, mv{"v1": {"p95-latency": 100, "conversion": .031}, "v2": {"p95-latency": 95, "conversion": .034}, "v3": {"p95-latency": 110, "conversion": .029}}))
	ab.step(at(20), obs(300, mv{"v1": {"p95-latency": 104, "conversion": .030}, "v2": {"p95-latency": 97, "conversion": .036}, "v3": {"p95-latency": 135, "conversion": .033}}))
	ab.step(at(30), obs(300, mv{"v1": {"p95-latency": 99, "conversion": .032}, "v2": {"p95-latency": 94, "conversion": .035}, "v3": {"p95-latency": 118, "conversion": .030}}))
	wantActions(t, ab, analysis.Advance, analysis.Advance, analysis.Advance)

	exps := &experiments{runs: []*run{canary, ab}}
	mux := http.NewServeMux()
	mux.Handle("GET /ui/", ui.Handler())
	mux.Handle("/", admin.NewHandler(admin.Config{
		Proxies: testProxies(start), Policies: w, Experiments: exps,
		Ready: func() bool { return true }, Gatherer: prometheus.NewRegistry(),
	}))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	// The browser: a fresh profile, quiet, bounded in time as a whole.
	bounded, cancelBound := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancelBound()
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(bounded,
		chromedp.ExecPath(chromium), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 900))
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(allocCtx)
	defer cancel()
	var blog browserLog
	if err := chromedp.Listen(ctx, blog.listen); err != nil {
		t.Fatalf("starting %s: %v", chromium, err)
	}

	if err := chromedp.Do(ctx,
		chromedp.Navigate(srv.URL+"/ui/"),
		chromedp.WaitVisible(chromedp.CSS(`[data-experiment="search-ab"] [data-testid="objective-chart"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="policies-table"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="proxies-table"]`)),
	); err != nil {
		t.Fatalf("page did not render: %v", err)
	}
	read := func(name string) card {
		t.Helper()
		c, err := chromedp.Run(ctx, chromedp.Evaluate[*card](fmt.Sprintf(cardJS, strconv.Quote(name))))
		if err != nil || c == nil {
			t.Fatalf("reading experiment %s: %v (card %v)", name, err, c)
		}
		return *c
	}

	checkCard(t, read("checkout-canary"), canary.state, map[string][]string{"error-rate": nil, "p95-latency": nil})
	checkCard(t, read("search-ab"), ab.state, map[string][]string{"p95-latency": {"v3"}})

	// Policies: the broken file with its file:line: problem.
	problems, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](
		`[...document.querySelectorAll('[data-ok="false"] [data-testid="problem"]')].map((li) => li.textContent)`))
	if err != nil || len(problems) == 0 || !strings.Contains(problems[0], "broken.yaml:3: ") {
		t.Errorf("problems of broken.yaml on the page = %q (%v), want one at broken.yaml:3:", problems, err)
	}
	okFiles, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('tr[data-ok="true"]').length`))
	if okFiles != 1 {
		t.Errorf("%d files shown ok, want 1 (shop.yaml)", okFiles)
	}

	// Proxies: ACK state per type; the NACK's error shown as text, its
	// markup inert.
	states, err := chromedp.Run(ctx, chromedp.Evaluate[map[string][]string](`Object.fromEntries(
		[...document.querySelectorAll('tr[data-node]')].map((tr) => [tr.dataset.node, [...tr.querySelectorAll('td[data-state]')].map((td) => td.dataset.state)]))`))
	if err != nil {
		t.Fatal(err)
	}
	wantStates := map[string][]string{
		"edge-1":          {"acked", "acked", "acked", "pending", "acked"},
		"checkout-client": {"acked", "acked", "acked", "nack", "none"},
	}
	for node, want := range wantStates {
		if !slices.Equal(states[node], want) {
			t.Errorf("ACK states of %s (CDS EDS LDS RDS RTDS) = %v, want %v", node, states[node], want)
		}
	}
	nack, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('td[data-state="nack"] .err').textContent`))
	scripts, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.scripts.length`))
	if nack != nackError || scripts != 1 {
		t.Errorf("NACK cell text %q and %d scripts; want the error verbatim as text and only app.js", nack, scripts)
	}

	// Change the data: the canary's next interval fails and rolls back.
	// The page must follow without reloading or jumping.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[chromedp.Void](`window.notReloaded = true; window.scrollTo(0, 400)`)); err != nil {
		t.Fatal(err)
	}
	exps.update(func() {
		canary.step(at(50), obs(200, mv{"v1": {"error-rate": .002, "p95-latency": 80}, "v2": {"error-rate": .031, "p95-latency": 90}}))
	})
	wantActions(t, canary, analysis.Advance, analysis.Advance, analysis.Hold, analysis.Advance, analysis.RollBack)
	waitCtx, cancelWait := context.WithTimeout(ctx, 15*time.Second)
	defer cancelWait()
	if err := chromedp.Do(waitCtx, chromedp.WaitVisible(chromedp.CSS(`[data-experiment="checkout-canary"][data-stage="RolledBack"]`))); err != nil {
		t.Fatalf("page did not show the rollback within 15 s: %v", err)
	}
	kept, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.notReloaded === true && window.scrollY === 400`))
	if err != nil || !kept {
		y, _ := chromedp.Run(ctx, chromedp.Evaluate[float64](`window.scrollY`))
		t.Errorf("after the update the page was reloaded or scrolled (scrollY %v, %v)", y, err)
	}
	checkCard(t, read("checkout-canary"), exps.States()[0], map[string][]string{"error-rate": {"v2"}, "p95-latency": nil})

	// A picture for people.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, 0)`)); err != nil {
		t.Fatal(err)
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(screenshot), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(screenshot, png, 0o644); err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs(screenshot)
	t.Logf("screenshot: %s", abs)

	blog.mu.Lock()
	defer blog.mu.Unlock()
	for _, e := range blog.errors {
		t.Errorf("browser error: %s", e)
	}
	for _, u := range blog.requests {
		if !strings.HasPrefix(u, srv.URL+"/") {
			t.Errorf("the page requested %s, outside its origin", u)
		}
	}
}

// checkCard compares what the page shows of an experiment with its state.
// failing maps each objective metric to the versions whose points must be
// marked failing.
func checkCard(t *testing.T, c card, st analysis.State, failing map[string][]string) {
	t.Helper()
	name, n := st.Experiment, len(st.History)
	if c.Stage != string(st.Stage) || c.Reason != st.Reason {
		t.Errorf("%s: stage %q reason %q, want %q %q", name, c.Stage, c.Reason, st.Stage, st.Reason)
	}
	if want := fmt.Sprintf("iteration %d / %d", st.Iteration, st.Spec.Iterations); c.Iteration != want {
		t.Errorf("%s: %q, want %q", name, c.Iteration, want)
	}
	for v, w := range st.Route.Weights() {
		if want := fmt.Sprintf("%s %d%%", v, w); !strings.Contains(c.Weights, want) {
			t.Errorf("%s: weights %q lack %q", name, c.Weights, want)
		}
	}
	var variants []string
	for _, l := range c.Lines {
		variants = append(variants, l.Variant)
		if l.Points != n || l.Markers != n {
			t.Errorf("%s: weights line of %s has %d points and %d markers, want %d", name, l.Variant, l.Points, l.Markers, n)
		}
	}
	if want := st.Spec.Versions(); !slices.Equal(variants, want) {
		t.Errorf("%s: weights lines for %v, want one per variant %v", name, variants, want)
	}
	var metrics []string
	for _, o := range c.Objectives {
		metrics = append(metrics, o.Metric)
		if o.Limits != 1 {
			t.Errorf("%s: objective %s has %d limit lines, want 1", name, o.Metric, o.Limits)
		}
		if o.Markers == 0 {
			t.Errorf("%s: objective %s has no points", name, o.Metric)
		}
		if !slices.Equal(o.Failing, failing[o.Metric]) {
			t.Errorf("%s: objective %s marks %v failing, want %v", name, o.Metric, o.Failing, failing[o.Metric])
		}
	}
	var wantMetrics []string
	for _, o := range st.Spec.Objectives {
		wantMetrics = append(wantMetrics, o.Metric)
	}
	if !slices.Equal(metrics, wantMetrics) {
		t.Errorf("%s: objective charts %v, want %v", name, metrics, wantMetrics)
	}
	if len(c.Decisions) != n {
		t.Fatalf("%s: %d decision rows, want %d", name, len(c.Decisions), n)
	}
	for i, r := range st.History {
		if !strings.Contains(c.Decisions[i], r.Reason) || !strings.Contains(c.Decisions[i], string(r.Action)) {
			t.Errorf("%s: decision row %d = %q, want %s with reason %q", name, i+1, c.Decisions[i], r.Action, r.Reason)
		}
	}
}

func wantActions(t *testing.T, r *run, want ...analysis.Action) {
	t.Helper()
	var got []analysis.Action
	for _, rec := range r.state.History {
		got = append(got, rec.Action)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("fixture: %s actions %v, want %v (reasons: %s)", r.spec.Name, got, want, r.state.Reason)
	}
}

func v2Weights(r *run) []uint32 {
	var out []uint32
	for _, rec := range r.state.History {
		out = append(out, rec.Weights["v2"])
	}
	return out
}
