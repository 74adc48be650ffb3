package policy

import "regexp"

// KindMetric is the document kind that defines a metric experiments can
// name in objectives and rewards, beside the built-in ones.
const KindMetric = "Metric"

// Metric defines a metric as data: what it is, and how each provider
// computes it — PromQL templates for a Prometheus server, series
// selectors for direct scraping. The analysis package checks the
// templates; see docs/experiments.md for the variables they see.
type Metric struct {
	APIVersion string `yaml:"apiVersion,omitempty" json:"apiVersion,omitempty"`
	Kind       string `yaml:"kind" json:"kind"`
	// Name is what objectives name, e.g. "checkout/conversion-rate".
	Name        string `yaml:"name" json:"name"`
	Unit        string `yaml:"unit,omitempty" json:"unit,omitempty"`
	Description string `yaml:"description,omitempty" json:"description,omitempty"`
	// Type is mean, quantile, ratio or count.
	Type string `yaml:"type" json:"type"`
	// Quantile is the φ of a quantile metric, in (0, 1).
	Quantile float64 `yaml:"quantile,omitempty" json:"quantile,omitempty"`
	// Scale multiplies values into Unit (1000 for seconds to ms); 0 is 1.
	Scale float64 `yaml:"scale,omitempty" json:"scale,omitempty"`
	// Bounds are the histogram's bucket bounds in Unit, when known, for
	// validation to check latency limits against.
	Bounds     []float64     `yaml:"bounds,omitempty" json:"bounds,omitempty"`
	Prometheus MetricQueries `yaml:"prometheus,omitempty" json:"prometheus,omitempty"`
	Scrape     MetricScrape  `yaml:"scrape,omitempty" json:"scrape,omitempty"`
	Source     Source        `yaml:"-" json:"source"`
}

// MetricQueries are PromQL templates evaluated at the end of the window.
type MetricQueries struct {
	Value   string `yaml:"value,omitempty" json:"value,omitempty"`
	Samples string `yaml:"samples,omitempty" json:"samples,omitempty"`
	// Buckets gives a mean or quantile metric's bucket counts.
	Buckets string `yaml:"buckets,omitempty" json:"buckets,omitempty"`
}

// MetricScrape says which scraped series the metric is computed from: a
// histogram for mean and quantile, two counters for a ratio, one for a
// count.
type MetricScrape struct {
	Histogram   MetricSelector `yaml:"histogram,omitempty" json:"histogram,omitempty"`
	Numerator   MetricSelector `yaml:"numerator,omitempty" json:"numerator,omitempty"`
	Denominator MetricSelector `yaml:"denominator,omitempty" json:"denominator,omitempty"`
	Counter     MetricSelector `yaml:"counter,omitempty" json:"counter,omitempty"`
}

// MetricSelector picks series of one family by label.
type MetricSelector struct {
	Family   string          `yaml:"family,omitempty" json:"family,omitempty"`
	Matchers []MetricMatcher `yaml:"matchers,omitempty" json:"matchers,omitempty"`
}

// MetricMatcher matches one label; Op is =, !=, =~ or !~, and Value a
// template.
type MetricMatcher struct {
	Label string `yaml:"label" json:"label"`
	Op    string `yaml:"op" json:"op"`
	Value string `yaml:"value" json:"value"`
}

// metricName allows a namespace, as the built-ins' "envoy/" and "app/".
var metricName = regexp.MustCompile(`^[a-z0-9]([-a-z0-9_/.]{0,126}[a-z0-9])?$`)

func (m *Metric) validate() fieldErrors {
	var fe fieldErrors
	if m.APIVersion != "" && m.APIVersion != APIVersion {
		fe.add("apiVersion", "%q is not supported: use %q or leave it out", m.APIVersion, APIVersion)
	}
	if !metricName.MatchString(m.Name) {
		fe.add("name", "%q is not a valid metric name: lower-case letters, digits, '-', '_', '.', '/'", m.Name)
	}
	switch m.Type {
	case "mean", "quantile", "ratio", "count":
	default:
		fe.add("type", "%q: use mean, quantile, ratio or count", m.Type)
	}
	if m.Prometheus == (MetricQueries{}) && m.Scrape.Histogram.Family == "" && m.Scrape.Numerator.Family == "" && m.Scrape.Counter.Family == "" {
		fe.add("name", "metric %q says neither how to query Prometheus (prometheus:) nor what to scrape (scrape:)", m.Name)
	}
	return fe
}
