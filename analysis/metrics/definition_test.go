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

	"github.com/shadowplane/shadowplane/policy"
	"github.com/shadowplane/shadowplane/policy/files"
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
	// Policy validation refuses these names to Metric documents.
	if names := policy.BuiltinMetricNames(); len(names) != len(seen) {
		t.Errorf("policy knows %d built-in names, %d are defined", len(names), len(seen))
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
		sels, err := compileScrape(d.Scrape, vars)
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

// TestDefinitionsLeaveOutOnlyTheBad checks that a bad definition, a
// duplicate or a built-in's name is a problem at its source, and that every
// other definition is still defined.
func TestDefinitionsLeaveOutOnlyTheBad(t *testing.T) {
	user := Definition{Name: "app/conversion", Type: Ratio, Scrape: ScrapeSpec{
		Numerator:   Selector{Family: "orders_total"},
		Denominator: Selector{Family: appRequests},
	}, Source: policy.Source{File: "a.yaml", Line: 1}}
	dup := user
	dup.Source.Line = 9
	taken := Definition{Name: EnvoyErrorRate, Type: Count, Scrape: ScrapeSpec{Counter: Selector{Family: "c"}}, Source: policy.Source{File: "b.yaml", Line: 3}}
	broken := Definition{Name: "broken", Type: Count, Prometheus: PrometheusQueries{Value: "{{.Clustr}}", Samples: "up"}, Source: policy.Source{File: "c.yaml", Line: 5}}
	defs, problems := NewDefinitions(user, dup, taken, broken)
	if got := len(defs.Names()); got != len(Builtin())+1 {
		t.Errorf("%d names, want %d", got, len(Builtin())+1)
	}
	if _, ok := defs.Lookup("app/conversion"); !ok {
		t.Error("user definition not found")
	}
	if d, ok := defs.Lookup(EnvoyErrorRate); !ok || d.Type != Ratio {
		t.Errorf("builtin error rate replaced: %+v %v", d, ok)
	}
	if problems == nil {
		t.Fatal("no error")
	}
	got := strings.Split(problems.Error(), "\n")
	want := []string{
		`a.yaml:9: metric "app/conversion" is not defined: "app/conversion" is defined twice`,
		`b.yaml:3: metric "envoy/error-rate" is not defined: "envoy/error-rate" is defined twice`,
		`c.yaml:5: metric "broken" is not defined: prometheus.value: template: broken:1:`,
	}
	if len(got) != len(want) {
		t.Fatalf("problems:\n%s", strings.Join(got, "\n"))
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("problem %d = %q, want it to start %q", i, got[i], want[i])
		}
	}
}

// TestBadMetricFileLeavesOthersDefined loads a policy directory in which
// one file's Metric has a template that does not parse: that file is the
// only one with problems, and every other metric is still defined.
func TestBadMetricFileLeavesOthersDefined(t *testing.T) {
	dir := t.TempDir()
	metric := func(name, value string) string {
		return "kind: Metric\nname: " + name + "\ntype: count\nprometheus:\n  value: '" + value + "'\n  samples: 'sum(increase(orders_total[{{.Window}}]))'\n"
	}
	for file, content := range map[string]string{
		"good.yaml": metric("shop/orders", "sum(increase(orders_total[{{.Window}}]))"),
		"bad.yaml":  metric("shop/refunds", "sum(increase(refunds_total[{{.Window}]))"),
	} {
		if err := os.WriteFile(filepath.Join(dir, file), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	m, statuses, err := files.LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	ps := files.Problems(statuses)
	if len(ps) != 1 || ps[0].File != filepath.Join(dir, "bad.yaml") || ps[0].Line != 5 {
		t.Errorf("problems:\n%v\nwant one, at bad.yaml:5", policy.JoinProblems(ps))
	}
	defs, err := NewDefinitions(m.Metrics...)
	if err != nil {
		t.Errorf("definitions: %v", err)
	}
	if _, ok := defs.Lookup("shop/orders"); !ok {
		t.Error("shop/orders, in a good file, is not defined")
	}
	if _, ok := defs.Lookup("shop/refunds"); ok {
		t.Error("shop/refunds, whose template does not parse, is defined")
	}
	if _, ok := defs.Lookup(EnvoyP95Latency); !ok {
		t.Error("built-ins are not defined")
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
