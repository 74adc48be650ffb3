package server

import (
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the xDS server's Prometheus metrics. It implements
// ProxyObserver for the registry and gives the cache its push counter.
type Metrics struct {
	connected      *prometheus.GaugeVec
	pushes         *prometheus.CounterVec
	acks           *prometheus.CounterVec
	nacks          *prometheus.CounterVec
	snapshotErrors prometheus.Counter
	deltaOverflows prometheus.Counter
	overLimit      prometheus.Counter
	connsRefused   *prometheus.CounterVec
}

var _ ProxyObserver = (*Metrics)(nil)

// NewMetrics registers the metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		connected: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "shadowplane_xds_connected_proxies",
			Help: "xDS streams open, by client kind (envoy, grpc) and protocol (sotw, delta).",
		}, []string{"kind", "protocol"}),
		pushes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shadowplane_xds_pushes_total",
			Help: "xDS responses sent, by resource type.",
		}, []string{"type"}),
		acks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shadowplane_xds_acks_total",
			Help: "xDS responses accepted by proxies, by resource type.",
		}, []string{"type"}),
		nacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shadowplane_xds_nacks_total",
			Help: "xDS responses rejected by proxies, by resource type. See /api/v1/proxies for the error text.",
		}, []string{"type"}),
		snapshotErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "shadowplane_xds_snapshot_errors_total",
			Help: "Snapshots that failed to build or validate; the previous configuration kept being served.",
		}),
		deltaOverflows: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "shadowplane_xds_delta_overflows_total",
			Help: "Delta answers dropped because the stream's response buffer was full (never expected; the stream's next request answers again).",
		}),
	}
	m.overLimit = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "shadowplane_xds_streams_over_limit_total",
		Help: "xDS streams closed for going over a per-stream limit (requests a second, type URLs, names, node size; see the log for the peer).",
	})
	m.connsRefused = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "shadowplane_xds_connections_refused_total",
		Help: "xDS connections closed as soon as accepted, by the cap they went over (total, per_address; see the log for the peer).",
	}, []string{"limit"})
	reg.MustRegister(m.connected, m.pushes, m.acks, m.nacks, m.snapshotErrors, m.deltaOverflows, m.overLimit, m.connsRefused)
	return m
}

func protocol(delta bool) string {
	if delta {
		return "delta"
	}
	return "sotw"
}

func shortType(typeURL string) string { return typeURL[strings.LastIndex(typeURL, ".")+1:] }

func (m *Metrics) Connected(kind string, delta bool) {
	m.connected.WithLabelValues(kind, protocol(delta)).Inc()
}
func (m *Metrics) Disconnected(kind string, delta bool) {
	m.connected.WithLabelValues(kind, protocol(delta)).Dec()
}
func (m *Metrics) Acked(typeURL string)  { m.acks.WithLabelValues(shortType(typeURL)).Inc() }
func (m *Metrics) Nacked(typeURL string) { m.nacks.WithLabelValues(shortType(typeURL)).Inc() }

// Pushed counts n responses of a type; pass it as CacheOptions.OnPush.
func (m *Metrics) Pushed(typeURL string, n int) {
	m.pushes.WithLabelValues(shortType(typeURL)).Add(float64(n))
}

// SnapshotError counts a failed snapshot.
func (m *Metrics) SnapshotError() { m.snapshotErrors.Inc() }

// DeltaOverflow counts a dropped delta answer; pass it as
// CacheOptions.OnDeltaOverflow.
func (m *Metrics) DeltaOverflow() { m.deltaOverflows.Inc() }

// OverLimit counts a stream closed over a limit; call it from
// Options.OnLimit.
func (m *Metrics) OverLimit() { m.overLimit.Inc() }

// ConnRefused counts a connection refused over a cap; pass it as
// ConnLimits.OnRefused.
func (m *Metrics) ConnRefused(limit string) { m.connsRefused.WithLabelValues(limit).Inc() }
