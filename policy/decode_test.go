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
