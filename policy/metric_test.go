package policy

import (
	"strings"
	"testing"
)

func TestMetricValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		m    Metric
		want []string // "path: message" substrings, one per problem
	}{
		{"good ratio", Metric{Name: "x", Type: MetricRatio, Scrape: MetricScrape{
			Numerator:   MetricSelector{Family: "r_total", Matchers: []MetricMatcher{{Label: "code", Op: MetricRegexp, Value: "5.."}, {Label: "version", Op: MetricEqual, Value: "{{.Version}}"}}},
			Denominator: MetricSelector{Family: "r_total", Matchers: []MetricMatcher{{Label: "version", Op: MetricEqual, Value: "{{.Version}}"}}},
		}}, nil},
		{"no provider", Metric{Name: "x", Type: MetricCount}, []string{"name: metric \"x\" says neither"}},
		{"no name", Metric{Type: MetricCount, Scrape: MetricScrape{Counter: MetricSelector{Family: "c"}}}, []string{"name: metric name is required"}},
		{"unknown type", Metric{Name: "x", Type: "median", Scrape: MetricScrape{Counter: MetricSelector{Family: "c"}}}, []string{`type: "median"`}},
		{"quantile on a mean", Metric{Name: "x", Type: MetricMean, Quantile: 0.5, Scrape: MetricScrape{Histogram: MetricSelector{Family: "h"}}}, []string{"quantile: 0.5 is set on a mean metric"}},
		{"ratio without denominator", Metric{Name: "x", Type: MetricRatio, Scrape: MetricScrape{Numerator: MetricSelector{Family: "n"}}}, []string{"scrape.denominator.family: required for a ratio metric"}},
		{"prometheus without samples", Metric{Name: "x", Type: MetricCount, Prometheus: MetricQueries{Value: "up"}}, []string{"prometheus.samples: required"}},
		{"bounds on a count", Metric{Name: "x", Type: MetricCount, Bounds: []float64{1}, Scrape: MetricScrape{Counter: MetricSelector{Family: "c"}}}, []string{"bounds: set on a count metric"}},
		{"everything wrong", Metric{
			Name: "bad", Type: MetricQuantile, Quantile: 1, Scale: -1, Bounds: []float64{1, 1},
			Prometheus: MetricQueries{Value: "{{.Clustr}}", Samples: "{{"},
			Scrape: MetricScrape{
				Counter:   MetricSelector{Family: "x_total"},
				Histogram: MetricSelector{Family: "9bad", Matchers: []MetricMatcher{{Label: "le-x", Op: "==", Value: "a"}, {Label: "v", Op: MetricRegexp, Value: "("}}},
			},
		}, []string{
			"quantile: 1 is not in (0, 1)",
			"scale: -1",
			"bounds[1]: 1: bounds must be finite and increasing",
			"prometheus.value: template: bad:1:2: executing \"bad\" at <.Clustr>",
			"prometheus.samples: template: bad:1: unclosed action",
			"prometheus.buckets: required for a quantile metric",
			`scrape.histogram.family: "9bad" is not a metric name`,
			`scrape.histogram.matchers[0].label: "le-x" is not a label name`,
			`scrape.histogram.matchers[0].op: "==": use =, !=, =~ or !~`,
			"scrape.histogram.matchers[1].value: error parsing regexp: missing closing )",
			"scrape.counter: set on a quantile metric, which does not use it",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fe := tc.m.validate()
			for _, w := range tc.want {
				found := false
				for _, e := range fe {
					found = found || strings.Contains(e.Error(), w)
				}
				if !found {
					t.Errorf("no problem containing %q", w)
				}
			}
			if len(fe) != len(tc.want) {
				t.Errorf("%d problems, want %d:\n%v", len(fe), len(tc.want), tc.m.Validate())
			}
		})
	}
}
