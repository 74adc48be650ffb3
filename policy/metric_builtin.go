package policy

import "slices"

// Names of the built-in metrics, which analysis/metrics defines
// (metrics.Builtin). Only the names live here: validation needs them to
// refuse a Metric document that takes one, in its file, as an objective
// naming it would otherwise read another metric than its author wrote.
// The envoy/ ones read a version's Envoy cluster stats, the app/ ones the
// sample application's own metrics.
const (
	MetricEnvoyMeanLatency  = "envoy/mean-latency"
	MetricEnvoyP95Latency   = "envoy/p95-latency"
	MetricEnvoyErrorRate    = "envoy/error-rate"
	MetricEnvoyRequestCount = "envoy/request-count"
	MetricAppMeanLatency    = "app/mean-latency"
	MetricAppP95Latency     = "app/p95-latency"
	MetricAppErrorRate      = "app/error-rate"
	MetricAppRequestCount   = "app/request-count"
)

var builtinMetrics = []string{
	MetricEnvoyMeanLatency, MetricEnvoyP95Latency, MetricEnvoyErrorRate, MetricEnvoyRequestCount,
	MetricAppMeanLatency, MetricAppP95Latency, MetricAppErrorRate, MetricAppRequestCount,
}

// BuiltinMetricNames returns the names of the built-in metrics.
func BuiltinMetricNames() []string { return slices.Clone(builtinMetrics) }
