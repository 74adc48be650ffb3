package policy

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
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

func metricYAML(name, value string) string {
	return "kind: Metric\nname: " + name + "\ntype: count\nprometheus:\n  value: '" + value + "'\n  samples: '" + value + "'\n"
}

// TestBadMetricFileAffectsOnlyItself checks that a Metric whose template
// does not parse is a problem of its file, at its line: a new file is
// rejected, an edited one keeps its last good version, and the metrics of
// other files are served throughout.
func TestBadMetricFileAffectsOnlyItself(t *testing.T) {
	dir := t.TempDir()
	a, b, c := filepath.Join(dir, "a.yaml"), filepath.Join(dir, "b.yaml"), filepath.Join(dir, "c.yaml")
	good := "sum(increase(orders_total{version=\"{{.Version}}\"}[{{.Window}}]))"
	bad := "sum(increase(orders_total{version=\"{{.Version}\"}[{{.Window}}]))"
	writeFile(t, a, appYAML("a", "example.com", 10000)+"---\n"+metricYAML("shop/orders", good))
	writeFile(t, b, metricYAML("shop/refunds", good))
	writeFile(t, c, metricYAML("shop/returns", bad))
	s := newDirState(dir, 0)
	clk := &clock{now: time.Unix(0, 0)}
	reloadOK(t, s, clk.now)
	metricNames := func() string {
		var names []string
		for _, m := range s.model.Metrics {
			names = append(names, m.Name)
		}
		return strings.Join(names, " ")
	}
	if got := metricNames(); got != "shop/orders shop/refunds" {
		t.Fatalf("metrics = %q, want shop/orders shop/refunds", got)
	}
	wantProblem := func(path string, line int) {
		t.Helper()
		var ps []Problem
		for _, st := range s.status() {
			ps = append(ps, st.Problems...)
		}
		if len(ps) != 2 || ps[0].File != path || ps[0].Line != line || !strings.Contains(ps[0].Message, "prometheus.value: template: ") {
			t.Fatalf("problems:\n%v\nwant prometheus.value and samples of %s:%d", JoinProblems(ps), path, line)
		}
	}
	wantProblem(c, 5)

	// A bad edit of a served file keeps its last good version, its app's
	// routes included.
	writeFile(t, c, metricYAML("shop/returns", good))
	reloadOK(t, s, clk.advance(time.Second))
	app := appYAML("a", "example.com", 10000) + "---\n"
	writeFile(t, a, app+metricYAML("shop/orders", bad))
	reloadOK(t, s, clk.advance(time.Second))
	if got := metricNames(); got != "shop/orders shop/refunds shop/returns" {
		t.Fatalf("after a bad edit: metrics = %q", got)
	}
	wantProblem(a, strings.Count(app, "\n")+5)
	if got := appNames(s.model); len(got) != 1 || got[0] != "a" || len(s.model.Apps[0].Routes) == 0 {
		t.Errorf("after a bad edit: apps = %v", got)
	}
}
