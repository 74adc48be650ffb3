package metrics

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"regexp"
	"text/template"
	"time"
)

// Type says how a metric is computed from its series.
type Type string

// Metric types.
const (
	// Mean is a histogram's Δsum/Δcount; Samples is Δcount.
	Mean Type = "mean"
	// Quantile interpolates a histogram's Δbuckets like PromQL's
	// histogram_quantile; Samples is Δcount.
	Quantile Type = "quantile"
	// Ratio is Δnumerator/Δdenominator of two counters; Samples is
	// Δdenominator.
	Ratio Type = "ratio"
	// Count is a counter's increase; Samples is the same increase.
	Count Type = "count"
)

// Definition is a metric: what it means and how each Provider computes it.
// A Definition need carry only the part its Provider uses: Prometheus
// queries, a ScrapeSpec, or both.
type Definition struct {
	// Name identifies the metric in objectives, e.g. "envoy/p95-latency".
	Name        string `yaml:"name" json:"name"`
	Unit        string `yaml:"unit,omitempty" json:"unit,omitempty"`
	Description string `yaml:"description,omitempty" json:"description,omitempty"`
	Type        Type   `yaml:"type" json:"type"`
	// Quantile is the φ of a Quantile metric, in (0, 1).
	Quantile float64 `yaml:"quantile,omitempty" json:"quantile,omitempty"`
	// Prometheus computes the metric on a Prometheus server.
	Prometheus PrometheusQueries `yaml:"prometheus,omitempty" json:"prometheus,omitempty"`
	// Scrape computes the metric from scraped Prometheus text.
	Scrape ScrapeSpec `yaml:"scrape,omitempty" json:"scrape,omitempty"`
	// Scale multiplies the value from either provider into Unit (1000 for
	// seconds to ms). 0 means 1. Samples are never scaled.
	Scale float64 `yaml:"scale,omitempty" json:"scale,omitempty"`
	// Bounds are a Mean or Quantile metric's histogram bucket bounds, in
	// Unit, when they are known: validation warns of a latency limit
	// that falls inside a bucket, which can only be judged within it.
	Bounds []float64 `yaml:"bounds,omitempty" json:"bounds,omitempty"`
}

// PrometheusQueries are text/template PromQL expressions (see Vars), each
// evaluated as an instant query at End. Each must yield one series or a
// scalar.
type PrometheusQueries struct {
	// Value is the metric, before Scale.
	Value string `yaml:"value,omitempty" json:"value,omitempty"`
	// Samples is the number of requests behind Value.
	Samples string `yaml:"samples,omitempty" json:"samples,omitempty"`
	// Buckets is, for a Mean or Quantile metric, the histogram's bucket
	// counts over the window, one series per le label:
	// sum by (le) (increase(x_bucket{…}[{{.Window}}])). The analysis needs
	// them to say how uncertain the value is.
	Buckets string `yaml:"buckets,omitempty" json:"buckets,omitempty"`
}

// ScrapeSpec says which scraped series a metric is computed from. Every
// series that matches a Selector, across every target serving the version,
// is summed after its own increase is taken (PromQL's
// sum(increase(...)) by (le)).
type ScrapeSpec struct {
	// Histogram is the histogram family (base name, without _bucket, _sum
	// or _count) of a Mean or Quantile metric.
	Histogram Selector `yaml:"histogram,omitempty" json:"histogram,omitempty"`
	// Numerator and Denominator are the counters of a Ratio metric.
	Numerator   Selector `yaml:"numerator,omitempty" json:"numerator,omitempty"`
	Denominator Selector `yaml:"denominator,omitempty" json:"denominator,omitempty"`
	// Counter is the counter of a Count metric.
	Counter Selector `yaml:"counter,omitempty" json:"counter,omitempty"`
}

// Selector picks series of one family by label, like a PromQL selector.
type Selector struct {
	// Family is the metric family as exposed, e.g. sampleapp_requests_total.
	Family   string    `yaml:"family,omitempty" json:"family,omitempty"`
	Matchers []Matcher `yaml:"matchers,omitempty" json:"matchers,omitempty"`
}

// Op is a label matching operator, as in PromQL.
type Op string

// Label matching operators. Regexps are anchored at both ends, as in PromQL.
const (
	Equal     Op = "="
	NotEqual  Op = "!="
	RegexpOp  Op = "=~"
	NotRegexp Op = "!~"
)

// Matcher matches one label. Value is a text/template (see Vars).
type Matcher struct {
	Label string `yaml:"label" json:"label"`
	Op    Op     `yaml:"op" json:"op"`
	Value string `yaml:"value" json:"value"`
}

// IsZero reports whether the selector is unset.
func (s Selector) IsZero() bool { return s.Family == "" && len(s.Matchers) == 0 }

// IsZero reports whether no Prometheus query is set.
func (p PrometheusQueries) IsZero() bool { return p.Value == "" && p.Samples == "" && p.Buckets == "" }

// IsZero reports whether no scrape selector is set.
func (s ScrapeSpec) IsZero() bool {
	return s.Histogram.IsZero() && s.Numerator.IsZero() && s.Denominator.IsZero() && s.Counter.IsZero()
}

// familyName is a metric name as Prometheus allows in the classic format.
var familyName = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)

// labelName is a label name as Prometheus allows in the classic format.
var labelName = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

// sampleVars are plausible variables, used to execute every template once
// at validation, so a misspelt {{.Clustr}} fails then and not mid-run.
var sampleVars = Vars{
	App: "app", Version: "v1", Cluster: "app_v1", Window: "30s",
	Start: time.Unix(1_700_000_000, 0), End: time.Unix(1_700_000_030, 0), Quantile: 0.5,
}

// Validate reports every problem of d, joined.
func (d Definition) Validate() error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if d.Name == "" {
		add("name is required")
	}
	switch d.Type {
	case Mean, Ratio, Count:
		if d.Quantile != 0 {
			add("quantile %v is set on a %s metric", d.Quantile, d.Type)
		}
	case Quantile:
		if !(d.Quantile > 0 && d.Quantile < 1) {
			add("quantile %v is not in (0, 1)", d.Quantile)
		}
	default:
		add("type %q: use mean, quantile, ratio or count", d.Type)
	}
	if d.Scale < 0 || math.IsNaN(d.Scale) || math.IsInf(d.Scale, 0) {
		add("scale %v is not a finite number ≥ 0", d.Scale)
	}
	if len(d.Bounds) > 0 && d.Type != Mean && d.Type != Quantile {
		add("bounds are set on a %s metric, which has no histogram", d.Type)
	}
	for i, b := range d.Bounds {
		if math.IsNaN(b) || math.IsInf(b, 0) || (i > 0 && b <= d.Bounds[i-1]) {
			add("bounds must be finite and increasing, as the histogram's le labels (without +Inf)")
			break
		}
	}
	if d.Prometheus.IsZero() && d.Scrape.IsZero() {
		add("neither prometheus queries nor a scrape spec: no provider can compute it")
	}
	if !d.Prometheus.IsZero() {
		errs = append(errs, d.Prometheus.validate(d.Type))
	}
	if !d.Scrape.IsZero() {
		errs = append(errs, d.Scrape.validate(d.Type))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("metric %q: %w", d.Name, err)
	}
	return nil
}

func (p PrometheusQueries) validate(t Type) error {
	var errs []error
	histogram := t == Mean || t == Quantile
	for _, q := range []struct {
		name, text string
		required   bool
	}{{"prometheus.value", p.Value, true}, {"prometheus.samples", p.Samples, true}, {"prometheus.buckets", p.Buckets, histogram}} {
		switch {
		case q.text == "" && q.required && q.name == "prometheus.buckets":
			errs = append(errs, fmt.Errorf("prometheus.buckets is required for a %s metric: without the histogram's bucket counts "+
				"no judgement can say how uncertain the value is (e.g. sum by (le) (increase(x_bucket{…}[{{.Window}}])))", t))
		case q.text == "" && q.required:
			errs = append(errs, fmt.Errorf("%s is required", q.name))
		case q.text != "" && !q.required:
			errs = append(errs, fmt.Errorf("%s is set on a %s metric, which does not use it", q.name, t))
		case q.text != "":
			if _, err := render(q.name, q.text, sampleVars); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

func (s ScrapeSpec) validate(t Type) error {
	var errs []error
	set := map[string]Selector{
		"histogram": s.Histogram, "numerator": s.Numerator,
		"denominator": s.Denominator, "counter": s.Counter,
	}
	var want []string
	switch t {
	case Mean, Quantile:
		want = []string{"histogram"}
	case Ratio:
		want = []string{"numerator", "denominator"}
	case Count:
		want = []string{"counter"}
	}
	wanted := map[string]bool{}
	for _, name := range want {
		wanted[name] = true
		if set[name].Family == "" {
			errs = append(errs, fmt.Errorf("scrape.%s.family is required for a %s metric", name, t))
		}
	}
	for _, name := range []string{"histogram", "numerator", "denominator", "counter"} {
		sel := set[name]
		if sel.IsZero() {
			continue
		}
		if !wanted[name] {
			errs = append(errs, fmt.Errorf("scrape.%s is set on a %s metric, which does not use it", name, t))
		}
		errs = append(errs, sel.validate("scrape."+name))
	}
	return errors.Join(errs...)
}

func (s Selector) validate(path string) error {
	var errs []error
	if s.Family != "" && !familyName.MatchString(s.Family) {
		errs = append(errs, fmt.Errorf("%s.family %q is not a metric name", path, s.Family))
	}
	for i, m := range s.Matchers {
		p := fmt.Sprintf("%s.matchers[%d]", path, i)
		if !labelName.MatchString(m.Label) {
			errs = append(errs, fmt.Errorf("%s.label %q is not a label name", p, m.Label))
		}
		if _, err := m.compile(p, sampleVars); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// render executes a template with vars.
func render(name, text string, vars Vars) (string, error) {
	t, err := template.New(name).Option("missingkey=error").Parse(text)
	if err != nil {
		return "", fmt.Errorf("%s: %w", name, err)
	}
	var b bytes.Buffer
	if err := t.Execute(&b, vars); err != nil {
		return "", fmt.Errorf("%s: %w", name, err)
	}
	return b.String(), nil
}
