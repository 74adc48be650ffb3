package main

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// statusClientClosed is nginx's code for a client that went away before
// the answer; no response is written, but the request is still counted.
const statusClientClosed = 499

// newHTTPHandler serves the app on every path but /metrics and /healthz,
// which are left out of the app's own metrics and faults.
func newHTTPHandler(version string, f *faults, m *metrics, reg *prometheus.Registry) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.Handle("/", &httpApp{version: version, faults: f, metrics: m})
	return mux
}

// httpApp answers any method on any path, since mirrored traffic carries
// whatever the live request was.
type httpApp struct {
	version string
	faults  *faults
	metrics *metrics
}

func (a *httpApp) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	mirrored := strings.EqualFold(r.Header.Get(mirrorHeader), "true")
	inj := a.faults.next()
	if err := sleep(r.Context(), inj.delay); err != nil {
		a.metrics.observe(protoHTTP, strconv.Itoa(statusClientClosed), mirrored, false, time.Since(start))
		return
	}
	w.Header().Set("x-version", a.version)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	code, body := http.StatusOK, "version="+a.version+"\n"
	if inj.fail {
		code, body = http.StatusInternalServerError, "injected error version="+a.version+"\n"
	}
	// Record before answering: the write adds next to nothing, and a client
	// holding its answer then always finds it counted in /metrics.
	a.metrics.observe(protoHTTP, strconv.Itoa(code), mirrored, inj.fail, time.Since(start))
	w.WriteHeader(code)
	_, _ = io.WriteString(w, body) // a write error means the client left; nothing to do
}
