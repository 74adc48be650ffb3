package main

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// mirrorHeader is the header (gRPC: metadata key) shadowplane sets to
// "true" on mirrored copies. It equals policy.MirrorHeader; the sample app
// keeps its own copy because a real app would not import the control plane.
const mirrorHeader = "x-shadowplane-mirror"

const (
	protoHTTP = "http"
	protoGRPC = "grpc"
)

// metrics are what an experiment compares between versions: mean and p95
// latency from the histogram, error rate from the two counters. The
// mirrored label keeps dark traffic apart from live traffic.
type metrics struct {
	duration *prometheus.HistogramVec
	requests *prometheus.CounterVec
	errors   *prometheus.CounterVec
}

// latencyBuckets are 1 ms to 2.5 s in 1-2-5 steps, the seeds' limits (50
// and 100 ms) among them: a latency objective whose limit is a bucket
// bound is judged exactly, one inside a bucket only within the bucket.
var latencyBuckets = []float64{0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5}

// newMetrics registers the sample app's metrics on reg. The version is a
// constant label because one process is one version.
func newMetrics(reg prometheus.Registerer, version string, protocols ...string) *metrics {
	constLabels := prometheus.Labels{"version": version}
	m := &metrics{
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:        "sampleapp_request_duration_seconds",
			Help:        "Time from handler entry to response, injected latency included.",
			ConstLabels: constLabels,
			Buckets:     latencyBuckets,
		}, []string{"protocol", "code", "mirrored"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name:        "sampleapp_requests_total",
			Help:        "Requests answered, by protocol, status code and whether they were mirrored.",
			ConstLabels: constLabels,
		}, []string{"protocol", "code", "mirrored"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name:        "sampleapp_errors_total",
			Help:        "Requests answered with an injected error (HTTP 500, gRPC Unavailable).",
			ConstLabels: constLabels,
		}, []string{"protocol", "mirrored"}),
	}
	reg.MustRegister(m.duration, m.requests, m.errors)
	// Start the error counters at zero, so an error-rate query reads 0
	// rather than no data for a version that has not failed yet.
	for _, p := range protocols {
		m.errors.WithLabelValues(p, "false")
		m.errors.WithLabelValues(p, "true")
	}
	return m
}

// observe records one answered request.
func (m *metrics) observe(protocol, code string, mirrored, failed bool, took time.Duration) {
	mir := strconv.FormatBool(mirrored)
	m.duration.WithLabelValues(protocol, code, mir).Observe(took.Seconds())
	m.requests.WithLabelValues(protocol, code, mir).Inc()
	if failed {
		m.errors.WithLabelValues(protocol, mir).Inc()
	}
}
