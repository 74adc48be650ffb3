package policy

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// want is one expected problem, read from a "# want: <line>: <text>"
// comment at the top of a testdata file.
type want struct {
	line int
	text string
}

var reWant = regexp.MustCompile(`^# want: (\d+): (.+)$`)

func readWants(t *testing.T, data []byte) []want {
	t.Helper()
	var wants []want
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		m := reWant.FindStringSubmatch(sc.Text())
		if m == nil {
			break
		}
		line, _ := strconv.Atoi(m[1])
		wants = append(wants, want{line, m[2]})
	}
	if len(wants) == 0 {
		t.Fatal(`no "# want: <line>: <text>" comment on the first line`)
	}
	return wants
}

// TestParseFileBad checks that every bad file reports exactly the problems
// its "# want" comments name, at exactly those lines, and no others: one
// mistake must not drown in problems that follow from it.
func TestParseFileBad(t *testing.T) {
	paths, err := filepath.Glob("testdata/bad/*.yaml")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no bad testdata: %v", err)
	}
	for _, path := range paths {
		t.Run(filepath.Base(path), func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			wants := readWants(t, data)
			f, problems := ParseFile(path, data)
			if len(f.Apps) != 0 {
				t.Errorf("a file with problems returned %d apps", len(f.Apps))
			}
			for _, w := range wants {
				found := false
				for _, p := range problems {
					if p.Line == w.line && strings.Contains(p.Message, w.text) {
						found = true
					}
				}
				if !found {
					t.Errorf("want problem at line %d containing %q", w.line, w.text)
				}
			}
			if len(problems) != len(wants) || t.Failed() {
				for _, p := range problems {
					t.Errorf("got %v", p)
				}
			}
			for _, p := range problems {
				if p.File != path {
					t.Errorf("problem names file %q, want %q", p.File, path)
				}
			}
		})
	}
}

func TestParseFileGood(t *testing.T) {
	paths, err := filepath.Glob("testdata/good/*.yaml")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no good testdata: %v", err)
	}
	for _, path := range paths {
		t.Run(filepath.Base(path), func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			f, problems := ParseFile(path, data)
			for _, p := range problems {
				t.Errorf("unexpected problem: %v", p)
			}
			for _, a := range f.Apps {
				if a.Source.File != path || a.Source.Line < 1 {
					t.Errorf("app %s: source %+v", a.Name, a.Source)
				}
			}
		})
	}
}

func TestSyntaxErrorLine(t *testing.T) {
	long := "kind: App\nname: web\nvariants:\n" + strings.Repeat("  - name: v\n", 100) + "   bad: 1\n"
	tests := []struct {
		name string
		yaml string
		line int
	}{
		{"mapping value", "kind: App\nname: web: x\n", 2},
		{"no final newline", "kind: App\nname: web: x", 2},
		{"first line", "name: web: x\nkind: App\n", 1},
		{"after a multi-line flow list", "kind: App\nhosts: [a,\n  b]\nname: web: x\n", 4},
		{"after a multi-line quoted string", "kind: App\nname: \"a\n  b\"\nport: [\n", 4},
		{"unclosed quote", "kind: App\nname: \"abc\nport: 1\n", 2},
		{"unclosed flow list", "kind: App\nhosts: [a, b\nname: x\n", 2},
		{"deep in a long list", long, 104},
		{"tab", "kind: App\n\tname: web\n", 2},
		{"second document", "kind: App\nname: a\n---\nkind: App\nname: b\n  port: 1\n", 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, problems := ParseFile("f.yaml", []byte(tt.yaml))
			if len(problems) != 1 || problems[0].Line != tt.line || !strings.Contains(problems[0].Message, "invalid YAML") {
				t.Errorf("problems = %v, want one invalid YAML at line %d", problems, tt.line)
			}
		})
	}
}

func TestParseFileSourcesAndDefaults(t *testing.T) {
	f := mustParse(t, "testdata/good/full.yaml", mustRead(t, "testdata/good/full.yaml"))
	if len(f.Apps) != 2 {
		t.Fatalf("%d apps, want 2", len(f.Apps))
	}
	shop, greeter := f.Apps[0], f.Apps[1]
	if shop.Source != (Source{File: "testdata/good/full.yaml", Line: 2}) || greeter.Source.Line != 55 {
		t.Errorf("sources %+v, %+v", shop.Source, greeter.Source)
	}
	if got := strings.Join(shop.Hosts, " "); got != "shop.example.com *.shop.example.com shop.example.org" {
		t.Errorf("hosts = %s", got)
	}
	if got := shop.Routes[0].Match.Headers[0].Name; got != "x-beta" {
		t.Errorf("header name = %s, want x-beta", got)
	}
	if got := shop.Routes[1].Name + " " + shop.Routes[2].Name; got != "route-1 route-2" {
		t.Errorf("default route names = %s", got)
	}
	if got := shop.Routes[0].Timeout.String(); got != "2.5s" {
		t.Errorf("timeout = %s", got)
	}
	if got := greeter.Hosts; len(got) != 1 || got[0] != "greeter" || greeter.Port != 0 {
		t.Errorf("greeter hosts %v port %d", got, greeter.Port)
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func TestProblemError(t *testing.T) {
	if got := (Problem{File: "a.yaml", Line: 3, Message: "bad"}).Error(); got != "a.yaml:3: bad" {
		t.Errorf("with line: %q", got)
	}
	if got := (Problem{File: "a.yaml", Message: "cannot read file: denied"}).Error(); got != "a.yaml: cannot read file: denied" {
		t.Errorf("without line: %q", got)
	}
	if JoinProblems(nil) != nil {
		t.Error("JoinProblems(nil) != nil")
	}
}
