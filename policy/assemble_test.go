package policy

import (
	"strconv"
	"strings"
	"testing"
)

// appYAML is a policy document for an app with the given name, hosts and
// port.
func appYAML(name, hosts string, port int) string {
	return "kind: App\nname: " + name + "\nhosts: [" + hosts + "]\nport: " + strconv.Itoa(port) + `
variants: [{name: v1, endpoints: ["127.0.0.1:9001"]}]
routes: [{split: [{variant: v1}]}]
`
}

func mustParse(t *testing.T, path, data string) File {
	t.Helper()
	f, problems := ParseFile(path, []byte(data))
	if len(problems) > 0 {
		t.Fatalf("ParseFile(%s): %v", path, JoinProblems(problems))
	}
	return f
}

func appNames(m *Model) []string {
	names := []string{}
	for _, a := range m.Apps {
		names = append(names, a.Name)
	}
	return names
}

func TestAssemble(t *testing.T) {
	tests := []struct {
		name     string
		files    [][2]string // path, content
		apps     string      // names of the apps in the model, sorted
		problems []string    // "file:line: message" substrings
	}{{
		name:  "apps from many files, sorted",
		files: [][2]string{{"b.yaml", appYAML("web", "web.example.com", 10000)}, {"a.yaml", appYAML("api", "api.example.com", 10000)}},
		apps:  "api web",
	}, {
		name:     "duplicate app name: the later file is rejected",
		files:    [][2]string{{"a.yaml", appYAML("web", "a.example.com", 10000)}, {"b.yaml", appYAML("web", "b.example.com", 10001)}},
		apps:     "web",
		problems: []string{`b.yaml:2: app "web" is already declared at a.yaml:2`},
	}, {
		name:     "same host on the same port",
		files:    [][2]string{{"a.yaml", appYAML("web", "example.com", 10000)}, {"b.yaml", appYAML("shop", "shop.example.com, example.com", 10000)}},
		apps:     "web",
		problems: []string{`b.yaml:3: host "example.com" on port 10000 is already claimed by app "web" at a.yaml:3`},
	}, {
		name:  "same host on different ports",
		files: [][2]string{{"a.yaml", appYAML("web", "example.com", 10000)}, {"b.yaml", appYAML("shop", "example.com", 10001)}},
		apps:  "shop web",
	}, {
		name:     "a gRPC app's host on any port",
		files:    [][2]string{{"a.yaml", appYAML("web", "example.com", 10000)}, {"b.yaml", appYAML("grpc", "example.com", 0)}},
		apps:     "web",
		problems: []string{`b.yaml:3: host "example.com" is already claimed by app "web" at a.yaml:3; the hosts of a proxyless gRPC app`},
	}, {
		name:  "a rejected file takes none of its apps",
		files: [][2]string{{"a.yaml", appYAML("web", "example.com", 10000)}, {"b.yaml", appYAML("shop", "shop.example.com", 10000) + "---\n" + appYAML("web2", "example.com", 10000)}},
		apps:  "web",
		problems: []string{
			`b.yaml:10: host "example.com" on port 10000 is already claimed by app "web" at a.yaml:3`,
		},
	}, {
		name:  "wildcards are not conflicts",
		files: [][2]string{{"a.yaml", appYAML("web", `"*.example.com"`, 10000)}, {"b.yaml", appYAML("shop", "shop.example.com", 10000)}},
		apps:  "shop web",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var files []File
			for _, f := range tt.files {
				files = append(files, mustParse(t, f[0], f[1]))
			}
			m, problems := Assemble(files)
			if got := strings.Join(appNames(m), " "); got != tt.apps {
				t.Errorf("apps = %q, want %q", got, tt.apps)
			}
			if len(problems) != len(tt.problems) {
				t.Fatalf("problems = %v, want %d", JoinProblems(problems), len(tt.problems))
			}
			for i, p := range problems {
				if !strings.Contains(p.Error(), tt.problems[i]) {
					t.Errorf("problem %q, want it to contain %q", p.Error(), tt.problems[i])
				}
			}
		})
	}
}

// Files built in code have no line index; problems fall back to the app's
// Source.
func TestAssembleFilesBuiltInCode(t *testing.T) {
	a, b := validApp(), validApp()
	a.Source = Source{File: "a", Line: 7}
	b.Source = Source{File: "b", Line: 9}
	_, problems := Assemble([]File{{Path: "a", Apps: []App{a}}, {Path: "b", Apps: []App{b}}})
	if len(problems) != 2 {
		t.Fatalf("problems = %v", JoinProblems(problems))
	}
	for _, p := range problems {
		if p.File != "b" || p.Line != 9 {
			t.Errorf("problem %v, want b:9", p)
		}
	}
}

func TestAssembleChecksExperimentReferences(t *testing.T) {
	app := `kind: App
name: web
variants:
  - {name: v1, endpoints: ["127.0.0.1:1"]}
  - {name: v2, endpoints: ["127.0.0.1:2"]}
routes:
  - name: default
    split: [{variant: v1}]
`
	exp := func(route, candidate string) string {
		return `kind: Experiment
name: canary
app: web
route: ` + route + `
testing: Canary
baseline: v1
candidates: [` + candidate + `]
objectives: [{metric: app/error-rate, upperLimit: 0.01}]
metrics: {targets: {"*": ["http://127.0.0.1:9/metrics"]}}
`
	}
	cases := map[string]struct{ route, candidate, want string }{
		"unknown route":       {"nope", "v2", `app "web" has no route "nope"`},
		"unknown variant":     {"default", "v9", `app "web" has no variant "v9"`},
		"candidate not split": {"default", "v2", `variant "v2" is not in route web/default's split`},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			a, ps := ParseFile("app.yaml", []byte(app))
			if len(ps) > 0 {
				t.Fatal(ps)
			}
			e, ps := ParseFile("exp.yaml", []byte(exp(c.route, c.candidate)))
			if len(ps) > 0 {
				t.Fatal(ps)
			}
			m, ps := Assemble([]File{a, e})
			if len(ps) == 0 || !strings.Contains(ps[0].Error(), "exp.yaml:1: ") || !strings.Contains(ps[0].Error(), c.want) {
				t.Fatalf("problems %v, want exp.yaml:1 %q", ps, c.want)
			}
			if len(m.Apps) != 1 || len(m.Experiments) != 0 {
				t.Errorf("the app's file must stay served and the experiment's rejected: %d apps, %d experiments", len(m.Apps), len(m.Experiments))
			}
		})
	}
}
