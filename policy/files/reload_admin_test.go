package files_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shadowplane/shadowplane/admin"
	"github.com/shadowplane/shadowplane/policy/files"
)

// The admin API's view of the policy files answers while a reload is
// held: /api/v1/policies from the last reload, /metrics with the reload
// counters (issue 13: a FIFO or a slow file froze both while /healthz
// said 200).
func TestAdminAnswersDuringReload(t *testing.T) {
	dir := t.TempDir()
	app := "kind: App\nname: a\nhosts: [a.example.com]\nport: 10000\nvariants: [{name: v1, endpoints: [\"127.0.0.1:9001\"]}]\nroutes: [{split: [{variant: v1}]}]\n"
	if err := os.WriteFile(filepath.Join(dir, "a.yaml"), []byte(app), 0o644); err != nil {
		t.Fatal(err)
	}
	w, err := files.NewWatcher(dir, files.WatcherOptions{})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "test_policy_reloads", Help: "Reloads."},
		func() float64 { return float64(w.Stats().Reloads) }))
	srv := httptest.NewServer(admin.NewHandler(admin.Config{Policies: w, Gatherer: reg}))
	t.Cleanup(srv.Close)

	if err := os.WriteFile(filepath.Join(dir, "b.yaml"), []byte("kind: App\nbogus: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	entered, release := files.HoldReads(w, filepath.Join(dir, "b.yaml"))
	done := make(chan error, 1)
	go func() { done <- w.Reload() }()
	<-entered

	get := func(path string) string {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("%s = %d: %s", path, resp.StatusCode, b)
		}
		return string(b)
	}
	var body struct {
		Files []files.FileStatus `json:"files"`
		Total int                `json:"total"`
	}
	if err := json.Unmarshal([]byte(get("/api/v1/policies")), &body); err != nil {
		t.Fatal(err)
	}
	if body.Total != 1 || len(body.Files) != 1 || !body.Files[0].OK {
		t.Errorf("/api/v1/policies during the reload: %+v; want a.yaml alone, good", body)
	}
	if m := get("/metrics"); !strings.Contains(m, "test_policy_reloads 1") {
		t.Errorf("/metrics during the reload lacks test_policy_reloads 1:\n%s", m)
	}

	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(get("/api/v1/policies")), &body); err != nil {
		t.Fatal(err)
	}
	if body.Total != 2 || len(body.Files) != 2 || body.Files[1].OK {
		t.Errorf("/api/v1/policies after the reload: %+v; want a.yaml and b.yaml rejected", body)
	}
}
