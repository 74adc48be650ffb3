package metrics

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

func TestBuiltinsAreValid(t *testing.T) {
	seen := map[string]bool{}
	for _, d := range Builtin() {
		if err := d.Validate(); err != nil {
			t.Error(err)
		}
		if seen[d.Name] {
			t.Errorf("builtin %s defined twice", d.Name)
		}
		seen[d.Name] = true
	}
	for _, name := range []string{EnvoyMeanLatency, EnvoyP95Latency, EnvoyErrorRate, EnvoyRequestCount, AppMeanLatency, AppP95Latency, AppErrorRate, AppRequestCount} {
		if !seen[name] {
			t.Errorf("builtin %s missing", name)
		}
	}
}

// TestBuiltinQueries renders every builtin's PromQL and scrape selectors
// for one query, so a review sees the exact queries. go test -update
// rewrites the golden file.
func TestBuiltinQueries(t *testing.T) {
	q := Query{App: "shop", Version: "v2", Cluster: "shop_v2", Start: time.Unix(1_700_000_000, 0), End: time.Unix(1_700_000_090, 0)}
	var b strings.Builder
	for _, d := range Builtin() {
		q.Definition = d
		vars, err := q.vars()
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "# %s (%s, %s, scale %v)\n", d.Name, d.Type, d.Unit, d.Scale)
		for _, pq := range []struct{ name, text string }{{"value", d.Prometheus.Value}, {"samples", d.Prometheus.Samples}} {
			s, err := render(pq.name, pq.text, vars)
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&b, "%s: %s\n", pq.name, s)
		}
		sels, err := d.Scrape.compile(vars)
		if err != nil {
			t.Fatal(err)
		}
		for _, rs := range sels {
			fmt.Fprintf(&b, "scrape %s: %s{", rs.role, rs.name)
			for i, m := range rs.sel.matchers {
				if i > 0 {
					b.WriteString(",")
				}
				fmt.Fprintf(&b, "%s%s%q", m.label, m.op, m.value)
			}
			b.WriteString("}")
			if rs.by != "" {
				fmt.Fprintf(&b, " by %s", rs.by)
			}
			b.WriteString("\n")
		}
		b.WriteString("\n")
	}
	golden := filepath.Join("testdata", "builtin-queries.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if b.String() != string(want) {
		t.Errorf("rendered builtins differ from %s (go test -update to accept):\n%s", golden, b.String())
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	d := Definition{
		Name: "bad", Type: Quantile, Quantile: 1, Scale: -1,
		Prometheus: PrometheusQueries{Value: "{{.Clustr}}", Samples: "{{"},
		Scrape: ScrapeSpec{
			Counter:   Selector{Family: "x_total"},
			Histogram: Selector{Family: "9bad", Matchers: []Matcher{{Label: "le-x", Op: "==", Value: "a"}, {Label: "v", Op: RegexpOp, Value: "("}}},
		},
	}
	err := d.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		"quantile 1 is not in (0, 1)",
		"scale -1",
		"prometheus.value", "Clustr",
		"prometheus.samples",
		"scrape.counter is set on a quantile metric",
		`family "9bad"`,
		`label "le-x"`,
		`op "=="`,
		"missing closing )",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

func TestValidateTypeAndFields(t *testing.T) {
	for _, tc := range []struct {
		name string
		d    Definition
		err  string
	}{
		{"no provider", Definition{Name: "x", Type: Count}, "neither prometheus"},
		{"unknown type", Definition{Name: "x", Type: "median", Scrape: ScrapeSpec{Counter: Selector{Family: "c"}}}, `type "median"`},
		{"quantile on a mean", Definition{Name: "x", Type: Mean, Quantile: 0.5, Scrape: ScrapeSpec{Histogram: Selector{Family: "h"}}}, "quantile 0.5 is set on a mean"},
		{"ratio without denominator", Definition{Name: "x", Type: Ratio, Scrape: ScrapeSpec{Numerator: Selector{Family: "n"}}}, "scrape.denominator.family is required"},
		{"prometheus without samples", Definition{Name: "x", Type: Count, Prometheus: PrometheusQueries{Value: "up"}}, "prometheus.samples is required"},
		{"no name", Definition{Type: Count, Scrape: ScrapeSpec{Counter: Selector{Family: "c"}}}, "name is required"},
		{"good", Definition{Name: "x", Type: Ratio, Scrape: ScrapeSpec{
			Numerator:   Selector{Family: "r_total", Matchers: []Matcher{{Label: "code", Op: RegexpOp, Value: "5.."}, {Label: "version", Op: Equal, Value: "{{.Version}}"}}},
			Denominator: Selector{Family: "r_total", Matchers: []Matcher{{Label: "version", Op: Equal, Value: "{{.Version}}"}}},
		}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.d.Validate()
			if tc.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("err = %v, want %q", err, tc.err)
			}
		})
	}
}

func TestDefinitions(t *testing.T) {
	user := Definition{Name: "app/conversion", Type: Ratio, Scrape: ScrapeSpec{
		Numerator:   Selector{Family: "orders_total"},
		Denominator: Selector{Family: appRequests},
	}}
	defs, err := NewDefinitions(user)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := defs.Lookup("app/conversion"); !ok {
		t.Error("user definition not found")
	}
	if d, ok := defs.Lookup(EnvoyP95Latency); !ok || d.Quantile != 0.95 {
		t.Errorf("builtin p95: %+v %v", d, ok)
	}
	if got := len(defs.Names()); got != len(Builtin())+1 {
		t.Errorf("%d names, want %d", got, len(Builtin())+1)
	}

	_, err = NewDefinitions(user, user, Definition{Name: EnvoyErrorRate, Type: Count, Scrape: ScrapeSpec{Counter: Selector{Family: "c"}}}, Definition{Name: "broken"})
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{`"app/conversion" is defined twice`, `"envoy/error-rate" is defined twice`, `metric "broken"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

func TestQueryVars(t *testing.T) {
	q := Query{App: "shop", Version: "v2", Cluster: "shop_v2", Start: time.Unix(100, 0), End: time.Unix(190, 500e6)}
	v, err := q.vars()
	if err != nil {
		t.Fatal(err)
	}
	if v.Window != "1m30s500ms" {
		t.Errorf("window %q", v.Window)
	}
	for _, bad := range []Query{
		{App: "shop", Version: `v2"} or up{x="`, Cluster: "c", Start: q.Start, End: q.End},
		{App: "shop", Version: "v2", Cluster: "c", Start: q.End, End: q.Start},
		{App: "shop", Version: "v2", Cluster: "c", End: q.End},
	} {
		if _, err := bad.vars(); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
}

func TestProviderFunc(t *testing.T) {
	var p Provider = ProviderFunc(func(ctx context.Context, q Query) (Value, error) {
		return Value{}, fmt.Errorf("nothing for %s: %w", q.Version, ErrNoData)
	})
	if _, err := p.Value(context.Background(), Query{Version: "v1"}); !errors.Is(err, ErrNoData) {
		t.Fatal(err)
	}
}
