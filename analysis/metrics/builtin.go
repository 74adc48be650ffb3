package metrics

import (
	"slices"

	"github.com/shadowplane/shadowplane/policy"
)

// Names of the built-in metrics, which policy validation keeps Metric
// documents from taking. The envoy/ ones read the stats of the version's
// Envoy cluster (for a dark version, its shadow cluster), so they work for
// any app; the app/ ones read the sample application's own metrics.
// Latencies are in milliseconds, error rates are fractions (0.01 is 1 %),
// counts are requests.
const (
	EnvoyMeanLatency  = policy.MetricEnvoyMeanLatency
	EnvoyP95Latency   = policy.MetricEnvoyP95Latency
	EnvoyErrorRate    = policy.MetricEnvoyErrorRate
	EnvoyRequestCount = policy.MetricEnvoyRequestCount
	AppMeanLatency    = policy.MetricAppMeanLatency
	AppP95Latency     = policy.MetricAppP95Latency
	AppErrorRate      = policy.MetricAppErrorRate
	AppRequestCount   = policy.MetricAppRequestCount
)

// Series as Envoy's admin /stats/prometheus exposes them. Envoy's default
// stats tag extraction turns cluster.<name>.upstream_rq_time into
// envoy_cluster_upstream_rq_time{envoy_cluster_name="<name>"} (a histogram
// in ms), cluster.<name>.upstream_rq_5xx into
// envoy_cluster_upstream_rq_xx{envoy_response_code_class="5",…}, and
// upstream_rq_total into envoy_cluster_upstream_rq_total. Envoy creates a
// stat on first use, so a cluster that never failed has no 5xx series: the
// error-rate numerator defaults to 0. Envoy refreshes histograms at each
// stats flush (5 s by default) but counters live, which is why latency
// metrics count their samples from the histogram's own _count.
const (
	envoyRqTime  = "envoy_cluster_upstream_rq_time"
	envoyRqXX    = "envoy_cluster_upstream_rq_xx"
	envoyRqTotal = "envoy_cluster_upstream_rq_total"
	envoyCluster = `envoy_cluster_name="{{.Cluster}}"`
)

// The sample application's metrics (labels version, protocol, code,
// mirrored). They carry no app label: in a Prometheus that scrapes several
// apps, define your own metrics with a job or namespace matcher.
const (
	appDuration = "sampleapp_request_duration_seconds"
	appRequests = "sampleapp_requests_total"
	appErrors   = "sampleapp_errors_total"
	appVersion  = `version="{{.Version}}"`
)

// Histogram bounds, in ms: Envoy's default histogram buckets, and the
// sample app's (1 ms to 2.5 s in 1-2-5 steps).
var (
	envoyBounds = []float64{0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000}
	appBounds   = []float64{1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500}
)

// Builtin returns the built-in definitions, freshly built so callers may
// change them.
func Builtin() []Definition {
	envoy := Selector{Matchers: []Matcher{{Label: "envoy_cluster_name", Op: Equal, Value: "{{.Cluster}}"}}}
	app := Selector{Matchers: []Matcher{{Label: "version", Op: Equal, Value: "{{.Version}}"}}}
	defs := []Definition{
		meanLatency(EnvoyMeanLatency, "Mean upstream request time of the version's Envoy cluster.", envoyRqTime, envoyCluster, envoy, 1),
		quantileLatency(EnvoyP95Latency, "95th percentile upstream request time of the version's Envoy cluster, interpolated in Envoy's histogram buckets.", 0.95, envoyRqTime, envoyCluster, envoy, 1),
		errorRate(EnvoyErrorRate, "Fraction of the cluster's upstream requests answered 5xx.",
			envoyRqXX+`{`+envoyCluster+`,envoy_response_code_class="5"}`, envoyRqTotal+`{`+envoyCluster+`}`,
			with(envoy, envoyRqXX, Matcher{Label: "envoy_response_code_class", Op: Equal, Value: "5"}), with(envoy, envoyRqTotal)),
		requestCount(EnvoyRequestCount, "Upstream requests of the version's Envoy cluster.", envoyRqTotal+`{`+envoyCluster+`}`, with(envoy, envoyRqTotal)),

		meanLatency(AppMeanLatency, "Mean request duration the sample app measured for the version.", appDuration, appVersion, app, 1000),
		quantileLatency(AppP95Latency, "95th percentile request duration the sample app measured for the version.", 0.95, appDuration, appVersion, app, 1000),
		errorRate(AppErrorRate, "Fraction of the version's requests the sample app counted as errors.",
			appErrors+`{`+appVersion+`}`, appRequests+`{`+appVersion+`}`, with(app, appErrors), with(app, appRequests)),
		requestCount(AppRequestCount, "Requests the sample app served for the version.", appRequests+`{`+appVersion+`}`, with(app, appRequests)),
	}
	for i := range defs {
		switch defs[i].Name {
		case EnvoyMeanLatency, EnvoyP95Latency:
			defs[i].Bounds = slices.Clone(envoyBounds)
		case AppMeanLatency, AppP95Latency:
			defs[i].Bounds = slices.Clone(appBounds)
		}
	}
	return defs
}

// with returns a copy of base on family, with extra matchers.
func with(base Selector, family string, extra ...Matcher) Selector {
	return Selector{Family: family, Matchers: append(append([]Matcher(nil), base.Matchers...), extra...)}
}

// increase is the PromQL for a counter's increase over the window, summed
// over every matching series (every Envoy, every label combination).
func increase(series string) string { return `sum(increase(` + series + `[{{.Window}}]))` }

// bucketIncreases is the PromQL for a histogram's bucket counts over the
// window, one series per le.
func bucketIncreases(histogram, match string) string {
	return `sum by (le) (increase(` + histogram + `_bucket{` + match + `}[{{.Window}}]))`
}

func meanLatency(name, desc, histogram, match string, sel Selector, scale float64) Definition {
	count := increase(histogram + `_count{` + match + `}`)
	return Definition{
		Name: name, Unit: "ms", Description: desc, Type: Mean, Scale: scale,
		Prometheus: PrometheusQueries{
			Value:   increase(histogram+`_sum{`+match+`}`) + ` / ` + count,
			Samples: count,
			Buckets: bucketIncreases(histogram, match),
		},
		Scrape: ScrapeSpec{Histogram: with(sel, histogram)},
	}
}

func quantileLatency(name, desc string, q float64, histogram, match string, sel Selector, scale float64) Definition {
	return Definition{
		Name: name, Unit: "ms", Description: desc, Type: Quantile, Quantile: q, Scale: scale,
		Prometheus: PrometheusQueries{
			Value:   `histogram_quantile({{.Quantile}}, ` + bucketIncreases(histogram, match) + `)`,
			Samples: increase(histogram + `_count{` + match + `}`),
			Buckets: bucketIncreases(histogram, match),
		},
		Scrape: ScrapeSpec{Histogram: with(sel, histogram)},
	}
}

func errorRate(name, desc, num, den string, numSel, denSel Selector) Definition {
	return Definition{
		Name: name, Unit: "ratio", Description: desc, Type: Ratio, Scale: 1,
		Prometheus: PrometheusQueries{
			// A missing numerator series means no errors yet, not no data.
			Value:   `(` + increase(num) + ` or vector(0)) / ` + increase(den),
			Samples: increase(den),
		},
		Scrape: ScrapeSpec{Numerator: numSel, Denominator: denSel},
	}
}

func requestCount(name, desc, counter string, sel Selector) Definition {
	return Definition{
		Name: name, Unit: "requests", Description: desc, Type: Count, Scale: 1,
		Prometheus: PrometheusQueries{Value: increase(counter), Samples: increase(counter)},
		Scrape:     ScrapeSpec{Counter: sel},
	}
}
