package main

import (
	"net/http"
	"slices"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape reads /metrics as Prometheus would.
func scrape(t *testing.T, srv *Server) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get("http://" + srv.HTTPAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return families
}

// series finds the metric of family name whose labels are exactly labels;
// nil if there is none.
func series(families map[string]*dto.MetricFamily, name string, labels map[string]string) *dto.Metric {
	mf := families[name]
	if mf == nil {
		return nil
	}
	for _, m := range mf.GetMetric() {
		if len(m.GetLabel()) != len(labels) {
			continue
		}
		if !slices.ContainsFunc(m.GetLabel(), func(l *dto.LabelPair) bool { return labels[l.GetName()] != l.GetValue() }) {
			return m
		}
	}
	return nil
}

// waitFor polls until cond holds, for a request the client gave up on:
// the server records it only when it notices.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func TestMetricsLabels(t *testing.T) {
	srv := startServer(t, loopback("v2"))
	base := "http://" + srv.HTTPAddr()
	get(t, base+"/", nil)
	get(t, base+"/a/path", nil)
	get(t, base+"/", http.Header{"X-Shadowplane-Mirror": {"true"}})
	c := dialGRPC(t, srv.GRPCAddr())
	unary(t, c, nil)
	unary(t, c, map[string]string{mirrorHeader: "true"})

	families := scrape(t, srv)
	for name, typ := range map[string]dto.MetricType{
		"sampleapp_request_duration_seconds": dto.MetricType_HISTOGRAM,
		"sampleapp_requests_total":           dto.MetricType_COUNTER,
		"sampleapp_errors_total":             dto.MetricType_COUNTER,
	} {
		if got := families[name].GetType(); got != typ {
			t.Errorf("%s is %v, want %v", name, got, typ)
		}
	}
	for _, tc := range []struct {
		protocol, code, mirrored string
		count                    float64
	}{
		{"http", "200", "false", 2},
		{"http", "200", "true", 1},
		{"grpc", "OK", "false", 1},
		{"grpc", "OK", "true", 1},
	} {
		labels := map[string]string{"version": "v2", "protocol": tc.protocol, "code": tc.code, "mirrored": tc.mirrored}
		if m := series(families, "sampleapp_requests_total", labels); m.GetCounter().GetValue() != tc.count {
			t.Errorf("sampleapp_requests_total%v = %v, want %v", labels, m.GetCounter().GetValue(), tc.count)
		}
		h := series(families, "sampleapp_request_duration_seconds", labels).GetHistogram()
		if float64(h.GetSampleCount()) != tc.count {
			t.Errorf("sampleapp_request_duration_seconds_count%v = %d, want %v", labels, h.GetSampleCount(), tc.count)
		}
		if b := h.GetBucket(); len(b) < 11 || b[0].GetUpperBound() != 0.001 || b[5].GetUpperBound() != 0.05 || b[6].GetUpperBound() != 0.1 || b[10].GetUpperBound() != 2.5 {
			t.Errorf("buckets %v, want 1 ms to 2.5 s in 1-2-5 steps, 50 and 100 ms among them (then +Inf)", b)
		}
	}
	// The error counters exist at zero before any error, so an error-rate
	// query has data from the start.
	for _, proto := range []string{"http", "grpc"} {
		for _, mirrored := range []string{"false", "true"} {
			labels := map[string]string{"version": "v2", "protocol": proto, "mirrored": mirrored}
			if m := series(families, "sampleapp_errors_total", labels); m == nil || m.GetCounter().GetValue() != 0 {
				t.Errorf("sampleapp_errors_total%v = %v, want 0", labels, m)
			}
		}
	}
	// /metrics and /healthz are not the app's traffic.
	get(t, base+"/healthz", nil)
	if m := series(scrape(t, srv), "sampleapp_requests_total", map[string]string{"version": "v2", "protocol": "http", "code": "200", "mirrored": "false"}); m.GetCounter().GetValue() != 2 {
		t.Errorf("after scrapes and a health check, http 200 count = %v, want 2", m.GetCounter().GetValue())
	}
}

func TestMetricsCountErrors(t *testing.T) {
	cfg := loopback("v1")
	cfg.ErrorRate = 1
	srv := startServer(t, cfg)
	get(t, "http://"+srv.HTTPAddr()+"/", http.Header{"X-Shadowplane-Mirror": {"true"}})
	unaryErr(t, dialGRPC(t, srv.GRPCAddr()))
	families := scrape(t, srv)
	for _, want := range []struct {
		name   string
		labels map[string]string
	}{
		{"sampleapp_errors_total", map[string]string{"version": "v1", "protocol": "http", "mirrored": "true"}},
		{"sampleapp_errors_total", map[string]string{"version": "v1", "protocol": "grpc", "mirrored": "false"}},
		{"sampleapp_requests_total", map[string]string{"version": "v1", "protocol": "http", "code": "500", "mirrored": "true"}},
		{"sampleapp_requests_total", map[string]string{"version": "v1", "protocol": "grpc", "code": "Unavailable", "mirrored": "false"}},
	} {
		if m := series(families, want.name, want.labels); m.GetCounter().GetValue() != 1 {
			t.Errorf("%s%v = %v, want 1", want.name, want.labels, m.GetCounter().GetValue())
		}
	}
}
