package ui_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/shadowplane/shadowplane/admin"
	"github.com/shadowplane/shadowplane/admin/ui"
	"github.com/shadowplane/shadowplane/analysis"
	"github.com/shadowplane/shadowplane/policy"
	"github.com/shadowplane/shadowplane/policy/files"
)

// startBrowser starts a headless chromium with a fresh profile, bounded
// in time as a whole, and collects what the page logs.
func startBrowser(t *testing.T) (context.Context, *browserLog) {
	t.Helper()
	if _, err := os.Stat(chromium); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is missing: CI must install Debian's chromium (apt-get install -y chromium)", chromium)
		}
		t.Skipf("%s is missing: install Debian's chromium (apt-get install -y chromium) to run the browser test", chromium)
	}
	bounded, cancelBound := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancelBound)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(bounded,
		chromedp.ExecPath(chromium), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 900))
	t.Cleanup(cancelAlloc)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(cancel)
	var blog browserLog
	if err := chromedp.Listen(ctx, blog.listen); err != nil {
		t.Fatalf("starting %s: %v", chromium, err)
	}
	return ctx, &blog
}

// controlPolicy has one canary that looks at its metrics once an hour:
// within the test it never judges, so only the controls move it.
const controlPolicy = `kind: App
name: shop
port: 10000
variants:
  - {name: v1, endpoints: ["127.0.0.1:9001"]}
  - {name: v2, endpoints: ["127.0.0.1:9002"]}
routes:
  - name: checkout
    split:
      - {variant: v1, weight: 90}
      - {variant: v2, weight: 10}
---
kind: Experiment
name: checkout-canary
app: shop
route: checkout
testing: Canary
baseline: v1
candidates: [v2]
interval: 1h
maxStepDuration: 2h
steps: {stepWeight: 10}
objectives:
  - {metric: error-rate, upperLimit: 0.01}
metrics: {targets: {"*": ["http://127.0.0.1:9901/stats/prometheus"]}}
`

// instantACKs is a Publisher whose proxies take every model at once.
type instantACKs struct{}

func (instantACKs) Publish(context.Context, *policy.Model) error { return nil }
func (instantACKs) WaitRoutes(context.Context, string) error     { return nil }

// controlledRunner is a real analysis.Runner on a file store, running
// controlPolicy read by a real watcher.
func controlledRunner(t *testing.T) (*analysis.Runner, *files.Watcher) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "shop.yaml"), []byte(controlPolicy), 0o644); err != nil {
		t.Fatal(err)
	}
	w, err := files.NewWatcher(dir, files.WatcherOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if probs := files.Problems(w.Status()); len(probs) > 0 {
		t.Fatalf("fixture policy rejected: %v", probs)
	}
	store, err := analysis.NewStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	never := analysis.ObserverFunc(func(context.Context, *policy.Experiment, time.Time, time.Time) analysis.Observations { return nil })
	r, err := analysis.NewRunner(analysis.RunnerConfig{Store: store, Observer: never, Publisher: instantACKs{}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.Start(ctx)
	t.Cleanup(func() {
		cancel()
		r.Wait()
	})
	if err := r.SetModel(ctx, w.Model()); err != nil {
		t.Fatal(err)
	}
	return r, w
}

// TestBrowserControls clicks pause on an experiment: without the token
// and with a wrong one nothing happens and the page says why (401); with
// the right one the experiment pauses, and the token, kept for the tab,
// resumes it without being asked again.
func TestBrowserControls(t *testing.T) {
	ctx, blog := startBrowser(t)
	runner, w := controlledRunner(t)
	const token = "s3cret-token"
	tok, err := admin.NewToken(token)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /ui/", ui.Handler())
	mux.Handle("/", admin.NewHandler(admin.Config{
		Proxies: proxies{}, Policies: w, Experiments: runner, Controls: runner, Token: tok,
		Ready: func() bool { return true }, Gatherer: prometheus.NewRegistry(),
	}))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	card := `[data-experiment="checkout-canary"]`
	button := func(action string) string { return card + ` [data-testid="control"][data-action="` + action + `"]` }
	wait, cancelWait := context.WithTimeout(ctx, 30*time.Second)
	defer cancelWait()
	if err := chromedp.Do(wait,
		chromedp.Navigate(srv.URL+"/ui/"),
		chromedp.WaitVisible(chromedp.CSS(button("pause"))),
	); err != nil {
		t.Fatalf("no pause button: %v", err)
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(wait, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("reading %s: %v", sel, err)
		}
		return s
	}

	// No token: the page asks for it, sends nothing.
	if err := chromedp.Do(wait,
		chromedp.Click(chromedp.CSS(button("pause"))),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="control-token"]`)),
		chromedp.SendKeys(chromedp.CSS(`[data-testid="control-reason"]`), "p95 looks odd"),
		chromedp.Click(chromedp.CSS(`[data-testid="control-confirm"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="control-error"]`)),
	); err != nil {
		t.Fatal(err)
	}
	if got := text(`[data-testid="control-error"]`); !strings.Contains(got, "token is needed") {
		t.Errorf("without a token the dialog says %q", got)
	}

	// A wrong token: the API answers 401, the page shows it and keeps
	// nothing.
	if err := chromedp.Do(wait,
		chromedp.SendKeys(chromedp.CSS(`[data-testid="control-token"]`), "wrong"),
		chromedp.Click(chromedp.CSS(`[data-testid="control-confirm"]`)),
		chromedp.Poll[chromedp.Void](`document.querySelector('[data-testid="control-error"]').textContent.includes('401')`),
	); err != nil {
		t.Fatalf("no 401 shown for a wrong token: %v", err)
	}
	if st := runner.States()[0]; st.Stage != analysis.Running || len(st.Events) != 0 {
		t.Fatalf("without the right token the experiment changed: %s, events %+v", st.Stage, st.Events)
	}
	if kept, err := chromedp.Run(wait, chromedp.Evaluate[string](`sessionStorage.getItem('shadowplane.adminToken') || ''`)); err != nil || kept != "" {
		t.Errorf("a refused token was kept: %q (%v)", kept, err)
	}

	// The right token: the experiment pauses and the page shows it.
	if err := chromedp.Do(wait,
		chromedp.SendKeys(chromedp.CSS(`[data-testid="control-token"]`), token),
		chromedp.Click(chromedp.CSS(`[data-testid="control-confirm"]`)),
		chromedp.WaitVisible(chromedp.CSS(card+`[data-stage="Paused"]`)),
		chromedp.WaitNotVisible(chromedp.CSS(`[data-testid="control-dialog"]`)),
	); err != nil {
		t.Fatalf("the page did not show the experiment paused: %v", err)
	}
	if got := text(card + ` [data-testid="reason"]`); !strings.HasPrefix(got, "paused by token: p95 looks odd") {
		t.Errorf("reason shown %q", got)
	}
	if got := text(card + ` [data-testid="event"]`); !strings.Contains(got, "pause") || !strings.Contains(got, "token") || !strings.Contains(got, "p95 looks odd") {
		t.Errorf("the history shows %q, want the pause by token with its reason", got)
	}

	// The token is kept for the tab: resume does not ask for it.
	if err := chromedp.Do(wait,
		chromedp.Click(chromedp.CSS(button("resume"))),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="control-reason"]`)),
	); err != nil {
		t.Fatal(err)
	}
	if asked, err := chromedp.Run(wait, chromedp.Evaluate[bool](`!document.getElementById('control-token-row').hidden`)); err != nil || asked {
		t.Errorf("the token was asked again (%v)", err)
	}
	if err := chromedp.Do(wait,
		chromedp.Click(chromedp.CSS(`[data-testid="control-confirm"]`)),
		chromedp.WaitVisible(chromedp.CSS(card+`[data-stage="Running"]`)),
	); err != nil {
		t.Fatalf("the page did not show the experiment resumed: %v", err)
	}

	st := runner.States()[0]
	if n := len(st.Events); n != 2 || st.Events[0].Action != "pause" || st.Events[1].Action != "resume" || st.Events[0].Reason != "p95 looks odd" {
		t.Errorf("events %+v, want the pause with its reason, then the resume", st.Events)
	}
	if rows, err := chromedp.Run(wait, chromedp.Evaluate[int](`document.querySelectorAll('[data-testid="event"]').length`)); err != nil || rows != 2 {
		t.Errorf("%d history rows shown (%v), want 2", rows, err)
	}

	// The page's own origin without the token: 401, nothing changes.
	code, err := chromedp.Run(wait, chromedp.Evaluate[int](`fetch('../api/v1/experiments/checkout-canary/abort', {method: 'POST'}).then((r) => r.status)`,
		chromedp.EvalAwaitPromise))
	if err != nil || code != http.StatusUnauthorized {
		t.Errorf("POST without the token from the page = %d (%v), want 401", code, err)
	}
	if st := runner.States()[0]; st.Stage != analysis.Running {
		t.Errorf("after the refused abort the experiment is %s", st.Stage)
	}

	blog.mu.Lock()
	defer blog.mu.Unlock()
	for _, e := range blog.errors {
		if strings.Contains(e, "401") { // the refused token, shown on the page
			continue
		}
		t.Errorf("browser error: %s", e)
	}
	for _, u := range blog.requests {
		if !strings.HasPrefix(u, srv.URL+"/") {
			t.Errorf("the page requested %s, outside its origin", u)
		}
	}
}

// TestBrowserRefusesCrossSiteForm: a page of another site makes the
// browser post a form to the admin API; the API refuses it and the
// experiment does not change.
func TestBrowserRefusesCrossSiteForm(t *testing.T) {
	ctx, _ := startBrowser(t)
	runner, w := controlledRunner(t)
	tok, err := admin.NewToken("s3cret-token")
	if err != nil {
		t.Fatal(err)
	}
	api := httptest.NewServer(admin.NewHandler(admin.Config{
		Proxies: proxies{}, Policies: w, Experiments: runner, Controls: runner, Token: tok,
		Ready: func() bool { return true }, Gatherer: prometheus.NewRegistry(),
	}))
	defer api.Close()
	// The other site: localhost, where the API is 127.0.0.1. Its form
	// sends a JSON-looking text/plain body, as CSRF pages do.
	evil := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) {
		rw.Header().Set("Content-Type", "text/html")
		fmt.Fprintf(rw, `<!doctype html><form method="POST" enctype="text/plain" action="%s/api/v1/experiments/checkout-canary/abort">`+
			`<input name='{"reason":"x","a":"' value='"}'></form><script>document.forms[0].submit()</script>`, api.URL)
	}))
	defer evil.Close()
	evilURL := strings.Replace(evil.URL, "127.0.0.1", "localhost", 1)

	wait, cancelWait := context.WithTimeout(ctx, 30*time.Second)
	defer cancelWait()
	if err := chromedp.Do(wait,
		chromedp.Navigate(evilURL),
		chromedp.Poll[chromedp.Void](`location.href.includes('/abort') && document.body && document.body.innerText.includes('cross-site request refused')`),
	); err != nil {
		body, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href + ' ' + (document.body ? document.body.innerText : '')`))
		t.Fatalf("the cross-site form was not refused as cross-site: %v (page: %s)", err, body)
	}
	if st := runner.States()[0]; st.Stage != analysis.Running || len(st.Events) != 0 {
		t.Errorf("after the cross-site form the experiment is %s, events %+v", st.Stage, st.Events)
	}
}
