package ui_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/shadowplane/shadowplane/admin"
	"github.com/shadowplane/shadowplane/admin/ui"
	"github.com/shadowplane/shadowplane/policy/files"
	"github.com/shadowplane/shadowplane/xds/server"
)

// TestBrowserSaysProxiesArePaged: with more proxies than a page, the web
// view shows the first page and says how many there are in all, rather
// than passing a part off as the whole.
func TestBrowserSaysProxiesArePaged(t *testing.T) {
	if _, err := os.Stat(chromium); err != nil {
		t.Skipf("%s is missing: install Debian's chromium (apt-get install -y chromium) to run the browser test", chromium)
	}
	n := admin.DefaultProxiesPage + 100
	now := time.Now()
	many := make(proxies, n)
	for i := range many {
		many[i] = server.Proxy{StreamID: int64(i + 1), NodeID: fmt.Sprintf("edge-%d", i+1), Cluster: "edge", Kind: "envoy",
			Group: "envoy", Protocol: "sotw", ConnectedAt: now, Types: map[string]*server.TypeStatus{"Listener": acked("1")}}
	}
	mux := http.NewServeMux()
	mux.Handle("GET /ui/", ui.Handler())
	// And more policy files than a page of /api/v1/policies.
	dir := t.TempDir()
	nFiles := admin.DefaultPoliciesPage + 5
	for i := range nFiles {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%03d.yaml", i)), []byte("kind: App\nname: x\nbogus: 1\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	policies, err := files.NewWatcher(dir, files.WatcherOptions{})
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle("/", admin.NewHandler(admin.Config{
		Proxies: many, Policies: policies,
		Ready: func() bool { return true }, Gatherer: prometheus.NewRegistry(),
	}))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	bounded, cancelBound := context.WithTimeout(context.Background(), time.Minute)
	defer cancelBound()
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(bounded,
		chromedp.ExecPath(chromium), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true), chromedp.UserDataDir(t.TempDir()))
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(allocCtx)
	defer cancel()

	if err := chromedp.Do(ctx,
		chromedp.Navigate(srv.URL+"/ui/"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="proxies-table"]`)),
	); err != nil {
		t.Fatalf("page did not render: %v", err)
	}
	rows, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('[data-testid="proxies-table"] tbody tr').length`))
	if err != nil {
		t.Fatal(err)
	}
	note, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(document.querySelector('#proxies-body p.meta') || {}).textContent || ''`))
	if err != nil {
		t.Fatal(err)
	}
	if rows != admin.DefaultProxiesPage {
		t.Errorf("the table has %d rows, want a page of %d", rows, admin.DefaultProxiesPage)
	}
	if want := fmt.Sprintf("first %d of %d proxies", admin.DefaultProxiesPage, n); !strings.Contains(note, want) {
		t.Errorf("note %q, want it to say %q", note, want)
	}

	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(`[data-testid="policies-more"]`))); err != nil {
		t.Fatalf("the policies section does not say it shows a page: %v", err)
	}
	fileRows, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('[data-testid="policies-table"] tbody tr').length`))
	if err != nil {
		t.Fatal(err)
	}
	pnote, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('[data-testid="policies-more"]').textContent`))
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("first %d of %d policy files", admin.DefaultPoliciesPage, nFiles); fileRows != admin.DefaultPoliciesPage || !strings.Contains(pnote, want) {
		t.Errorf("policies: %d rows, note %q; want %d rows and a note saying %q", fileRows, pnote, admin.DefaultPoliciesPage, want)
	}
}

// liveProxies is an admin.Proxies the test changes while the page is open.
type liveProxies struct {
	mu sync.Mutex
	ps []server.Proxy
}

func (l *liveProxies) Proxies() []server.Proxy {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.ps)
}
func (l *liveProxies) Node(string) (*core.Node, bool) { return nil, false }

// set connects proxies edge-1 … edge-n (stream IDs 1 … n).
func (l *liveProxies) set(n int) {
	now := time.Now()
	ps := make([]server.Proxy, n)
	for i := range ps {
		ps[i] = server.Proxy{StreamID: int64(i + 1), NodeID: fmt.Sprintf("edge-%d", i+1), Cluster: "edge", Kind: "envoy",
			Group: "envoy", Protocol: "sotw", ConnectedAt: now, Types: map[string]*server.TypeStatus{"Listener": acked("1")}}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ps = ps
}

// TestBrowserPagesThrough walks the proxies and the policy files page by
// page with the pager, at a page size of 3 (/ui/?limit=3): Next shows the
// next page and its range, polling keeps to the page on view, a page
// emptied by proxies gone falls back to the last page that still holds
// some (or the first), and Previous and First go back.
func TestBrowserPagesThrough(t *testing.T) {
	ctx, blog := startBrowser(t)
	live := &liveProxies{}
	live.set(7)
	dir := t.TempDir()
	for i := range 5 {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%d.yaml", i+1)), []byte("kind: App\nname: x\nbogus: 1\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	policies, err := files.NewWatcher(dir, files.WatcherOptions{})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /ui/", ui.Handler())
	mux.Handle("/", admin.NewHandler(admin.Config{
		Proxies: live, Policies: policies,
		Ready: func() bool { return true }, Gatherer: prometheus.NewRegistry(),
	}))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	// shows waits, for at most 20 s (polls are 1.5 s apart), until the
	// section's pager says rng (none: no pager) and its rows are rows.
	shows := func(section, rowAttr, rng string, rows ...string) {
		t.Helper()
		cond := fmt.Sprintf(`(() => {
			const r = document.querySelector('[data-testid="%[1]s-range"]');
			const rows = [...document.querySelectorAll('[data-testid="%[2]s-table"] tbody tr')].map((tr) => tr.getAttribute('%[3]s'));
			return (r ? r.textContent : 'none') === %[4]q && rows.join(',') === %[5]q;
		})()`, section, map[string]string{"proxies": "proxies", "files": "policies"}[section], rowAttr, rng, strings.Join(rows, ","))
		if err := chromedp.Do(ctx, chromedp.Poll[chromedp.Void](cond, chromedp.WithPollingTimeout(20*time.Second))); err != nil {
			got, _ := chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(`((document.querySelector('[data-testid="%s-range"]') || {}).textContent || 'none') + ' / ' + `+
				`[...document.querySelectorAll('[data-testid="%s-table"] tbody tr')].map((tr) => tr.getAttribute('%s')).join(',')`,
				section, map[string]string{"proxies": "proxies", "files": "policies"}[section], rowAttr)))
			t.Fatalf("%s: want range %q and rows %v; the page shows %s (%v)", section, rng, rows, got, err)
		}
	}
	click := func(button string) {
		t.Helper()
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`[data-testid="`+button+`"]:not([disabled])`))); err != nil {
			t.Fatalf("clicking %s: %v", button, err)
		}
	}
	disabled := func(button string) bool {
		t.Helper()
		d, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector('[data-testid="`+button+`"]').disabled`))
		if err != nil {
			t.Fatalf("reading %s: %v", button, err)
		}
		return d
	}
	edges := func(from, to int) []string {
		var out []string
		for i := from; i <= to; i++ {
			out = append(out, fmt.Sprintf("edge-%d", i))
		}
		return out
	}

	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/ui/?limit=3")); err != nil {
		t.Fatal(err)
	}
	shows("proxies", "data-node", "proxies 1–3 of 7", edges(1, 3)...)
	if !disabled("proxies-prev") || !disabled("proxies-first") || disabled("proxies-next") {
		t.Error("on the first page, Previous and First should be disabled and Next enabled")
	}
	click("proxies-next")
	shows("proxies", "data-node", "proxies 4–6 of 7", edges(4, 6)...)

	// A poll refreshes the page on view, not the first: a new proxy is
	// counted while page 2 stays.
	live.set(8)
	shows("proxies", "data-node", "proxies 4–6 of 8", edges(4, 6)...)
	click("proxies-next")
	shows("proxies", "data-node", "proxies 7–8 of 8", edges(7, 8)...)
	if !disabled("proxies-next") || disabled("proxies-prev") {
		t.Error("on the last page, Next should be disabled and Previous enabled")
	}

	// Proxies 7 and 8 leave: the page on view is gone, the view falls
	// back to the last page that still holds proxies.
	live.set(6)
	shows("proxies", "data-node", "proxies 4–6 of 6", edges(4, 6)...)
	click("proxies-prev")
	shows("proxies", "data-node", "proxies 1–3 of 6", edges(1, 3)...)

	// Down to page 2, then all but two leave: back to the first page,
	// which holds them all, so no pager.
	click("proxies-next")
	shows("proxies", "data-node", "proxies 4–6 of 6", edges(4, 6)...)
	live.set(2)
	shows("proxies", "data-node", "none", edges(1, 2)...)

	// The policy files: Next, then First.
	files := func(from, to int) []string {
		var out []string
		for i := from; i <= to; i++ {
			out = append(out, filepath.Join(dir, fmt.Sprintf("f%d.yaml", i)))
		}
		return out
	}
	shows("files", "data-file", "policy files 1–3 of 5", files(1, 3)...)
	click("files-next")
	shows("files", "data-file", "policy files 4–5 of 5", files(4, 5)...)
	click("files-first")
	shows("files", "data-file", "policy files 1–3 of 5", files(1, 3)...)

	blog.mu.Lock()
	defer blog.mu.Unlock()
	for _, e := range blog.errors {
		t.Errorf("browser error: %s", e)
	}
	for _, u := range blog.requests {
		// Each poll asks for one page: never a list without the view's limit.
		if strings.Contains(u, "/api/v1/proxies") && !strings.Contains(u, "limit=3") {
			t.Errorf("the page requested %s, not a page of 3", u)
		}
	}
}
