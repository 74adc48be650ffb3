package policy

import "regexp"

// KindMetric is the document kind that defines a metric experiments can
// name in objectives and rewards, beside the built-in ones.
const KindMetric = "Metric"

// Metric defines a metric as data: what it is, and how each provider
// computes it — PromQL templates for a Prometheus server, series
// selectors for direct scraping. It is the one type of a metric: Metric
// documents decode into it, the built-in metrics are written in it, and
// analysis/metrics computes it (as metrics.Definition, an alias). Validate
// checks it whole, templates included, so that a metric that cannot be
// computed is a problem of its file; see docs/experiments.md for the
// variables templates see.
type Metric struct {
	APIVersion string `yaml:"apiVersion,omitempty" json:"apiVersion,omitempty"`
	Kind       string `yaml:"kind" json:"kind"`
	// Name is what objectives name, e.g. "checkout/conversion-rate".
	Name        string `yaml:"name" json:"name"`
	Unit        string `yaml:"unit,omitempty" json:"unit,omitempty"`
	Description string `yaml:"description,omitempty" json:"description,omitempty"`
	// Type is mean, quantile, ratio or count.
	Type MetricType `yaml:"type" json:"type"`
	// Quantile is the φ of a quantile metric, in (0, 1).
	Quantile float64 `yaml:"quantile,omitempty" json:"quantile,omitempty"`
	// Scale multiplies the value from either provider into Unit (1000 for
	// seconds to ms); 0 is 1. Samples are never scaled.
	Scale float64 `yaml:"scale,omitempty" json:"scale,omitempty"`
	// Bounds are a mean or quantile metric's histogram bucket bounds in
	// Unit, when they are known: validation warns of a latency limit that
	// falls inside a bucket, which can only be judged within it.
	Bounds     []float64     `yaml:"bounds,omitempty" json:"bounds,omitempty"`
	Prometheus MetricQueries `yaml:"prometheus,omitempty" json:"prometheus,omitempty"`
	Scrape     MetricScrape  `yaml:"scrape,omitempty" json:"scrape,omitempty"`
	Source     Source        `yaml:"-" json:"source"`
}

// MetricType says how a metric is computed from its series.
type MetricType string

// Metric types.
const (
	// MetricMean is a histogram's Δsum/Δcount; its samples are Δcount.
	MetricMean MetricType = "mean"
	// MetricQuantile interpolates a histogram's Δbuckets like PromQL's
	// histogram_quantile; its samples are Δcount.
	MetricQuantile MetricType = "quantile"
	// MetricRatio is Δnumerator/Δdenominator of two counters; its samples
	// are Δdenominator.
	MetricRatio MetricType = "ratio"
	// MetricCount is a counter's increase; its samples are the same
	// increase.
	MetricCount MetricType = "count"
)

// histogram reports whether the type reads a histogram.
func (t MetricType) histogram() bool { return t == MetricMean || t == MetricQuantile }

// MetricQueries are text/template PromQL expressions (see MetricVars),
// each evaluated as an instant query at the window's end. Each must yield
// one series or a scalar.
type MetricQueries struct {
	// Value is the metric, before Scale.
	Value string `yaml:"value,omitempty" json:"value,omitempty"`
	// Samples is the number of requests behind Value.
	Samples string `yaml:"samples,omitempty" json:"samples,omitempty"`
	// Buckets is, for a mean or quantile metric, the histogram's bucket
	// counts over the window, one series per le label:
	// sum by (le) (increase(x_bucket{…}[{{.Window}}])). The analysis needs
	// them to say how uncertain the value is.
	Buckets string `yaml:"buckets,omitempty" json:"buckets,omitempty"`
}

// IsZero reports whether no query is set.
func (q MetricQueries) IsZero() bool { return q == MetricQueries{} }

// MetricScrape says which scraped series the metric is computed from: a
// histogram for mean and quantile, two counters for a ratio, one for a
// count. Every series that matches a selector, across every target
// serving the version, is summed after its own increase is taken
// (PromQL's sum(increase(...)) by (le)).
type MetricScrape struct {
	// Histogram is the histogram family (base name, without _bucket, _sum
	// or _count) of a mean or quantile metric.
	Histogram   MetricSelector `yaml:"histogram,omitempty" json:"histogram,omitempty"`
	Numerator   MetricSelector `yaml:"numerator,omitempty" json:"numerator,omitempty"`
	Denominator MetricSelector `yaml:"denominator,omitempty" json:"denominator,omitempty"`
	Counter     MetricSelector `yaml:"counter,omitempty" json:"counter,omitempty"`
}

// IsZero reports whether no selector is set.
func (s MetricScrape) IsZero() bool {
	return s.Histogram.IsZero() && s.Numerator.IsZero() && s.Denominator.IsZero() && s.Counter.IsZero()
}

// MetricSelector picks series of one family by label, like a PromQL
// selector.
type MetricSelector struct {
	// Family is the metric family as exposed, e.g. sampleapp_requests_total.
	Family   string          `yaml:"family,omitempty" json:"family,omitempty"`
	Matchers []MetricMatcher `yaml:"matchers,omitempty" json:"matchers,omitempty"`
}

// IsZero reports whether the selector is unset.
func (s MetricSelector) IsZero() bool { return s.Family == "" && len(s.Matchers) == 0 }

// MetricMatcher matches one label. Value is a template (see MetricVars).
type MetricMatcher struct {
	Label string   `yaml:"label" json:"label"`
	Op    MetricOp `yaml:"op" json:"op"`
	Value string   `yaml:"value" json:"value"`
}

// MetricOp is a label matching operator, as in PromQL.
type MetricOp string

// Label matching operators. Regexps are anchored at both ends, as in PromQL.
const (
	MetricEqual     MetricOp = "="
	MetricNotEqual  MetricOp = "!="
	MetricRegexp    MetricOp = "=~"
	MetricNotRegexp MetricOp = "!~"
)

// metricName allows a namespace, as the built-ins' "envoy/" and "app/".
var metricName = regexp.MustCompile(`^[a-z0-9]([-a-z0-9_/.]{0,126}[a-z0-9])?$`)
