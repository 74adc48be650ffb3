package metrics

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// envoyBuckets are Envoy's default histogram bucket bounds (ms).
var envoyBuckets = []float64{0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000}

// exporter is a test target exposing, from its own registry, the series
// the sample app and Envoy expose, labelled the same way. Envoy's cluster
// of a version is testApp_<version>.
type exporter struct {
	srv        *httptest.Server
	appDur     *prometheus.HistogramVec
	appReq     *prometheus.CounterVec
	appErr     *prometheus.CounterVec
	envoyTime  *prometheus.HistogramVec
	envoyXX    *prometheus.CounterVec
	envoyTotal *prometheus.CounterVec
}

const testApp = "shop"

func cluster(version string) string { return testApp + "_" + version }

func newExporter(t testing.TB) *exporter {
	reg := prometheus.NewRegistry()
	e := &exporter{
		appDur: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: appDuration, Help: "Request duration.", Buckets: prometheus.DefBuckets,
		}, []string{"version", "protocol", "code", "mirrored"}),
		appReq: prometheus.NewCounterVec(prometheus.CounterOpts{Name: appRequests, Help: "Requests."},
			[]string{"version", "protocol", "code", "mirrored"}),
		appErr: prometheus.NewCounterVec(prometheus.CounterOpts{Name: appErrors, Help: "Errors."},
			[]string{"version", "protocol", "mirrored"}),
		envoyTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: envoyRqTime, Help: "Upstream request time (ms).", Buckets: envoyBuckets,
		}, []string{"envoy_cluster_name"}),
		envoyXX: prometheus.NewCounterVec(prometheus.CounterOpts{Name: envoyRqXX, Help: "Responses by class."},
			[]string{"envoy_response_code_class", "envoy_cluster_name"}),
		envoyTotal: prometheus.NewCounterVec(prometheus.CounterOpts{Name: envoyRqTotal, Help: "Upstream requests."},
			[]string{"envoy_cluster_name"}),
	}
	reg.MustRegister(e.appDur, e.appReq, e.appErr, e.envoyTime, e.envoyXX, e.envoyTotal)
	e.srv = httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	t.Cleanup(e.srv.Close)
	return e
}

func (e *exporter) url() string { return e.srv.URL + "/metrics" }

// touch creates a version's series at zero, as a running app and Envoy
// have them before the window starts. withErrors also creates the error
// series, which Envoy creates only at the first 5xx.
func (e *exporter) touch(version string, mirrored, withErrors bool) {
	m := strconv.FormatBool(mirrored)
	codes := []string{"200"}
	if withErrors {
		codes = append(codes, "500")
		e.appErr.WithLabelValues(version, "http", m)
		e.envoyXX.WithLabelValues("5", cluster(version))
	}
	for _, c := range codes {
		e.appDur.WithLabelValues(version, "http", c, m)
		e.appReq.WithLabelValues(version, "http", c, m)
	}
	e.envoyTime.WithLabelValues(cluster(version))
	e.envoyXX.WithLabelValues("2", cluster(version))
	e.envoyTotal.WithLabelValues(cluster(version))
}

// request records one request as both the app and Envoy would.
func (e *exporter) request(version string, latency time.Duration, code int, mirrored bool) {
	m, c := strconv.FormatBool(mirrored), strconv.Itoa(code)
	e.appDur.WithLabelValues(version, "http", c, m).Observe(latency.Seconds())
	e.appReq.WithLabelValues(version, "http", c, m).Inc()
	if code >= 500 {
		e.appErr.WithLabelValues(version, "http", m).Inc()
	}
	e.envoyTime.WithLabelValues(cluster(version)).Observe(float64(latency) / float64(time.Millisecond))
	e.envoyXX.WithLabelValues(c[:1], cluster(version)).Inc()
	e.envoyTotal.WithLabelValues(cluster(version)).Inc()
}

// traffic is a planned load with known results.
type traffic struct {
	version  string
	mirrored bool
	requests []struct {
		n       int
		latency time.Duration
		code    int
	}
	// want maps builtin metric names to expected values.
	want map[string]float64
}

// plan is the load the end-to-end tests drive, with values computed by
// hand (see the comments) the way histogram_quantile interpolates.
func plan() []traffic {
	type rq = struct {
		n       int
		latency time.Duration
		code    int
	}
	return []traffic{{
		// The dark version, fed by mirroring: 100 requests, 2 failing.
		// Mean (78·20 + 2·20 + 10·40 + 10·200)/100 = 40 ms.
		// p95: rank 95 of 100; cumulative ≤25 ms: 80, ≤50: 90, ≤100:
		// 90, ≤250: 100, so 100 + (250-100)·(95-90)/10 = 175 ms. Both
		// the app's buckets (seconds) and Envoy's (ms) have these bounds.
		version: "v2", mirrored: true,
		requests: []rq{{78, 20 * time.Millisecond, 200}, {2, 20 * time.Millisecond, 500}, {10, 40 * time.Millisecond, 200}, {10, 200 * time.Millisecond, 200}},
		want: map[string]float64{
			EnvoyMeanLatency: 40, EnvoyP95Latency: 175, EnvoyErrorRate: 0.02, EnvoyRequestCount: 100,
			AppMeanLatency: 40, AppP95Latency: 175, AppErrorRate: 0.02, AppRequestCount: 100,
		},
	}, {
		// The baseline: 50 requests of 4 ms, no errors, and no error
		// series at all (Envoy has not created its 5xx counter).
		// p95: all 50 in the first bucket that reaches rank 47.5:
		// app ≤5 ms (lower bound 0): 5·47.5/50 = 4.75; Envoy ≤5 ms
		// above ≤1 ms: 1 + 4·47.5/50 = 4.8.
		version:  "v1",
		requests: []rq{{50, 4 * time.Millisecond, 200}},
		want: map[string]float64{
			EnvoyMeanLatency: 4, EnvoyP95Latency: 4.8, EnvoyErrorRate: 0, EnvoyRequestCount: 50,
			AppMeanLatency: 4, AppP95Latency: 4.75, AppErrorRate: 0, AppRequestCount: 50,
		},
	}, {
		// Slower than the app's highest finite bucket (10 s): the rank is
		// in +Inf, and histogram_quantile answers that highest bound.
		version:  "v3",
		requests: []rq{{10, 20 * time.Second, 200}},
		want:     map[string]float64{AppP95Latency: 10_000, AppMeanLatency: 20_000, AppRequestCount: 10},
	}}
}

func (e *exporter) touchPlan() {
	for _, tr := range plan() {
		e.touch(tr.version, tr.mirrored, tr.version == "v2")
	}
}

func (e *exporter) drivePlan() {
	for _, tr := range plan() {
		for _, r := range tr.requests {
			for range r.n {
				e.request(tr.version, r.latency, r.code, tr.mirrored)
			}
		}
	}
}

// serveText returns a target whose body is body() at each request.
func serveText(t testing.TB, body func() (string, int)) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		text, code := body()
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		w.WriteHeader(code)
		w.Write([]byte(text))
	}))
	t.Cleanup(srv.Close)
	return srv
}
