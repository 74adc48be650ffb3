package metrics

import (
	"fmt"

	"github.com/shadowplane/shadowplane/policy"
)

// Definition is a metric: what it means and how each Provider computes it.
// It is the policy's Metric, the type Metric documents decode into, so a
// metric is defined, and validated (policy.Metric.Validate), in one place;
// the names here are what this package calls them. A Definition need
// carry only the part its Provider uses: Prometheus queries, a ScrapeSpec,
// or both.
type Definition = policy.Metric

// Type says how a metric is computed from its series.
type Type = policy.MetricType

// Metric types; see policy.MetricType.
const (
	Mean     = policy.MetricMean
	Quantile = policy.MetricQuantile
	Ratio    = policy.MetricRatio
	Count    = policy.MetricCount
)

// PrometheusQueries are a Definition's PromQL templates.
type PrometheusQueries = policy.MetricQueries

// ScrapeSpec says which scraped series a Definition is computed from.
type ScrapeSpec = policy.MetricScrape

// Selector picks series of one family by label, like a PromQL selector.
type Selector = policy.MetricSelector

// Matcher matches one label; its Value is a template.
type Matcher = policy.MetricMatcher

// Op is a label matching operator, as in PromQL.
type Op = policy.MetricOp

// Label matching operators. Regexps are anchored at both ends, as in PromQL.
const (
	Equal     = policy.MetricEqual
	NotEqual  = policy.MetricNotEqual
	RegexpOp  = policy.MetricRegexp
	NotRegexp = policy.MetricNotRegexp
)

// Vars are the variables a Definition's templates see.
type Vars = policy.MetricVars

// render executes a template with vars, naming it in the error.
func render(name, text string, vars Vars) (string, error) {
	s, err := vars.Render(name, text)
	if err != nil {
		return "", fmt.Errorf("%s: %w", name, err)
	}
	return s, nil
}

// scaled applies a Definition's Scale (0 means 1) to a raw value.
func scaled(d Definition, v float64) float64 {
	if d.Scale == 0 {
		return v
	}
	return v * d.Scale
}
