package main

import (
	"context"
	"net/http"
	"testing"
	"time"
)

func TestHTTPAnswersWithVersion(t *testing.T) {
	srv := startServer(t, loopback("v1"))
	for _, path := range []string{"/", "/status/200", "/anything?x=1"} {
		resp, body := get(t, "http://"+srv.HTTPAddr()+path, nil)
		if resp.StatusCode != http.StatusOK || body != "version=v1\n" || resp.Header.Get("x-version") != "v1" {
			t.Errorf("GET %s = %d %q x-version=%q", path, resp.StatusCode, body, resp.Header.Get("x-version"))
		}
	}
	if resp, _ := get(t, "http://"+srv.HTTPAddr()+"/healthz", nil); resp.StatusCode != http.StatusOK {
		t.Errorf("/healthz = %d", resp.StatusCode)
	}
}

// 1000 requests at error rate 0.3 fail 30% ± 5 points. That tolerance is
// 3.4 standard deviations of a binomial(1000, 0.3) (σ ≈ 1.45 points), so
// it holds for almost any seed; the fixed seed makes it hold every run.
func TestHTTPErrorRate(t *testing.T) {
	cfg := loopback("v2")
	cfg.ErrorRate = 0.3
	srv := startServer(t, cfg)
	const n = 1000
	failed := 0
	for range n {
		resp, body := get(t, "http://"+srv.HTTPAddr()+"/", nil)
		switch resp.StatusCode {
		case http.StatusInternalServerError:
			failed++
			if body != "injected error version=v2\n" || resp.Header.Get("x-version") != "v2" {
				t.Fatalf("500 answer %q x-version=%q", body, resp.Header.Get("x-version"))
			}
		case http.StatusOK:
		default:
			t.Fatalf("status %d", resp.StatusCode)
		}
	}
	t.Logf("%d of %d failed", failed, n)
	if rate := float64(failed) / n; rate < 0.25 || rate > 0.35 {
		t.Errorf("%d of %d failed (%.1f%%), want 30%% ± 5", failed, n, 100*rate)
	}
}

// Injected latency shows in what the client sees and in the histogram.
// Only lower bounds: a slow machine may add time, never remove it.
func TestHTTPLatencyRaisesMean(t *testing.T) {
	const latency = 20 * time.Millisecond
	cfg := loopback("v2")
	cfg.Latency = latency
	srv := startServer(t, cfg)
	const n = 10
	var total time.Duration
	for range n {
		start := time.Now()
		get(t, "http://"+srv.HTTPAddr()+"/", nil)
		total += time.Since(start)
	}
	if mean := total / n; mean < latency {
		t.Errorf("client mean latency %v, want ≥ %v", mean, latency)
	}
	h := series(scrape(t, srv), "sampleapp_request_duration_seconds",
		map[string]string{"version": "v2", "protocol": "http", "code": "200", "mirrored": "false"}).GetHistogram()
	if h.GetSampleCount() != n {
		t.Fatalf("histogram count %d, want %d", h.GetSampleCount(), n)
	}
	if mean := h.GetSampleSum() / n; mean < latency.Seconds() {
		t.Errorf("histogram mean %.4fs, want ≥ %v", mean, latency)
	}
}

// A client that gives up ends the injected sleep and is counted as 499.
func TestHTTPClientCancelEndsSleep(t *testing.T) {
	cfg := loopback("v1")
	cfg.Latency = time.Hour
	srv := startServer(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+srv.HTTPAddr()+"/", nil)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatal("an hour-long request answered within 50ms")
	}
	labels := map[string]string{"version": "v1", "protocol": "http", "code": "499", "mirrored": "false"}
	waitFor(t, "the cancelled request to be counted", func() bool {
		return series(scrape(t, srv), "sampleapp_requests_total", labels).GetCounter().GetValue() == 1
	})
}
