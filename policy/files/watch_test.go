package files

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shadowplane/shadowplane/policy"
)

// The watcher tests use real files and fsnotify. They never sleep to wait
// for a result: they wait for a published model, or poll a condition,
// with a deadline far beyond what a slow machine needs.
const waitTimeout = 10 * time.Second

type watchHarness struct {
	t      *testing.T
	dir    string
	w      *Watcher
	models chan *policy.Model

	mu        sync.Mutex
	published []*policy.Model
}

func startWatcher(t *testing.T, dir string, opts WatcherOptions) *watchHarness {
	t.Helper()
	h := &watchHarness{t: t, dir: dir, models: make(chan *policy.Model, 1000)}
	if opts.Holdoff == 0 {
		opts.Holdoff = 10 * time.Millisecond
	}
	if opts.MaxDelay == 0 {
		opts.MaxDelay = 300 * time.Millisecond
	}
	var calls sync.Mutex
	opts.Publish = func(m *policy.Model) {
		if !calls.TryLock() {
			t.Error("Publish called concurrently")
			return
		}
		defer calls.Unlock()
		h.mu.Lock()
		h.published = append(h.published, m)
		h.mu.Unlock()
		h.models <- m
	}
	w, err := NewWatcher(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	h.w = w
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(waitTimeout):
			t.Error("Run did not return after cancel")
		}
	})
	return h
}

func (h *watchHarness) path(name string) string { return filepath.Join(h.dir, name) }

// write replaces a file atomically, through a hidden temporary file and a
// rename. An in-place write truncates first, and on a busy machine the
// watcher can read the empty file in between and serve it: a later
// conflict then reads as stale, not as a newcomer refused.
func (h *watchHarness) write(name, content string) {
	h.t.Helper()
	tmp := filepath.Join(h.dir, ".tmp-"+name)
	writeFile(h.t, tmp, content)
	if err := os.Rename(tmp, h.path(name)); err != nil {
		h.t.Fatal(err)
	}
}

// waitModel waits for a published model that satisfies ok.
func (h *watchHarness) waitModel(what string, ok func(*policy.Model) bool) *policy.Model {
	h.t.Helper()
	deadline := time.After(waitTimeout)
	for {
		select {
		case m := <-h.models:
			if ok(m) {
				return m
			}
		case <-deadline:
			h.t.Fatalf("no model published where %s; last: %v", what, appNames(h.w.Model()))
		}
	}
}

// waitApps waits for a model whose apps are exactly names.
func (h *watchHarness) waitApps(names string) *policy.Model {
	h.t.Helper()
	return h.waitModel("apps are "+names, func(m *policy.Model) bool { return strings.Join(appNames(m), " ") == names })
}

// waitStatus polls Status until ok holds for the file name.
func (h *watchHarness) waitStatus(name, what string, ok func(FileStatus) bool) FileStatus {
	h.t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		for _, s := range h.w.Status() {
			if s.Path == h.path(name) && ok(s) {
				return s
			}
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("status of %s never showed %s: %+v", name, what, h.w.Status())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func hostOf(m *policy.Model, app string) string {
	if a, ok := m.App(app); ok && len(a.Hosts) > 0 {
		return a.Hosts[0]
	}
	return ""
}

func TestNewWatcherMissingDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "missing")
	if _, err := NewWatcher(dir, WatcherOptions{}); err == nil || !strings.Contains(err.Error(), dir) {
		t.Fatalf("NewWatcher(missing) = %v, want an error naming %s", err, dir)
	}
}

func TestWatcherEditBadEditFixDelete(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "a.yaml"), appYAML("a", "one.example.com", 10000))
	writeFile(t, filepath.Join(dir, "keep.yaml"), appYAML("keep", "keep.example.com", 10000))
	h := startWatcher(t, dir, WatcherOptions{})

	// The first model is published at once and is the one NewWatcher read.
	first := h.waitApps("a keep")
	if first != h.w.Model() {
		t.Error("first published model is not Model()")
	}

	// Edit: a new model.
	h.write("a.yaml", appYAML("a", "two.example.com", 10000))
	h.waitModel("a moved to two.example.com", func(m *policy.Model) bool { return hostOf(m, "a") == "two.example.com" })

	// Bad edit: the last good version stays, the status says where.
	before := h.w.Stats()
	h.write("a.yaml", appYAML("a", "three.example.com", 10000)+"  - oops\n")
	st := h.waitStatus("a.yaml", "an error", func(s FileStatus) bool { return !s.OK })
	if !st.Stale || strings.Join(st.Apps, ",") != "a" || len(st.Problems) != 1 ||
		!strings.HasPrefix(st.Problems[0].Error(), h.path("a.yaml")+":7: invalid YAML") {
		t.Errorf("status after bad edit = %+v", st)
	}
	if got := hostOf(h.w.Model(), "a"); got != "two.example.com" {
		t.Errorf("served host after bad edit = %q, want the last good two.example.com", got)
	}
	if after := h.w.Stats(); after.ReloadErrors <= before.ReloadErrors || after.Reloads <= before.Reloads {
		t.Errorf("stats before %+v, after %+v", before, after)
	}

	// Fix: recovers.
	h.write("a.yaml", appYAML("a", "four.example.com", 10000))
	h.waitModel("a moved to four.example.com", func(m *policy.Model) bool { return hostOf(m, "a") == "four.example.com" })
	h.waitStatus("a.yaml", "OK", func(s FileStatus) bool { return s.OK && !s.Stale })

	// Delete: its apps are withdrawn, the others stay.
	if err := os.Remove(h.path("a.yaml")); err != nil {
		t.Fatal(err)
	}
	h.waitApps("keep")
	if s := h.w.Status(); len(s) != 1 || s[0].Path != h.path("keep.yaml") {
		t.Errorf("status after delete = %+v", s)
	}
}

// Publish is called only when the model changed: rewriting the same bytes,
// or a change that makes no difference, publishes nothing.
func TestWatcherPublishesOnlyChanges(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "a.yaml"), appYAML("a", "one.example.com", 10000))
	h := startWatcher(t, dir, WatcherOptions{})
	h.waitApps("a")

	// Rewriting the same bytes rebuilds nothing (see
	// TestDirStateSkipsUnchangedContent); a file of comments only rebuilds
	// a model equal to the last, which is not published.
	reloads := h.w.Stats().Reloads
	h.write("a.yaml", appYAML("a", "one.example.com", 10000))
	h.write("notes.txt", "not policy")
	h.write("b.yaml", "# an empty policy file, for now\n")
	waitFor(t, "b.yaml loaded", func() bool { return len(h.w.Status()) == 2 && h.w.Stats().Reloads > reloads })
	h.write("a.yaml", appYAML("a", "two.example.com", 10000))
	m := h.waitModel("any", func(*policy.Model) bool { return true })
	if hostOf(m, "a") != "two.example.com" {
		t.Fatalf("published a model that did not change: host %q", hostOf(m, "a"))
	}
}

func TestWatcherRenameIntoPlace(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "a.yaml"), appYAML("a", "one.example.com", 10000))
	h := startWatcher(t, dir, WatcherOptions{})
	h.waitApps("a")

	// The atomic-write pattern: write a hidden temporary file, rename it
	// over the old one.
	h.write(".a.yaml.tmp", appYAML("a", "two.example.com", 10000))
	if err := os.Rename(h.path(".a.yaml.tmp"), h.path("a.yaml")); err != nil {
		t.Fatal(err)
	}
	h.waitModel("a moved to two.example.com", func(m *policy.Model) bool { return hostOf(m, "a") == "two.example.com" })

	// vim's pattern: move the file away as a backup, write a new one,
	// delete the backup.
	if err := os.Rename(h.path("a.yaml"), h.path("a.yaml~")); err != nil {
		t.Fatal(err)
	}
	h.write("a.yaml", appYAML("a", "three.example.com", 10000))
	if err := os.Remove(h.path("a.yaml~")); err != nil {
		t.Fatal(err)
	}
	h.waitModel("a moved to three.example.com", func(m *policy.Model) bool { return hostOf(m, "a") == "three.example.com" })
	h.assertAlwaysServed("a")
}

// An editor that truncates then writes may be caught between the two. The
// empty file is valid (no apps), but the watcher keeps serving the file's
// apps for MaxDelay in case the rest is coming, and it is.
func TestWatcherTruncateThenWrite(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "a.yaml"), appYAML("a", "one.example.com", 10000))
	h := startWatcher(t, dir, WatcherOptions{MaxDelay: 2 * time.Second})
	h.waitApps("a")

	f, err := os.OpenFile(h.path("a.yaml"), os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Let the watcher see the empty file: this sleep creates the race the
	// test is about; it does not wait for a result.
	time.Sleep(100 * time.Millisecond)
	content := appYAML("a", "two.example.com", 10000)
	if _, err := f.WriteString(content[:20]); err != nil { // a partial file: invalid YAML
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if _, err := f.WriteString(content[20:]); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	h.waitModel("a moved to two.example.com", func(m *policy.Model) bool { return hostOf(m, "a") == "two.example.com" })
	h.assertAlwaysServed("a")
	h.waitStatus("a.yaml", "OK", func(s FileStatus) bool { return s.OK })
}

// An emptied file that stays empty withdraws its apps once MaxDelay is up.
func TestWatcherEmptiedFile(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "a.yaml"), appYAML("a", "one.example.com", 10000))
	h := startWatcher(t, dir, WatcherOptions{MaxDelay: 100 * time.Millisecond})
	h.waitApps("a")
	h.write("a.yaml", "")
	h.waitApps("")
	h.waitStatus("a.yaml", "OK without apps", func(s FileStatus) bool { return s.OK && len(s.Apps) == 0 })
}

func TestWatcherConflictBetweenFiles(t *testing.T) {
	dir := t.TempDir()
	// z.yaml sorts after the newcomer, so name order cannot be what keeps it.
	writeFile(t, filepath.Join(dir, "z.yaml"), appYAML("old", "example.com", 10000))
	h := startWatcher(t, dir, WatcherOptions{})
	h.waitApps("old")

	h.write("a.yaml", appYAML("new", "example.com", 10000))
	st := h.waitStatus("a.yaml", "a conflict", func(s FileStatus) bool { return !s.OK })
	want := h.path("a.yaml") + `:3: host "example.com" on port 10000 is already claimed by app "old" at ` + h.path("z.yaml") + ":3"
	if len(st.Problems) != 1 || st.Problems[0].Error() != want || st.Stale || len(st.Apps) != 0 {
		t.Errorf("status of the newcomer = %+v, want problem %q", st, want)
	}
	if got := strings.Join(appNames(h.w.Model()), " "); got != "old" {
		t.Errorf("apps = %q, want old", got)
	}

	// When the old file goes, the newcomer, unchanged, takes over.
	if err := os.Remove(h.path("z.yaml")); err != nil {
		t.Fatal(err)
	}
	h.waitApps("new")
	h.waitStatus("a.yaml", "OK", func(s FileStatus) bool { return s.OK })
}

// A directory that disappears keeps its model; when it comes back, the
// rescan watches it again.
func TestWatcherDirectoryRemovedAndRestored(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "policy")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "a.yaml"), appYAML("a", "one.example.com", 10000))
	h := startWatcher(t, dir, WatcherOptions{Rescan: 20 * time.Millisecond})
	h.waitApps("a")

	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a directory error", func() bool { return h.w.Stats().DirError != "" })
	if got := strings.Join(appNames(h.w.Model()), " "); got != "a" {
		t.Errorf("apps while the directory is gone = %q, want a", got)
	}

	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "a.yaml"), appYAML("a", "two.example.com", 10000))
	h.waitModel("a moved to two.example.com", func(m *policy.Model) bool { return hostOf(m, "a") == "two.example.com" })
	if h.w.Stats().DirError != "" {
		t.Errorf("DirError = %q after the directory came back", h.w.Stats().DirError)
	}
}

func TestWatcherRunTwice(t *testing.T) {
	h := startWatcher(t, t.TempDir(), WatcherOptions{})
	h.waitApps("")
	if err := h.w.Run(context.Background()); err == nil {
		t.Fatal("second Run did not fail")
	}
}

// assertAlwaysServed checks that no published model lacked app.
func (h *watchHarness) assertAlwaysServed(app string) {
	h.t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	for i, m := range h.published {
		if _, ok := m.App(app); !ok {
			h.t.Errorf("published model %d lacks app %s: %v", i, app, appNames(m))
		}
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
