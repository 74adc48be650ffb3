package analysis

import (
	"errors"
	"fmt"

	"github.com/shadowplane/shadowplane/analysis/metrics"
	"github.com/shadowplane/shadowplane/policy"
)

// Definitions are the built-in metrics plus the model's Metric documents.
// A user metric that does not validate (a template that does not parse, a
// selector that does not fit its type) or takes a built-in's name is an
// error at the document's file and line; names repeated across documents
// are refused when the policy is assembled.
func Definitions(m *policy.Model) (*metrics.Definitions, error) {
	builtin := map[string]bool{}
	for _, d := range metrics.Builtin() {
		builtin[d.Name] = true
	}
	var user []metrics.Definition
	var errs []error
	for i := range m.Metrics {
		mt := &m.Metrics[i]
		d := definition(mt)
		err := d.Validate()
		if err == nil && builtin[d.Name] {
			err = fmt.Errorf("%q is a built-in metric: choose another name", d.Name)
		}
		if err != nil {
			errs = append(errs, policy.Problem{File: mt.Source.File, Line: mt.Source.Line, Message: err.Error()})
			continue
		}
		user = append(user, d)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return metrics.NewDefinitions(user...)
}

func definition(m *policy.Metric) metrics.Definition {
	sel := func(s policy.MetricSelector) metrics.Selector {
		out := metrics.Selector{Family: s.Family}
		for _, mm := range s.Matchers {
			out.Matchers = append(out.Matchers, metrics.Matcher{Label: mm.Label, Op: metrics.Op(mm.Op), Value: mm.Value})
		}
		return out
	}
	return metrics.Definition{
		Name: m.Name, Unit: m.Unit, Description: m.Description, Type: metrics.Type(m.Type),
		Quantile: m.Quantile, Scale: m.Scale, Bounds: m.Bounds,
		Prometheus: metrics.PrometheusQueries{Value: m.Prometheus.Value, Samples: m.Prometheus.Samples, Buckets: m.Prometheus.Buckets},
		Scrape: metrics.ScrapeSpec{
			Histogram: sel(m.Scrape.Histogram), Numerator: sel(m.Scrape.Numerator),
			Denominator: sel(m.Scrape.Denominator), Counter: sel(m.Scrape.Counter),
		},
	}
}
