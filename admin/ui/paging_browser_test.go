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
