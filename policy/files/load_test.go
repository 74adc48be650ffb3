package files

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shadowplane/shadowplane/policy"
)

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestLoadDirMissing(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "nope")
	_, _, err := LoadDir(dir)
	if err == nil || !strings.Contains(err.Error(), dir) {
		t.Fatalf("LoadDir(missing) = %v, want an error naming %s", err, dir)
	}
	file := filepath.Join(t.TempDir(), "file.yaml")
	writeFile(t, file, "")
	if _, _, err := LoadDir(file); err == nil || !strings.Contains(err.Error(), file) {
		t.Fatalf("LoadDir(file) = %v, want an error naming %s", err, file)
	}
}

func TestLoadDirSelectsFiles(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "a.yaml"), appYAML("a", "a.example.com", 10000))
	writeFile(t, filepath.Join(dir, "b.yml"), appYAML("b", "b.example.com", 10000))
	// Not policy files: each would be a duplicate of app a if read.
	for _, name := range []string{".a.yaml", "a.yaml~", ".#a.yaml", ".a.yaml.swp", "#a.yaml#", "a.json", "README.md"} {
		writeFile(t, filepath.Join(dir, name), appYAML("a", "a.example.com", 10000))
	}
	if err := os.MkdirAll(filepath.Join(dir, "sub.yaml"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "sub.yaml", "c.yaml"), appYAML("a", "a.example.com", 10000))
	if err := os.Symlink("sub.yaml", filepath.Join(dir, "link-to-dir.yaml")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("a-target", filepath.Join(dir, "dangling.yaml")); err != nil {
		t.Fatal(err)
	}

	m, statuses, err := LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(appNames(m), " "); got != "a b" {
		t.Errorf("apps = %q, want %q", got, "a b")
	}
	var paths []string
	for _, s := range statuses {
		paths = append(paths, filepath.Base(s.Path))
	}
	if got := strings.Join(paths, " "); got != "a.yaml b.yml dangling.yaml" {
		t.Errorf("files = %q", got)
	}
	dangling := statuses[2]
	if dangling.OK || len(dangling.Problems) != 1 || !strings.Contains(dangling.Problems[0].Error(), filepath.Join(dir, "dangling.yaml")+": cannot read file") {
		t.Errorf("dangling link status = %+v", dangling)
	}
	if !statuses[0].OK || strings.Join(statuses[0].Apps, ",") != "a" || statuses[0].LoadedAt.IsZero() {
		t.Errorf("a.yaml status = %+v", statuses[0])
	}
}

func TestLoadDirBadFileAndConflict(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "a.yaml"), appYAML("a", "example.com", 10000))
	writeFile(t, filepath.Join(dir, "b.yaml"), appYAML("b", "example.com", 10000))
	writeFile(t, filepath.Join(dir, "c.yaml"), "kind: App\nname: c\nport: x\n")
	writeFile(t, filepath.Join(dir, "empty.yaml"), "")
	m, statuses, err := LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(appNames(m), " "); got != "a" {
		t.Errorf("apps = %q, want a", got)
	}
	problems := Problems(statuses)
	want := []string{
		filepath.Join(dir, "b.yaml") + `:3: host "example.com" on port 10000 is already claimed by app "a" at ` + filepath.Join(dir, "a.yaml") + ":3",
		filepath.Join(dir, "c.yaml") + `:3: port: want a whole number, got "x"`,
	}
	if len(problems) != len(want) {
		t.Fatalf("problems:\n%v", policy.JoinProblems(problems))
	}
	for i := range want {
		if problems[i].Error() != want[i] {
			t.Errorf("problem %d = %q, want %q", i, problems[i].Error(), want[i])
		}
	}
	if s := statuses[3]; !s.OK || len(s.Apps) != 0 {
		t.Errorf("empty file status = %+v, want OK without apps", s)
	}
}

// clock is a settable time for dirState tests.
type clock struct{ now time.Time }

func (c *clock) advance(d time.Duration) time.Time { c.now = c.now.Add(d); return c.now }

func reloadOK(t *testing.T, s *dirState, now time.Time) reloadResult {
	t.Helper()
	res, err := s.reload(now)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestDirStateSkipsUnchangedContent(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.yaml")
	writeFile(t, path, appYAML("a", "a.example.com", 10000))
	s := newDirState(dir, time.Second)
	c := &clock{now: time.Unix(0, 0)}
	if res := reloadOK(t, s, c.now); !res.rebuilt {
		t.Fatal("first reload did not build")
	}
	first := s.model
	writeFile(t, path, appYAML("a", "a.example.com", 10000)) // same bytes, new mtime
	if res := reloadOK(t, s, c.advance(time.Second)); res.rebuilt || s.model != first {
		t.Fatalf("reload of unchanged content rebuilt: %+v", res)
	}
}

func TestDirStateKeepsLastGood(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.yaml"), filepath.Join(dir, "b.yaml")
	writeFile(t, a, appYAML("a", "example.com", 10000))
	s := newDirState(dir, 0)
	c := &clock{now: time.Unix(0, 0)}
	reloadOK(t, s, c.now)
	loaded := c.now

	// A bad edit keeps the last good version, and says so.
	writeFile(t, a, appYAML("a", "example.com", 10000)+"bogus: 1\n")
	res := reloadOK(t, s, c.advance(time.Second))
	if len(res.rejected) != 1 || appNames(s.model)[0] != "a" {
		t.Fatalf("bad edit: %+v, apps %v", res, appNames(s.model))
	}
	st := s.status()[0]
	if st.OK || !st.Stale || st.Apps[0] != "a" || !st.LoadedAt.Equal(loaded) || !strings.Contains(st.Problems[0].Error(), "a.yaml:7: unknown field \"bogus\"") {
		t.Fatalf("status after bad edit = %+v", st)
	}

	// A new file that conflicts with a served one is rejected, whatever
	// its name: a.yaml was there first.
	writeFile(t, a, appYAML("a", "example.com", 10000))
	writeFile(t, b, appYAML("b", "example.com", 10000))
	reloadOK(t, s, c.advance(time.Second))
	if got := strings.Join(appNames(s.model), " "); got != "a" {
		t.Fatalf("apps = %q, want a", got)
	}
	// Once a.yaml gives the host up, b.yaml, unchanged, is tried again
	// and served.
	writeFile(t, a, appYAML("a", "other.example.com", 10000))
	reloadOK(t, s, c.advance(time.Second))
	if got := strings.Join(appNames(s.model), " "); got != "a b" {
		t.Fatalf("after a gave way: apps = %q, want a b", got)
	}
	for _, st := range s.status() {
		if !st.OK {
			t.Errorf("status %+v", st)
		}
	}
}

func TestDirStateSettlesEmptiedAndDeletedFiles(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a.yaml")
	writeFile(t, a, appYAML("a", "example.com", 10000))
	s := newDirState(dir, time.Second)
	c := &clock{now: time.Unix(0, 0)}
	reloadOK(t, s, c.now)

	// Truncated: still served for a while, in case the rest is coming.
	writeFile(t, a, "")
	res := reloadOK(t, s, c.advance(100*time.Millisecond))
	if res.rebuilt || res.retry != time.Second || len(s.model.Apps) != 1 {
		t.Fatalf("emptied file: %+v, apps %v", res, appNames(s.model))
	}
	res = reloadOK(t, s, c.advance(600*time.Millisecond))
	if res.rebuilt || res.retry != 400*time.Millisecond {
		t.Fatalf("emptied file, later: %+v", res)
	}
	// Still empty when the time is up: it really is empty.
	res = reloadOK(t, s, c.advance(400*time.Millisecond))
	if !res.rebuilt || len(s.model.Apps) != 0 {
		t.Fatalf("emptied file, settled: %+v, apps %v", res, appNames(s.model))
	}

	// Deleted: the same.
	writeFile(t, a, appYAML("a", "example.com", 10000))
	reloadOK(t, s, c.advance(time.Second))
	if err := os.Remove(a); err != nil {
		t.Fatal(err)
	}
	if res := reloadOK(t, s, c.advance(time.Millisecond)); res.rebuilt || len(s.model.Apps) != 1 {
		t.Fatalf("deleted file: %+v", res)
	}
	if res := reloadOK(t, s, c.advance(time.Second)); !res.rebuilt || len(s.model.Apps) != 0 || len(s.status()) != 0 {
		t.Fatalf("deleted file, settled: %+v, status %+v", res, s.status())
	}
}
