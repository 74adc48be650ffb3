//go:build unix

package files

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shadowplane/shadowplane/policy"
)

// hangTimeout is for the hang detector: opening or reading a FIFO blocks
// forever, so each call that could do so runs in a goroutine and the test
// fails, rather than hangs, if it has not returned by then. Nothing here
// should take more than a fraction of a second.
const hangTimeout = 20 * time.Second

// noHang runs f, failing the test if it does not return within
// hangTimeout (a hang detector: a read of a FIFO or device blocked).
func noHang(t *testing.T, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(hangTimeout):
		t.Fatalf("hang detector: %s did not return within %v", what, hangTimeout)
	}
}

func mkfifo(t *testing.T, path string) {
	t.Helper()
	if err := syscall.Mkfifo(path, 0o644); err != nil {
		t.Skipf("cannot make a FIFO: %v", err)
	}
}

func symlink(t *testing.T, target, path string) {
	t.Helper()
	if err := os.Symlink(target, path); err != nil {
		t.Fatal(err)
	}
}

// needDevZero skips the test where there is no /dev/zero to link to.
func needDevZero(t *testing.T) {
	t.Helper()
	if fi, err := os.Stat("/dev/zero"); err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		t.Skip("no /dev/zero")
	}
}

// padded is content followed by comment lines up to size bytes: a valid
// policy file of any size.
func padded(content string, size int) string {
	var b strings.Builder
	b.WriteString(content)
	line := "# " + strings.Repeat("x", 97) + "\n"
	for b.Len()+len(line) <= size {
		b.WriteString(line)
	}
	b.WriteString(strings.Repeat("#", size-b.Len()))
	return b.String()
}

const (
	fifoProblem = "not a regular file (named pipe); policy files must be regular files"
	devProblem  = "not a regular file (character device); policy files must be regular files"
	// overProblem is for a file of MaxFileSize+1 bytes, which would read
	// as "4.0 MiB" rounded.
	overProblem = "4194305 bytes is over the 4 MiB limit for a policy file"
	bigProblem  = "4.2 MiB is over the 4 MiB limit for a policy file"
	bigSize     = 4404019 // 4.2 MiB
)

func TestReadFileRefusesWhatIsNotASmallRegularFile(t *testing.T) {
	needDevZero(t)
	dir := t.TempDir()
	at := func(name string) string { return filepath.Join(dir, name) }
	mkfifo(t, at("fifo.yaml"))
	symlink(t, "fifo.yaml", at("link-to-fifo.yaml"))
	symlink(t, "/dev/zero", at("zero.yaml"))
	writeFile(t, at("over.yaml"), strings.Repeat("#", MaxFileSize+1))
	writeFile(t, at("big.yaml"), strings.Repeat("#", bigSize))
	if err := os.Mkdir(at("dir.yaml"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"fifo.yaml":         fifoProblem,
		"link-to-fifo.yaml": fifoProblem,
		"zero.yaml":         devProblem,
		"/dev/null":         devProblem,
		"over.yaml":         overProblem,
		"big.yaml":          bigProblem,
		"dir.yaml":          "not a regular file (directory); policy files must be regular files",
	} {
		path := name
		if !filepath.IsAbs(path) {
			path = at(name)
		}
		var err error
		noHang(t, "ReadFile("+name+")", func() { _, err = ReadFile(path) })
		if msg, ok := isRefused(err); !ok || msg != want {
			t.Errorf("ReadFile(%s) = %v, want %q", name, err, want)
		}
	}

	// Exactly MaxFileSize bytes is fine, and so is a link to a regular
	// file (Kubernetes mounts ConfigMap keys through a "..data" link).
	writeFile(t, at("max.yaml"), strings.Repeat("#", MaxFileSize))
	symlink(t, "max.yaml", at("link.yaml"))
	for _, name := range []string{"max.yaml", "link.yaml"} {
		if data, err := ReadFile(at(name)); err != nil || len(data) != MaxFileSize {
			t.Errorf("ReadFile(%s) = %d bytes, %v", name, len(data), err)
		}
	}
	if _, err := ReadFile(at("missing.yaml")); err == nil || !os.IsNotExist(err) {
		t.Errorf("ReadFile(missing) = %v, want not exist", err)
	}
}

// A file swapped for a FIFO between the type check and the open is
// opened without blocking and refused.
func TestReadFileSwappedForFIFO(t *testing.T) {
	dir := t.TempDir()
	path, fifo := filepath.Join(dir, "a.yaml"), filepath.Join(dir, ".fifo")
	writeFile(t, path, appYAML("a", "a.example.com", 10000))
	mkfifo(t, fifo)
	testHookBeforeOpen = func(p string) {
		if p == path {
			if err := os.Rename(fifo, path); err != nil {
				t.Error(err)
			}
		}
	}
	t.Cleanup(func() { testHookBeforeOpen = func(string) {} })
	var err error
	noHang(t, "ReadFile of a file swapped for a FIFO", func() { _, err = ReadFile(path) })
	if msg, ok := isRefused(err); !ok || msg != fifoProblem {
		t.Fatalf("ReadFile = %v, want %q", err, fifoProblem)
	}
}

// A file that reports a size under the limit but has more (as /proc files
// report 0) is read no further than the limit.
func TestReadRegularStopsAtLimit(t *testing.T) {
	const path = "/proc/self/maps"
	if fi, err := os.Stat(path); err != nil || !fi.Mode().IsRegular() || fi.Size() != 0 {
		t.Skipf("no %s of size 0", path)
	}
	_, err := readRegular(path, 10, "policy file")
	if msg, ok := isRefused(err); !ok || msg != "more than 10 bytes is over the 10 bytes limit for a policy file" {
		t.Fatalf("readRegular(%s, 10) = %v", path, err)
	}
}

// LoadDir reports each file it refuses and loads the others, a link to a
// regular file among them.
func TestLoadDirRefusesWhatIsNotASmallRegularFile(t *testing.T) {
	needDevZero(t)
	dir := t.TempDir()
	at := func(name string) string { return filepath.Join(dir, name) }
	writeFile(t, at("a.yaml"), appYAML("a", "a.example.com", 10000))
	// A ConfigMap volume: b.yaml -> ..data/b.yaml, ..data -> ..2026_12_02.
	if err := os.Mkdir(at("..2026_12_02"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, at("..2026_12_02/b.yaml"), appYAML("b", "b.example.com", 10000))
	symlink(t, "..2026_12_02", at("..data"))
	symlink(t, "..data/b.yaml", at("b.yaml"))
	mkfifo(t, at("fifo.yaml"))
	symlink(t, "/dev/zero", at("zero.yaml"))
	// Valid but for its size.
	writeFile(t, at("big.yaml"), padded(appYAML("big", "big.example.com", 10000), bigSize))

	var m *policy.Model
	var statuses []FileStatus
	var err error
	noHang(t, "LoadDir", func() { m, statuses, err = LoadDir(dir) })
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(appNames(m), " "); got != "a b" {
		t.Errorf("apps = %q, want %q", got, "a b")
	}
	want := map[string]string{
		"a.yaml":    "",
		"b.yaml":    "",
		"big.yaml":  bigProblem,
		"fifo.yaml": fifoProblem,
		"zero.yaml": devProblem,
	}
	if len(statuses) != len(want) {
		t.Errorf("statuses = %+v", statuses)
	}
	for _, s := range statuses {
		name := filepath.Base(s.Path)
		switch w, ok := want[name]; {
		case !ok:
			t.Errorf("unexpected status %+v", s)
		case w == "" && !s.OK:
			t.Errorf("%s: %+v, want OK", name, s)
		case w != "" && (s.OK || len(s.Problems) != 1 || s.Problems[0].Error() != at(name)+": "+w):
			t.Errorf("%s: %+v, want the problem %q", name, s, w)
		}
	}
}

// A served file replaced by a FIFO, a device link or a file over the limit
// keeps serving its last good version, like any bad version.
func TestDirStateKeepsLastGoodOfRefusedFile(t *testing.T) {
	needDevZero(t)
	dir := t.TempDir()
	a := filepath.Join(dir, "a.yaml")
	writeFile(t, a, appYAML("a", "a.example.com", 10000))
	s := newDirState(dir, 0)
	c := &clock{now: time.Unix(0, 0)}
	reloadOK(t, s, c.now)

	for _, tc := range []struct {
		name    string
		replace func()
		want    string
	}{
		{"FIFO", func() { mkfifo(t, a) }, fifoProblem},
		{"link to /dev/zero", func() { symlink(t, "/dev/zero", a) }, devProblem},
		{"large file", func() { writeFile(t, a, padded(appYAML("a", "a.example.com", 10000), bigSize)) }, bigProblem},
	} {
		if err := os.Remove(a); err != nil {
			t.Fatal(err)
		}
		tc.replace()
		var res reloadResult
		noHang(t, "reload after a.yaml became a "+tc.name, func() { res, _ = s.reload(c.advance(time.Second)) })
		if len(res.rejected) != 1 || strings.Join(appNames(s.model), " ") != "a" {
			t.Fatalf("%s: %+v, apps %v", tc.name, res, appNames(s.model))
		}
		st := s.status()[0]
		if st.OK || !st.Stale || len(st.Problems) != 1 || st.Problems[0].Error() != a+": "+tc.want {
			t.Fatalf("%s: status %+v, want stale with %q", tc.name, st, tc.want)
		}
	}

	if err := os.Remove(a); err != nil {
		t.Fatal(err)
	}
	writeFile(t, a, appYAML("a", "other.example.com", 10000))
	reloadOK(t, s, c.advance(time.Second))
	if st := s.status()[0]; !st.OK || hostOf(s.model, "a") != "other.example.com" {
		t.Fatalf("fixed: status %+v, host %q", st, hostOf(s.model, "a"))
	}
}

// A FIFO at start, or one that appears while the watcher runs, is
// reported and blocks nothing: not the load, not Status, not the reloads
// of other files.
func TestWatcherFIFO(t *testing.T) {
	dir := t.TempDir()
	mkfifo(t, filepath.Join(dir, "early.yaml"))
	var w *Watcher
	var err error
	noHang(t, "NewWatcher with a FIFO", func() { w, err = NewWatcher(dir, WatcherOptions{}) })
	if err != nil {
		t.Fatal(err)
	}
	if st := w.Status(); len(st) != 1 || st[0].OK || st[0].Problems[0].Message != fifoProblem {
		t.Fatalf("status at start = %+v", st)
	}

	dir = t.TempDir()
	writeFile(t, filepath.Join(dir, "a.yaml"), appYAML("a", "a.example.com", 10000))
	h := startWatcher(t, dir, WatcherOptions{})
	h.waitApps("a")

	// status polls Status, which waits for a reload in progress.
	status := func(name string) (s FileStatus) {
		noHang(t, "Status", func() {
			for _, fs := range h.w.Status() {
				if fs.Path == h.path(name) {
					s = fs
				}
			}
		})
		return s
	}
	waitStatus := func(name, what string, ok func(FileStatus) bool) {
		t.Helper()
		waitFor(t, name+" "+what, func() bool { return ok(status(name)) })
	}
	problem := func(s FileStatus) string {
		if len(s.Problems) != 1 {
			return ""
		}
		return s.Problems[0].Message
	}

	// A new FIFO.
	mkfifo(t, h.path("fifo.yaml"))
	waitStatus("fifo.yaml", "refused", func(s FileStatus) bool { return problem(s) == fifoProblem })

	// A served file replaced by a FIFO keeps its apps.
	mkfifo(t, h.path(".tmp-a.yaml"))
	if err := os.Rename(h.path(".tmp-a.yaml"), h.path("a.yaml")); err != nil {
		t.Fatal(err)
	}
	waitStatus("a.yaml", "stale", func(s FileStatus) bool { return s.Stale && problem(s) == fifoProblem })

	// Later reloads of other files go on.
	h.write("b.yaml", appYAML("b", "b.example.com", 10000))
	h.waitApps("a b")
	h.assertAlwaysServed("a")
}

// A FIFO among the saved last good files is reported, not waited on, and
// the other saved files are still loaded.
func TestLastGoodDirLoadRefusesFIFO(t *testing.T) {
	dir := t.TempDir()
	lg, err := NewLastGoodDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := lg.Save("/policies/a.yaml", Saved{Data: []byte(appYAML("a", "a.example.com", 10000))}); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo"+lastGoodSuffix)
	mkfifo(t, fifo)
	var saved map[string]Saved
	noHang(t, "LastGoodDir.Load", func() { saved, err = lg.Load() })
	want := fifo + ": not a regular file (named pipe); saved policy files must be regular files"
	if err == nil || err.Error() != want {
		t.Errorf("Load error = %v, want %q", err, want)
	}
	if _, ok := saved["/policies/a.yaml"]; !ok || len(saved) != 1 {
		t.Errorf("Load = %v, want a.yaml", saved)
	}
}
