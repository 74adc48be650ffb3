package policy

import (
	"slices"
	"strings"
	"testing"
)

// canaryYAML is an experiment named name on route default of app.
func canaryYAML(name, app string) string {
	return `kind: Experiment
name: ` + name + `
app: ` + app + `
route: default
testing: Canary
baseline: v1
candidates: [v2]
objectives: [{metric: app/error-rate, upperLimit: 0.01}]
metrics: {targets: {"*": ["http://127.0.0.1:9/metrics"]}}
`
}

// canaryAppYAML is an app with the route and variants canaryYAML needs.
func canaryAppYAML(name, host string) string {
	return "kind: App\nname: " + name + "\nhosts: [" + host + `]
variants:
  - {name: v1, endpoints: ["127.0.0.1:1"]}
  - {name: v2, endpoints: ["127.0.0.1:2"]}
routes:
  - name: default
    split: [{variant: v1, weight: 100}, {variant: v2, weight: 0}]
`
}

// replace puts a file in the set and checks the problems it causes:
// none if want is "", else one containing want.
func replace(t *testing.T, set *Assembly, path, data, want string) {
	t.Helper()
	f := mustParse(t, path, data)
	ps := set.Replace(&f)
	switch {
	case want == "" && len(ps) > 0:
		t.Fatalf("Replace(%s): %v", path, JoinProblems(ps))
	case want != "" && (len(ps) == 0 || !strings.Contains(JoinProblems(ps).Error(), want)):
		t.Fatalf("Replace(%s) = %v, want a problem with %q", path, ps, want)
	}
}

func modelApps(set *Assembly) string { return strings.Join(appNames(set.Model()), " ") }

func TestAssemblyReplace(t *testing.T) {
	var set Assembly
	replace(t, &set, "b.yaml", appYAML("web", "web.example.com", 10000), "")
	replace(t, &set, "a.yaml", appYAML("api", "api.example.com", 10000), "")
	// A conflict with another file leaves the set as it was.
	replace(t, &set, "c.yaml", appYAML("shop", "web.example.com", 10000), `c.yaml:3: host "web.example.com" on port 10000 is already claimed by app "web" at b.yaml:3`)
	replace(t, &set, "a.yaml", appYAML("web", "other.example.com", 10000), `a.yaml:2: app "web" is already declared at b.yaml:2`)
	if got := modelApps(&set); got != "api web" {
		t.Fatalf("apps %q, want %q (rejected versions change nothing)", got, "api web")
	}
	// A new version is checked without the one it replaces: b may keep
	// its own host, and what it gives up is free for others.
	replace(t, &set, "b.yaml", appYAML("web", "web.example.com, www.example.com", 10000), "")
	replace(t, &set, "b.yaml", appYAML("web2", "www.example.com", 10000), "")
	replace(t, &set, "c.yaml", appYAML("shop", "web.example.com", 10000), "")
	replace(t, &set, "d.yaml", appYAML("web", "web.example.com", 10001), "")
	if got := modelApps(&set); got != "api shop web web2" {
		t.Fatalf("apps %q, want %q", got, "api shop web web2")
	}
	// A gRPC app (port 0) claims its host on every port.
	replace(t, &set, "e.yaml", appYAML("grpc", "web.example.com", 0), `host "web.example.com" is already claimed by app "shop" at c.yaml:3`)
}

func TestAssemblyExperiments(t *testing.T) {
	var set Assembly
	replace(t, &set, "app.yaml", canaryAppYAML("web", "web.example.com"), "")
	replace(t, &set, "exp.yaml", canaryYAML("canary", "web"), "")
	replace(t, &set, "exp2.yaml", canaryYAML("canary", "web"), `exp2.yaml:1: experiment "canary": the name is already used at exp.yaml:1`)
	replace(t, &set, "exp2.yaml", canaryYAML("other", "web"), `route web/default is already driven by experiment "canary"`)
	replace(t, &set, "exp2.yaml", canaryYAML("lost", "nope"), `unknown app "nope"`)
	// The app's file may not withdraw an app an experiment drives: the
	// problem is at the experiment, and the app stays.
	replace(t, &set, "app.yaml", appYAML("api", "api.example.com", 10000), `exp.yaml:1: experiment "canary": unknown app "web"`)
	replace(t, &set, "app.yaml", appYAML("web", "web.example.com", 10000), `app "web" has no route "default"`)
	m := set.Model()
	if len(m.Apps) != 1 || len(m.Apps[0].Variants) != 2 || len(m.Experiments) != 1 {
		t.Fatalf("model %v, want app web with both variants and experiment canary", m)
	}
	// Once the experiment's file withdraws it, its app may go.
	replace(t, &set, "exp.yaml", "", "")
	replace(t, &set, "app.yaml", appYAML("api", "api.example.com", 10000), "")
	if got := modelApps(&set); got != "api" {
		t.Fatalf("apps %q, want api", got)
	}
}

// The set judges files as Assemble does, file by file: the same files in
// the same order give the same model and the same problems.
func TestAssemblyAgreesWithAssemble(t *testing.T) {
	files := []File{
		mustParse(t, "a.yaml", appYAML("web", "web.example.com, www.example.com", 10000)),
		mustParse(t, "b.yaml", appYAML("web", "b.example.com", 10000)),
		mustParse(t, "c.yaml", appYAML("shop", "www.example.com", 10000)),
		mustParse(t, "d.yaml", appYAML("grpc", "web.example.com", 0)),
		mustParse(t, "e.yaml", canaryAppYAML("canary-app", "canary.example.com")),
		mustParse(t, "f.yaml", canaryYAML("canary", "canary-app")),
		mustParse(t, "g.yaml", canaryYAML("canary", "canary-app")),
		mustParse(t, "h.yaml", canaryYAML("stray", "nope")),
	}
	want, wantProblems := Assemble(files)
	var set Assembly
	var problems []Problem
	for i := range files {
		problems = append(problems, set.Replace(&files[i])...)
	}
	if got, w := modelApps(&set), strings.Join(appNames(want), " "); got != w {
		t.Errorf("apps %q, Assemble %q", got, w)
	}
	if got, w := len(set.Model().Experiments), len(want.Experiments); got != w {
		t.Errorf("%d experiments, Assemble %d", got, w)
	}
	sorted := func(ps []Problem) string {
		var lines []string
		for _, p := range ps {
			lines = append(lines, p.Error())
		}
		slices.Sort(lines)
		return strings.Join(lines, "\n")
	}
	if got, w := sorted(problems), sorted(wantProblems); got != w {
		t.Errorf("problems:\n%s\nAssemble's:\n%s", got, w)
	}
}
