package files

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/shadowplane/shadowplane/policy"
)

// TestExamples loads every example directory as shadowplane serve would,
// and checks that each says what its README promises.
func TestExamples(t *testing.T) {
	checks := map[string]func(t *testing.T, a *policy.App){
		"mirroring": func(t *testing.T, a *policy.App) {
			r := a.Routes[0]
			wantHosts(t, a, "example.com")
			wantSplit(t, r, "v1", 100)
			wantMirror(t, r, "v2", 40)
		},
		"canary-segment": func(t *testing.T, a *policy.App) {
			wantHosts(t, a, "example.com")
			if len(a.Routes) != 2 {
				t.Fatalf("%d routes, want 2", len(a.Routes))
			}
			seg := a.Routes[0]
			if h := seg.Match.Headers; len(h) != 1 || h[0].Name != "country" || h[0].Exact != "wakanda" {
				t.Errorf("segment match = %+v", seg.Match)
			}
			wantSplit(t, seg, "v1", 100, "v2", 0)
			wantSplit(t, a.Routes[1], "v1", 100)
		},
		"mirror-full": func(t *testing.T, a *policy.App) {
			wantSplit(t, a.Routes[0], "v1", 100)
			wantMirror(t, a.Routes[0], "v2", 100)
		},
		"auto-mirror": func(t *testing.T, a *policy.App) {
			wantSplit(t, a.Routes[0], "v1", 100)
			wantMirror(t, a.Routes[0], "v2", 100)
			if v, _ := a.Variant("v2"); v.Available() {
				t.Error("v2 is available; the example starts with v2 not deployed")
			}
		},
		"split": func(t *testing.T, a *policy.App) {
			wantHosts(t, a, "example.com")
			if len(a.Routes) != 2 {
				t.Fatalf("%d routes, want 2", len(a.Routes))
			}
			if h := a.Routes[0].Match.Headers; len(h) != 1 || h[0].Name != "x-variant" || h[0].Exact != "v2" {
				t.Errorf("first route match = %+v", a.Routes[0].Match)
			}
			wantSplit(t, a.Routes[0], "v2", 100)
			wantSplit(t, a.Routes[1], "v1", 80, "v2", 20)
		},
	}
	// Policy examples are the example directories with an app.yaml; the
	// others hold programs (the sample application).
	apps, _ := filepath.Glob("../../examples/*/app.yaml")
	var dirs []string
	for _, f := range apps {
		dirs = append(dirs, filepath.Dir(f))
	}
	if len(dirs) != len(checks) {
		t.Errorf("found %d example directories, have checks for %d", len(dirs), len(checks))
	}
	for _, dir := range dirs {
		name := filepath.Base(dir)
		t.Run(name, func(t *testing.T) {
			m, statuses, err := LoadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			if ps := Problems(statuses); len(ps) > 0 {
				t.Fatal(policy.JoinProblems(ps))
			}
			if len(statuses) != 1 || filepath.Base(statuses[0].Path) != "app.yaml" || len(m.Apps) != 1 {
				t.Fatalf("want one app in app.yaml, got %+v", statuses)
			}
			if _, err := os.Stat(filepath.Join(dir, "README.md")); err != nil {
				t.Error(err)
			}
			a := &m.Apps[0]
			if a.Port != 10000 {
				t.Errorf("port %d, want 10000", a.Port)
			}
			for _, v := range a.Variants {
				for _, ep := range v.Endpoints {
					if want := map[string]string{"v1": "127.0.0.1:9001", "v2": "127.0.0.1:9002"}[v.Name]; ep != want {
						t.Errorf("variant %s endpoint %s, want %s", v.Name, ep, want)
					}
				}
			}
			check, ok := checks[name]
			if !ok {
				t.Fatalf("no check for example %s", name)
			}
			check(t, a)
		})
	}
}

func wantHosts(t *testing.T, a *policy.App, host string) {
	t.Helper()
	if len(a.Hosts) != 1 || a.Hosts[0] != host {
		t.Errorf("hosts %v, want [%s]", a.Hosts, host)
	}
}

// wantSplit checks a route's split against variant, weight pairs.
func wantSplit(t *testing.T, r policy.Route, pairs ...any) {
	t.Helper()
	if len(r.Split) != len(pairs)/2 {
		t.Errorf("route %s: split %+v, want %v", r.Name, r.Split, pairs)
		return
	}
	for i, b := range r.Split {
		if b.Variant != pairs[2*i].(string) || b.Weight == nil || int(*b.Weight) != pairs[2*i+1].(int) {
			t.Errorf("route %s: split[%d] = %s/%v, want %v/%v", r.Name, i, b.Variant, b.Weight, pairs[2*i], pairs[2*i+1])
		}
	}
}

func wantMirror(t *testing.T, r policy.Route, variant string, percent float64) {
	t.Helper()
	m := r.Mirror
	if m == nil || m.Variant != variant || m.Percent == nil || *m.Percent != percent {
		t.Errorf("route %s: mirror %+v, want %s at %v%%", r.Name, m, variant, percent)
	}
}
