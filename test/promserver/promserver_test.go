package promserver

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
)

func TestConfig(t *testing.T) {
	got, err := config([]string{"http://127.0.0.1:8080/metrics", "https://127.0.0.1:9901/stats/prometheus", "http://127.0.0.1:7"}, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	want := `global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: "target0"
    scheme: http
    metrics_path: "/metrics"
    static_configs:
      - targets: ["127.0.0.1:8080"]
  - job_name: "target1"
    scheme: https
    metrics_path: "/stats/prometheus"
    static_configs:
      - targets: ["127.0.0.1:9901"]
  - job_name: "target2"
    scheme: http
    metrics_path: "/metrics"
    static_configs:
      - targets: ["127.0.0.1:7"]
`
	if got != want {
		t.Errorf("config:\n%s\nwant:\n%s", got, want)
	}
	if _, err := config([]string{"not a url"}, time.Second); err == nil {
		t.Error("bad target: no error")
	}
}

func TestStartScrapesTarget(t *testing.T) {
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("# TYPE probe_total counter\nprobe_total 42\n"))
	}))
	t.Cleanup(target.Close)
	srv := Run(t, []string{target.URL + "/metrics"}, time.Second)
	at := srv.ScrapedAfter(t, time.Now())

	c, err := api.NewClient(api.Config{Address: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	res, _, _, err := v1.NewAPI(c).Query(context.Background(), `probe_total{job="`+JobName(0)+`"}`, at)
	if err != nil {
		t.Fatal(err)
	}
	if vec, ok := res.(model.Vector); !ok || len(vec) != 1 || vec[0].Value != 42 {
		t.Fatalf("probe_total = %v, want 42", res)
	}
	srv.Stop()
	srv.Stop() // idempotent
	if _, err := http.Get(srv.URL + "/-/ready"); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("after Stop: %v", err)
	}
}
