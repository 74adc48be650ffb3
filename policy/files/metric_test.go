package files

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shadowplane/shadowplane/policy"
)

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
		var ps []policy.Problem
		for _, st := range s.status() {
			ps = append(ps, st.Problems...)
		}
		if len(ps) != 2 || ps[0].File != path || ps[0].Line != line || !strings.Contains(ps[0].Message, "prometheus.value: template: ") {
			t.Fatalf("problems:\n%v\nwant prometheus.value and samples of %s:%d", policy.JoinProblems(ps), path, line)
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
