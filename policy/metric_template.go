package policy

import (
	"bytes"
	"fmt"
	"regexp"
	"text/template"
	"time"
)

// MetricVars are the variables a Metric's templates see, for one version
// of an app over one window.
type MetricVars struct {
	// App and Version are the version measured; Cluster is its Envoy
	// cluster, "<app>_<version>", or for a dark version its shadow cluster.
	App, Version, Cluster string
	// Window is End-Start as a Prometheus duration ("30s", "1m30s"), for
	// range selectors: increase(x[{{.Window}}]) evaluated at End.
	Window string
	// Start and End bound the window; in PromQL use {{.End.Unix}} with @.
	Start, End time.Time
	// Quantile is the Metric's, for histogram_quantile({{.Quantile}}, …).
	Quantile float64
}

// sampleMetricVars are plausible variables. Validation renders every
// template with them once, so that a template that parses but names a
// variable that does not exist ({{.Clustr}}) fails at validate, in its
// file, and not in the middle of an experiment.
var sampleMetricVars = MetricVars{
	App: "app", Version: "v1", Cluster: "app_v1", Window: "30s",
	Start: time.Unix(1_700_000_000, 0), End: time.Unix(1_700_000_030, 0), Quantile: 0.5,
}

// Render executes the template text, named name in its errors, with v.
// It is the one way templates are run, at validation and at query time,
// so that what validates is what runs.
func (v MetricVars) Render(name, text string) (string, error) {
	t, err := template.New(name).Option("missingkey=error").Parse(text)
	if err != nil {
		return "", err
	}
	var b bytes.Buffer
	if err := t.Execute(&b, v); err != nil {
		return "", err
	}
	return b.String(), nil
}

// Render renders the matcher's value with v and, for =~ and !~, compiles
// it anchored at both ends as PromQL does: "5.." matches "500", never
// "1500". The regexp is nil for = and !=. An error names the field at
// fault relative to the matcher ("value" or "op"), for callers to place.
func (m MetricMatcher) Render(name string, v MetricVars) (string, *regexp.Regexp, error) {
	if !m.Op.valid() {
		return "", nil, FieldError{Path: "op", Message: fmt.Sprintf("%q: use =, !=, =~ or !~", m.Op)}
	}
	value, err := v.Render(name, m.Value)
	if err != nil {
		return "", nil, FieldError{Path: "value", Message: err.Error()}
	}
	if m.Op == MetricEqual || m.Op == MetricNotEqual {
		return value, nil, nil
	}
	re, err := regexp.Compile("^(?:" + value + ")$")
	if err != nil {
		return "", nil, FieldError{Path: "value", Message: err.Error()}
	}
	return value, re, nil
}

func (op MetricOp) valid() bool {
	switch op {
	case MetricEqual, MetricNotEqual, MetricRegexp, MetricNotRegexp:
		return true
	}
	return false
}
