package files

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shadowplane/shadowplane/policy"
)

var update = flag.Bool("update", false, "rewrite testdata/writeback/out from WriteRoute's current output")

func wt(n uint32) *uint32 { return &n }

// writeBackCases are the golden cases: testdata/writeback/in/<name>.yaml,
// rewritten, must equal testdata/writeback/out/<name>.yaml.
var writeBackCases = []struct {
	name         string
	app, route   string
	split        []policy.Backend
	removeMirror bool
}{
	// Comments above, inline and below the route and its items stay; the
	// weights change in place.
	{name: "comments", app: "web", route: "default",
		split: []policy.Backend{{Variant: "v1", Weight: wt(0)}, {Variant: "v2", Weight: wt(100)}}},
	// A flow-style split stays flow style; an item is added.
	{name: "flow", app: "web", route: "default",
		split: []policy.Backend{{Variant: "v1", Weight: wt(0)}, {Variant: "v2", Weight: wt(100)}}},
	// The app is the second document; the first, and the leading "---",
	// stay.
	{name: "multidoc", app: "web", route: "default",
		split: []policy.Backend{{Variant: "v2", Weight: wt(100)}}},
	// Only the app's document is written again: a comment-only document
	// and the "---" and "..." markers stay byte for byte; the app's
	// blank lines go and its lists are indented (yaml.v3's layout).
	{name: "markers", app: "web", route: "default",
		split: []policy.Backend{{Variant: "v2", Weight: wt(100)}}},
	// The second route is unnamed: it is "route-1", as the policy decodes it.
	{name: "unnamed", app: "web", route: "route-1",
		split: []policy.Backend{{Variant: "v2", Weight: wt(100)}}},
	// A single backend without a weight gets one, and a second backend.
	{name: "addweight", app: "web", route: "default",
		split: []policy.Backend{{Variant: "v1", Weight: wt(10)}, {Variant: "v2", Weight: wt(90)}}},
	// A Conformance promotion: the dark version takes the traffic and the
	// mirror goes.
	{name: "mirror", app: "web", route: "default",
		split: []policy.Backend{{Variant: "v2", Weight: wt(100)}}, removeMirror: true},
	// CRLF line endings are kept.
	{name: "crlf", app: "web", route: "default",
		split: []policy.Backend{{Variant: "v1", Weight: wt(0)}, {Variant: "v2", Weight: wt(100)}}},
	// An experiment in the same file still names v1: it stays at weight 0.
	{name: "experiment", app: "web", route: "default",
		split: []policy.Backend{{Variant: "v1", Weight: wt(0)}, {Variant: "v2", Weight: wt(100)}}},
}

// copyCase copies an input file to a temporary directory.
func copyCase(t *testing.T, name string, mode os.FileMode) (path string, data []byte) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "writeback", "in", name+".yaml"))
	if err != nil {
		t.Fatal(err)
	}
	path = filepath.Join(t.TempDir(), name+".yaml")
	if err := os.WriteFile(path, data, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // past the umask
		t.Fatal(err)
	}
	return path, data
}

// WriteRoute rewrites each golden case to its expected output, which
// parses to exactly the requested route, keeps the file's mode, and
// leaves no temporary file; a second write of the same route changes
// nothing.
func TestWriteRouteGolden(t *testing.T) {
	outDir := filepath.Join("testdata", "writeback", "out")
	if *update {
		if err := os.RemoveAll(outDir); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(outDir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range writeBackCases {
		t.Run(tc.name, func(t *testing.T) {
			path, _ := copyCase(t, tc.name, 0o640)
			if err := WriteRoute(path, tc.app, tc.route, tc.split, tc.removeMirror); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join(outDir, tc.name+".yaml")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./policy/files -run TestWriteRouteGolden -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s: got\n%s\nwant\n%s", tc.name, got, want)
			}

			f, problems := policy.ParseFile(path, got)
			if len(problems) > 0 {
				t.Fatalf("the result does not parse: %v", policy.JoinProblems(problems))
			}
			r, err := findRoute(&f, tc.app, tc.route)
			if err != nil {
				t.Fatal(err)
			}
			if !routeSays(r, tc.split, tc.removeMirror) || (tc.removeMirror && r.Mirror != nil) {
				t.Errorf("the route says %+v, mirror %v", r.Split, r.Mirror)
			}
			if info, err := os.Stat(path); err != nil || info.Mode().Perm() != 0o640 {
				t.Errorf("mode after the write: %v, %v; want 0640", info.Mode(), err)
			}
			if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
				t.Errorf("the directory holds %d entries, want the file alone", len(entries))
			}

			if err := WriteRoute(path, tc.app, tc.route, tc.split, tc.removeMirror); err != nil {
				t.Fatal(err)
			}
			if again, _ := os.ReadFile(path); !bytes.Equal(again, got) {
				t.Errorf("a second write changed the file:\n%s", again)
			}
		})
	}
}

// The golden outputs keep what the brief asks to keep; checked apart from
// the golden bytes, so that a regenerated golden file cannot lose it.
func TestWriteRouteKeeps(t *testing.T) {
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join("testdata", "writeback", "out", name+".yaml"))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	for name, wants := range map[string][]string{
		"comments": {"# The web app: v1 serves", "# the public name", "# Pinned requests first.",
			"# The route the canary drives.", "# comment on the name", "# v1 is the stable version.",
			"# was 90 last week", "# the canary", "# A comment below the route.", "'127.0.0.1:9002'",
			"weight: 0 # was 90 last week"},
		"flow":       {"split: [{variant: v1, weight: 0}, {variant: v2, weight: 100}] # all on v1"},
		"multidoc":   {"---\n# The first app is not touched.\nkind: App\nname: api", "---\n# The second app is."},
		"unnamed":    {"- name: pinned", "path: {prefix: /v2}"},
		"addweight":  {"- variant: v1 # the only one\n        weight: 10\n      - variant: v2\n        weight: 90"},
		"crlf":       {"# variants\r\n", "weight: 100\r\n"},
		"experiment": {"kind: Experiment", "candidates: [v2]"},
		"markers":    {"# head\n---\n# only a comment\n---\nkind: App\n", "weight: 100\n...\n"},
	} {
		got := read(name)
		for _, want := range wants {
			if !strings.Contains(got, want) {
				t.Errorf("%s: the output lost %q:\n%s", name, want, got)
			}
		}
	}
	if got := read("mirror"); strings.Contains(got, "mirror:") || !strings.Contains(got, "timeout: 3s") {
		t.Errorf("mirror: want the mirror gone and the timeout kept:\n%s", got)
	}
	if got := read("crlf"); strings.Count(got, "\n") != strings.Count(got, "\r\n") {
		t.Errorf("crlf: a line lost its CR:\n%q", got)
	}
}

// WriteRoute refuses, with a message that says why, and leaves the file
// as it was.
func TestWriteRouteRefuses(t *testing.T) {
	v2 := []policy.Backend{{Variant: "v2", Weight: wt(100)}}
	for _, tc := range []struct {
		name         string
		file         string // input case; "" for a path made by prepare
		prepare      func(t *testing.T, path string) string
		app, route   string
		split        []policy.Backend
		removeMirror bool
		want         string
	}{
		{name: "unknown app", file: "comments", app: "shop", route: "default", split: v2,
			want: `the file declares no app "shop"`},
		{name: "unknown route", file: "comments", app: "web", route: "route-1", split: v2,
			want: `app "web" has no route "route-1" (its routes: pinned, default)`},
		{name: "mirror kept on the new live variant", file: "mirror", app: "web", route: "default", split: v2,
			want: `already sends live traffic to variant "v2"`},
		{name: "experiment names a dropped variant", file: "experiment", app: "web", route: "default", split: v2,
			want: `variant "v1" is not in route web/default's split`},
		{name: "unknown variant", file: "comments", app: "web", route: "default",
			split: []policy.Backend{{Variant: "v3", Weight: wt(100)}}, want: "the rewritten file would not be valid"},
		{name: "empty split", file: "comments", app: "web", route: "default", want: "the split is empty"},
		{name: "content does not parse", file: "comments", app: "web", route: "default", split: v2,
			prepare: func(t *testing.T, path string) string {
				appendFile(t, path, "bogus: true\n")
				return path
			},
			want: "its content does not parse now"},
		{name: "read-only", file: "comments", app: "web", route: "default", split: v2,
			prepare: func(t *testing.T, path string) string {
				if err := os.Chmod(path, 0o444); err != nil {
					t.Fatal(err)
				}
				return path
			},
			want: "it is read-only (mode 0444)"},
		{name: "symbolic link", file: "comments", app: "web", route: "default", split: v2,
			prepare: func(t *testing.T, path string) string {
				// As the kubelet mounts a ConfigMap key.
				dir := filepath.Dir(path)
				if err := os.Mkdir(filepath.Join(dir, "..data"), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.Rename(path, filepath.Join(dir, "..data", "app.yaml")); err != nil {
					t.Fatal(err)
				}
				link := filepath.Join(dir, "app.yaml")
				if err := os.Symlink(filepath.Join("..data", "app.yaml"), link); err != nil {
					t.Fatal(err)
				}
				return link
			},
			want: "it is a symbolic link"},
		{name: "named pipe", app: "web", route: "default", split: v2,
			prepare: func(t *testing.T, _ string) string {
				p := filepath.Join(t.TempDir(), "fifo.yaml")
				if err := syscall.Mkfifo(p, 0o644); err != nil {
					t.Skip(err)
				}
				return p
			},
			want: "not a regular file (named pipe)"},
		{name: "directory", app: "web", route: "default", split: v2,
			prepare: func(t *testing.T, _ string) string { return t.TempDir() },
			want:    "not a regular file (directory)"},
		{name: "missing", app: "web", route: "default", split: v2,
			prepare: func(t *testing.T, _ string) string { return filepath.Join(t.TempDir(), "gone.yaml") },
			want:    "no such file or directory"},
		{name: "configmap document", app: "web", route: "default", split: v2,
			prepare: func(*testing.T, string) string { return "configmap/default/policies/app.yaml" },
			want:    "edit the ConfigMap instead"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var path string
			if tc.file != "" {
				path, _ = copyCase(t, tc.file, 0o644)
			}
			if tc.prepare != nil {
				path = tc.prepare(t, path)
			}
			before := readIfRegular(path)
			entriesBefore, _ := os.ReadDir(filepath.Dir(path))
			err := WriteRoute(path, tc.app, tc.route, tc.split, tc.removeMirror)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got error %v, want one saying %q", err, tc.want)
			}
			if !strings.HasPrefix(err.Error(), "cannot write route "+tc.app+"/"+tc.route+" to "+path+": ") {
				t.Errorf("the error does not name the route and file: %v", err)
			}
			if after := readIfRegular(path); !bytes.Equal(after, before) {
				t.Errorf("the file changed:\n%s", after)
			}
			if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != len(entriesBefore) {
				t.Errorf("the directory had %d entries, now %d", len(entriesBefore), len(entries))
			}
		})
	}
}

// An edit made between WriteRoute's read and its write is not
// overwritten.
func TestWriteRouteConcurrentEdit(t *testing.T) {
	path, _ := copyCase(t, "comments", 0o644)
	old := testHookBeforeOpen
	t.Cleanup(func() { testHookBeforeOpen = old })
	reads := 0
	testHookBeforeOpen = func(p string) {
		if p != path {
			return
		}
		if reads++; reads == 2 { // the read just before the write
			appendFile(t, path, "# an edit\n")
		}
	}
	err := WriteRoute(path, "web", "default", []policy.Backend{{Variant: "v2", Weight: wt(100)}}, false)
	if err == nil || !strings.Contains(err.Error(), "the file changed while it was being rewritten") {
		t.Fatalf("got %v", err)
	}
	if got, _ := os.ReadFile(path); !strings.HasSuffix(string(got), "# an edit\n") || !strings.Contains(string(got), "weight: 80") {
		t.Errorf("the edit was lost:\n%s", got)
	}
}

func appendFile(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
}

// readIfRegular reads path if it is a regular file (a FIFO would block).
func readIfRegular(path string) []byte {
	if fi, err := os.Stat(path); err != nil || !fi.Mode().IsRegular() {
		return nil
	}
	b, _ := os.ReadFile(path)
	return b
}

// The directory source takes a write-back at once, as a renamed save,
// even with the settle for in-place writes on, and serves the new weights.
func TestWriteRouteTakenAtOnce(t *testing.T) {
	path, _ := copyCase(t, "comments", 0o644)
	s := newDirState(filepath.Dir(path), time.Second)
	s.inPlace = time.Second
	t0 := time.Now()
	if res, err := s.reload(t0); err != nil || !res.rebuilt {
		t.Fatalf("first load: %+v, %v", res, err)
	}
	if err := WriteRoute(path, "web", "default", []policy.Backend{{Variant: "v2", Weight: wt(100)}}, false); err != nil {
		t.Fatal(err)
	}
	res, err := s.reload(t0.Add(time.Millisecond))
	if err != nil || !res.rebuilt || res.retry != 0 || len(res.rejected) > 0 {
		t.Fatalf("reload after the write: %+v, %v; want taken at once", res, err)
	}
	app, _ := s.model.App("web")
	if got := app.Routes[1].Split; len(got) != 1 || got[0].Variant != "v2" || *got[0].Weight != 100 {
		t.Errorf("served split %+v, want v2 100", got)
	}
}

func TestKeepVariants(t *testing.T) {
	current := []policy.Backend{{Variant: "v1", Weight: wt(90)}, {Variant: "v2", Weight: wt(10)}}
	got := KeepVariants(current, []policy.Backend{{Variant: "v3", Weight: wt(50)}, {Variant: "v2", Weight: wt(50)}})
	var s []string
	for _, b := range got {
		s = append(s, fmt.Sprintf("%s %d", b.Variant, *b.Weight))
	}
	if want := "v1 0, v2 50, v3 50"; strings.Join(s, ", ") != want {
		t.Errorf("got %s, want %s", strings.Join(s, ", "), want)
	}
	if *current[0].Weight != 90 {
		t.Error("current was modified")
	}
}
