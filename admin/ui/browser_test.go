package ui_test

import (
	"context"
	"fmt"
	"math"
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
  const of = (root, sel, variant) => root.querySelectorAll(sel + '[data-variant="' + CSS.escape(variant) + '"]');
  return {
    stage: card.dataset.stage,
    reason: card.querySelector('[data-testid="reason"]').textContent,
    iteration: card.querySelector('[data-testid="iteration"]').textContent,
    weights: card.querySelector('[data-testid="weights"]').textContent,
    evidence: card.querySelector('[data-testid="evidence"]').textContent,
    lines: [...chart.querySelectorAll('[data-testid="weights-line"]')].map((p) => ({
      variant: p.dataset.variant, points: +p.dataset.points,
      markers: of(chart, 'circle', p.dataset.variant).length,
    })),
    objectives: [...card.querySelectorAll('[data-testid="objective-chart"]')].map((f) => ({
      metric: f.dataset.metric, objective: +f.dataset.objective,
      checks: [...f.querySelectorAll('[data-testid="check-chart"]')].map((c) => ({
        check: +c.dataset.check,
        limits: c.querySelectorAll('[data-testid="limit-line"]').length,
        bands: [...c.querySelectorAll('[data-testid="band"]')].map((b) => ({
          variant: b.dataset.variant, points: +b.dataset.points,
          estimates: of(c, '[data-testid="estimate"]', b.dataset.variant).length,
          outcomes: [...of(c, 'circle', b.dataset.variant)].map((p) => p.dataset.outcome),
          classes: [...of(c, 'circle', b.dataset.variant)].map((p) => p.getAttribute('class')),
          fill: getComputedStyle(b).fill, opacity: +getComputedStyle(b).fillOpacity,
          colour: getComputedStyle(of(c, '[data-testid="estimate"]', b.dataset.variant)[0]).stroke,
        })),
      })),
      whys: [...f.querySelectorAll('[data-testid="why"]')].map((w) => ({ variant: w.dataset.variant, text: w.textContent })),
      notes: [...f.querySelectorAll('[data-testid="note"]')].map((n) => n.textContent),
    })),
    decisions: [...card.querySelectorAll('[data-testid="decision"]')].map((r) => r.textContent),
  };
})(%s)`

type card struct {
	Stage, Reason, Iteration, Weights, Evidence string
	Lines                                       []struct {
		Variant         string
		Points, Markers int
	}
	Objectives []struct {
		Metric    string
		Objective int
		Checks    []struct {
			Check, Limits int
			Bands         []band
		}
		Whys []struct {
			Variant, Text string
		}
		Notes []string
	}
	Decisions []string
}

// band is what the page draws of one check for one version: the interval
// band, the estimate line and a point per look.
type band struct {
	Variant           string
	Points, Estimates int
	Outcomes, Classes []string
	Fill, Colour      string
	Opacity           float64
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
	type tm = map[string]traffic
	// serve is one version's traffic over an interval: n requests, errs
	// of them errors, 3 % converting, latency lognormal around median ms.
	serve := func(n, errs, median, sigma float64) traffic {
		return traffic{requests: n, errors: errs, conversions: math.Round(0.03 * n), median: median, sigma: sigma}
	}

	// The canary: v2 starts at 10 %, advances twice, holds on a look
	// with too few of its requests in the step, advances again. Its error
	// rate is not decided yet, then shown under 1 %.
	canary := newRun(t, m, "checkout-canary", start)
	canary.look(at(10), tm{"v1": serve(1800, 3, 20, .5), "v2": serve(200, 0, 21, .5)})
	canary.look(at(20), tm{"v1": serve(1600, 3, 20, .5), "v2": serve(400, 1, 21, .5)})
	canary.look(at(30), tm{"v1": serve(60, 0, 20, .5), "v2": serve(12, 0, 21, .5)})
	canary.look(at(40), tm{"v1": serve(2800, 4, 20, .5), "v2": serve(1200, 1, 21, .5)})
	wantActions(t, canary, analysis.Advance, analysis.Advance, analysis.Hold, analysis.Advance)
	if got := v2Weights(canary); !slices.Equal(got, []uint32{20, 30, 30, 40}) {
		t.Fatalf("fixture: canary weights of v2 %v, want 10 → 20 → 30 → (hold) → 40", got)
	}
	if !strings.Contains(canary.state.History[2].Reason, "12 requests in this step") {
		t.Fatalf("fixture: the canary held for another reason: %s", canary.state.History[2].Reason)
	}
	wantOutcomes(t, canary, 0, "v2", analysis.Pending, analysis.Pending, analysis.Pending, analysis.Pass)

	// The A/B test: v3 is slow; its p95 objective is shown failing from
	// the second look, but an A/B test fails only when every version
	// does: it advances.
	ab := newRun(t, m, "search-ab", start)
	for _, s := range []int{10, 20, 30} {
		ab.look(at(s), tm{"v1": serve(600, 0, 30, .5), "v2": serve(600, 0, 28, .5), "v3": serve(600, 0, 110, .6)})
	}
	wantActions(t, ab, analysis.Advance, analysis.Advance, analysis.Advance)
	wantOutcomes(t, ab, 0, "v1", analysis.Pass, analysis.Pass, analysis.Pass)
	wantOutcomes(t, ab, 0, "v3", analysis.Pending, analysis.Fail, analysis.Fail)

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
		// 3 % of v2's 2000 requests fail: 2 % over the experiment, shown
		// over 1 %.
		canary.look(at(50), tm{"v1": serve(3000, 5, 20, .5), "v2": serve(2000, 62, 21, .5)})
	})
	wantActions(t, canary, analysis.Advance, analysis.Advance, analysis.Hold, analysis.Advance, analysis.RollBack)
	wantOutcomes(t, canary, 0, "v2", analysis.Pending, analysis.Pending, analysis.Pending, analysis.Pass, analysis.Fail)
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
// failing maps each objective metric to the versions with a point marked
// failing.
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
	if want := "every request since " + st.WindowStart.Local().Format("15:04:05"); st.Stage == analysis.Running && !strings.HasPrefix(c.Evidence, want) {
		t.Errorf("%s: evidence %q, want it to start with %q", name, c.Evidence, want)
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

	// The looks that judged something, in order; the objective charts
	// have a point per look, version and check.
	var looks []analysis.Record
	for _, r := range st.History {
		if len(r.Verdicts) > 0 {
			looks = append(looks, r)
		}
	}
	if len(looks) == 0 {
		t.Fatalf("%s: no look judged anything; the fixture is wrong", name)
	}
	last := looks[len(looks)-1]
	if len(c.Objectives) != len(st.Spec.Objectives) {
		t.Fatalf("%s: %d objective charts, want %d", name, len(c.Objectives), len(st.Spec.Objectives))
	}
	for i, o := range st.Spec.Objectives {
		oc := c.Objectives[i]
		if oc.Metric != o.Metric || oc.Objective != i {
			t.Errorf("%s: objective chart %d is of %s (objective %d), want %s", name, i, oc.Metric, oc.Objective, o.Metric)
			continue
		}
		var latest []analysis.Verdict
		for _, vd := range last.Verdicts {
			if vd.Objective == i {
				latest = append(latest, vd)
			}
		}
		if len(oc.Checks) != len(latest[0].Checks) {
			t.Errorf("%s: %s has %d check charts, want one per limit: %d", name, o.Metric, len(oc.Checks), len(latest[0].Checks))
			continue
		}
		var marked []string
		for k, cc := range oc.Checks {
			if cc.Check != k || cc.Limits != 1 {
				t.Errorf("%s: %s check chart %d is check %d with %d limit lines, want 1", name, o.Metric, k, cc.Check, cc.Limits)
			}
			var bandVersions []string
			for _, b := range cc.Bands {
				bandVersions = append(bandVersions, b.Variant)
				// A look with fewer than minSamples requests in the step
				// has no check: no point there, a gap in the band.
				var want []string
				for _, r := range looks {
					for _, vd := range r.Verdicts {
						if vd.Objective == i && vd.Version == b.Variant && k < len(vd.Checks) {
							want = append(want, string(vd.Checks[k].Outcome))
						}
					}
				}
				if len(want) < len(looks)-1 {
					t.Errorf("%s: the fixture has %s check %d for %s at %d of %d looks; want it at all but the one with too few requests", name, o.Metric, k, b.Variant, len(want), len(looks))
				}
				if b.Points != len(want) || b.Estimates != 1 || !slices.Equal(b.Outcomes, want) {
					t.Errorf("%s: %s check %d of %s: band of %d points, %d estimate lines, points %v; want %d points, 1 line, %v",
						name, o.Metric, k, b.Variant, b.Points, b.Estimates, b.Outcomes, len(want), want)
				}
				for j, cls := range b.Classes {
					if j < len(b.Outcomes) && !slices.Contains(strings.Fields(cls), b.Outcomes[j]) {
						t.Errorf("%s: %s point %d of %s has class %q, not its outcome %s", name, o.Metric, j, b.Variant, cls, b.Outcomes[j])
					}
				}
				if slices.Contains(b.Outcomes, string(analysis.Fail)) && !slices.Contains(marked, b.Variant) {
					marked = append(marked, b.Variant)
				}
				// Readable: the band is the version's colour, see-through.
				if b.Fill != b.Colour || b.Opacity <= 0 || b.Opacity > 0.5 {
					t.Errorf("%s: %s band of %s filled %s at opacity %v, want its line's colour %s, see-through", name, o.Metric, b.Variant, b.Fill, b.Opacity, b.Colour)
				}
			}
			var judged []string
			for _, vd := range latest {
				judged = append(judged, vd.Version)
			}
			if !slices.Equal(bandVersions, judged) {
				t.Errorf("%s: %s check %d has bands for %v, want one per judged version %v", name, o.Metric, k, bandVersions, judged)
			}
		}
		if !slices.Equal(marked, failing[o.Metric]) {
			t.Errorf("%s: %s marks %v failing, want %v", name, o.Metric, marked, failing[o.Metric])
		}
		var whys []string
		for _, w := range oc.Whys {
			whys = append(whys, w.Variant+": "+w.Text)
		}
		var wantWhys, notes []string
		for _, vd := range latest {
			wantWhys = append(wantWhys, vd.Version+": "+vd.Why)
			for _, ck := range vd.Checks {
				if ck.Note != "" && !slices.Contains(notes, ck.Note) {
					notes = append(notes, ck.Note)
				}
			}
		}
		if !slices.Equal(whys, wantWhys) {
			t.Errorf("%s: %s says why\n%q\nwant the last look's\n%q", name, o.Metric, whys, wantWhys)
		}
		for _, note := range notes {
			if !slices.ContainsFunc(oc.Notes, func(s string) bool { return strings.Contains(s, note) }) {
				t.Errorf("%s: %s notes %q lack %q", name, o.Metric, oc.Notes, note)
			}
		}
		if len(oc.Notes) != len(notes) {
			t.Errorf("%s: %s shows %d notes, want %d", name, o.Metric, len(oc.Notes), len(notes))
		}
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

// wantOutcomes checks the fixture: the outcomes of objective i for
// version at each look, so that the page is tested on what it means to
// show.
func wantOutcomes(t *testing.T, r *run, i int, version string, want ...analysis.Outcome) {
	t.Helper()
	var got []analysis.Outcome
	var why string
	for _, rec := range r.state.History {
		for _, vd := range rec.Verdicts {
			if vd.Objective == i && vd.Version == version {
				got, why = append(got, vd.Outcome), vd.Why
			}
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("fixture: %s %s %s outcomes %v, want %v (last: %s)", r.spec.Name, version, r.spec.Objectives[i].Metric, got, want, why)
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
