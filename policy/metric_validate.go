package policy

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
)

// Validate reports every problem of the metric, joined; each is a
// FieldError naming the field it concerns. Templates are parsed and run
// once with sample variables, and selectors' regexps compiled, so that a
// metric that validates can be computed. Taking a built-in's name is not
// checked here, as the built-ins themselves are Metrics: ParseFile refuses
// a document that does.
func (m *Metric) Validate() error {
	fe := m.validate()
	errs := make([]error, len(fe))
	for i, e := range fe {
		errs[i] = e
	}
	return errors.Join(errs...)
}

func (m *Metric) validate() fieldErrors {
	var fe fieldErrors
	if m.APIVersion != "" && m.APIVersion != APIVersion {
		fe.add("apiVersion", "%q is not supported: use %q or leave it out", m.APIVersion, APIVersion)
	}
	// A document without kind is refused before it is decoded; a Metric
	// built in code, a built-in one, may leave Kind empty.
	if m.Kind != "" && m.Kind != KindMetric {
		fe.add("kind", "%q is not supported: want %s", m.Kind, KindMetric)
	}
	switch {
	case m.Name == "":
		fe.add("name", "metric name is required")
	case !metricName.MatchString(m.Name):
		fe.add("name", "%q is not a valid metric name: lower-case letters, digits, '-', '_', '.', '/'", m.Name)
	}
	switch m.Type {
	case MetricMean, MetricRatio, MetricCount:
		if m.Quantile != 0 {
			fe.add("quantile", "%v is set on a %s metric, which has none", m.Quantile, m.Type)
		}
	case MetricQuantile:
		if !(m.Quantile > 0 && m.Quantile < 1) {
			fe.add("quantile", "%v is not in (0, 1): a quantile metric needs its φ, e.g. 0.95", m.Quantile)
		}
	default:
		fe.add("type", "%q: use mean, quantile, ratio or count", m.Type)
	}
	if m.Scale < 0 || math.IsNaN(m.Scale) || math.IsInf(m.Scale, 0) {
		fe.add("scale", "%v is not a finite number ≥ 0", m.Scale)
	}
	m.validateBounds(&fe)
	if m.Prometheus.IsZero() && m.Scrape.IsZero() {
		fe.add("name", "metric %q says neither how to query Prometheus (prometheus:) nor what to scrape (scrape:)", m.Name)
	}
	if !m.Prometheus.IsZero() {
		m.validateQueries(&fe)
	}
	if !m.Scrape.IsZero() {
		m.validateScrape(&fe)
	}
	return fe
}

func (m *Metric) validateBounds(fe *fieldErrors) {
	if len(m.Bounds) > 0 && !m.Type.histogram() {
		fe.add("bounds", "set on a %s metric, which has no histogram", m.Type)
		return
	}
	for i, b := range m.Bounds {
		if math.IsNaN(b) || math.IsInf(b, 0) || (i > 0 && b <= m.Bounds[i-1]) {
			fe.add(index("bounds", i), "%v: bounds must be finite and increasing, as the histogram's le labels (without +Inf)", b)
			return
		}
	}
}

func (m *Metric) validateQueries(fe *fieldErrors) {
	q := m.Prometheus
	// An unknown type is a problem of its own: what it does not use is
	// not one more.
	known := m.Type.wantedRoles() != nil
	for _, f := range []struct {
		path, text string
		required   bool
		missing    string
	}{
		{"prometheus.value", q.Value, true, "required: the PromQL of the metric's value"},
		{"prometheus.samples", q.Samples, true, "required: the PromQL of the number of requests behind the value"},
		{"prometheus.buckets", q.Buckets, m.Type.histogram(), fmt.Sprintf("required for a %s metric: without the histogram's bucket counts "+
			"no judgement can say how uncertain the value is (e.g. sum by (le) (increase(x_bucket{…}[{{.Window}}])))", m.Type)},
	} {
		switch {
		case f.text == "":
			if f.required {
				fe.add(f.path, "%s", f.missing)
			}
		case !f.required && known:
			fe.add(f.path, "set on a %s metric, which does not use it", m.Type)
		default:
			if _, err := sampleMetricVars.Render(m.Name, f.text); err != nil {
				fe.add(f.path, "%v", err)
			}
		}
	}
}

// scrapeRoles are MetricScrape's selectors, by field name, in order.
var scrapeRoles = []string{"histogram", "numerator", "denominator", "counter"}

func (s *MetricScrape) selector(role string) MetricSelector {
	switch role {
	case "histogram":
		return s.Histogram
	case "numerator":
		return s.Numerator
	case "denominator":
		return s.Denominator
	}
	return s.Counter
}

// wantedRoles are the selectors a type reads.
func (t MetricType) wantedRoles() []string {
	switch t {
	case MetricMean, MetricQuantile:
		return []string{"histogram"}
	case MetricRatio:
		return []string{"numerator", "denominator"}
	case MetricCount:
		return []string{"counter"}
	}
	return nil
}

// familyName is a metric name as Prometheus allows in the classic format.
var familyName = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)

// labelName is a label name as Prometheus allows in the classic format.
var labelName = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

func (m *Metric) validateScrape(fe *fieldErrors) {
	wanted := m.Type.wantedRoles()
	for _, role := range scrapeRoles {
		path := join("scrape", role)
		sel := m.Scrape.selector(role)
		if slices.Contains(wanted, role) && sel.Family == "" {
			fe.add(join(path, "family"), "required for a %s metric", m.Type)
		}
		if sel.IsZero() {
			continue
		}
		if wanted != nil && !slices.Contains(wanted, role) {
			fe.add(path, "set on a %s metric, which does not use it", m.Type)
		}
		if sel.Family != "" && !familyName.MatchString(sel.Family) {
			fe.add(join(path, "family"), "%q is not a metric name", sel.Family)
		}
		for i, mm := range sel.Matchers {
			p := index(join(path, "matchers"), i)
			if !labelName.MatchString(mm.Label) {
				fe.add(join(p, "label"), "%q is not a label name", mm.Label)
			}
			if _, _, err := mm.Render(m.Name, sampleMetricVars); err != nil {
				var e FieldError
				errors.As(err, &e)
				fe.add(join(p, e.Path), "%s", e.Message)
			}
		}
	}
}
