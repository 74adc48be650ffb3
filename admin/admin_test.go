package admin

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shadowplane/shadowplane/policy/files"
	"github.com/shadowplane/shadowplane/xds/server"
	"github.com/shadowplane/shadowplane/xds/server/snapshot"
)

func newTestAPI(t *testing.T) (*httptest.Server, *atomic.Bool) {
	t.Helper()
	dir := t.TempDir()
	data, err := os.ReadFile("../examples/mirroring/app.yaml")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "app.yaml"), data, 0o644)
	os.WriteFile(filepath.Join(dir, "broken.yaml"), []byte("kind: App\nname: x\nbogus: 1\n"), 0o644)
	w, err := files.NewWatcher(dir, files.WatcherOptions{})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	m := server.NewMetrics(reg)
	c := server.NewCache(server.CacheOptions{OnPush: m.Pushed})
	if err := c.SetGeneration(snapshot.NewGeneration(w.Model())); err != nil {
		t.Fatal(err)
	}
	var ready atomic.Bool
	srv := httptest.NewServer(NewHandler(Config{
		Proxies: server.NewRegistry(c, m), Snapshots: c, Policies: w, Ready: ready.Load, Gatherer: reg,
	}))
	t.Cleanup(srv.Close)
	return srv, &ready
}

func get(t *testing.T, srv *httptest.Server, path string) (int, string) {
	t.Helper()
	resp, err := http.Get(srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestHealthAndReadiness(t *testing.T) {
	srv, ready := newTestAPI(t)
	if code, _ := get(t, srv, "/healthz"); code != 200 {
		t.Errorf("/healthz = %d", code)
	}
	if code, _ := get(t, srv, "/readyz"); code != 503 {
		t.Errorf("/readyz before the first policy = %d, want 503", code)
	}
	ready.Store(true)
	if code, _ := get(t, srv, "/readyz"); code != 200 {
		t.Errorf("/readyz after = %d", code)
	}
}

func TestPoliciesShowProblemsWithLines(t *testing.T) {
	srv, _ := newTestAPI(t)
	code, body := get(t, srv, "/api/v1/policies")
	var st struct {
		Files []files.FileStatus
	}
	if err := json.Unmarshal([]byte(body), &st); err != nil || code != 200 {
		t.Fatalf("/api/v1/policies = %d %v: %s", code, err, body)
	}
	var broken *files.FileStatus
	for i := range st.Files {
		if strings.HasSuffix(st.Files[i].Path, "broken.yaml") {
			broken = &st.Files[i]
		}
	}
	if broken == nil || broken.OK || len(broken.Problems) == 0 || broken.Problems[0].Line != 3 {
		t.Fatalf("broken.yaml status %+v: want rejected with a problem at line 3", broken)
	}
}

func TestConfigDump(t *testing.T) {
	srv, _ := newTestAPI(t)
	if code, _ := get(t, srv, "/debug/config_dump"); code != 400 {
		t.Errorf("without node = %d, want 400", code)
	}
	if code, body := get(t, srv, "/debug/config_dump?node=ghost"); code != 404 || !strings.Contains(body, "cluster=NAME") {
		t.Errorf("unknown node = %d %s, want 404 with a hint", code, body)
	}
	code, body := get(t, srv, "/debug/config_dump?node=preview&cluster=edge")
	if code != 200 {
		t.Fatalf("preview = %d %s", code, body)
	}
	var d snapshot.Dump
	if err := json.Unmarshal([]byte(body), &d); err != nil {
		t.Fatal(err)
	}
	if d.Group != "envoy" || len(d.Routes) != 1 || !strings.Contains(string(d.Routes[0]), `400000`) {
		t.Errorf("dump group %q routes %s: want the envoy group with a 40%% mirror", d.Group, d.Routes)
	}
}

func TestMetricsAndProxies(t *testing.T) {
	srv, _ := newTestAPI(t)
	code, body := get(t, srv, "/metrics")
	if code != 200 || !strings.Contains(body, "shadowplane_xds_snapshot_errors_total") {
		t.Errorf("/metrics = %d, lacks shadowplane metrics", code)
	}
	code, body = get(t, srv, "/api/v1/proxies")
	if code != 200 || !strings.Contains(body, `"proxies": []`) {
		t.Errorf("/api/v1/proxies = %d %s", code, body)
	}
	if code, _ := get(t, srv, "/api/v1/nothing"); code != 404 {
		t.Errorf("unknown path = %d", code)
	}
}
