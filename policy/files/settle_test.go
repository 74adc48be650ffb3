package files

import (
	"crypto/sha256"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shadowplane/shadowplane/policy"
)

// mirroredApp is an app whose route mirrors to v2. Cut before "    mirror:",
// it is still a valid app, without its mirror: the half-written file of
// issue 13.
func mirroredApp(host string) (half, rest string) {
	full := "kind: App\nname: a\nhosts: [" + host + "]\nport: 10000\n" + `variants:
  - name: v1
    endpoints: ["127.0.0.1:9001"]
  - name: v2
    endpoints: ["127.0.0.1:9002"]
routes:
  - split:
      - variant: v1
    mirror:
      variant: v2
`
	i := strings.Index(full, "    mirror:")
	return full[:i], full[i:]
}

func hasMirror(m *policy.Model) bool {
	a, ok := m.App("a")
	return ok && len(a.Routes) > 0 && a.Routes[0].Mirror != nil
}

// holding reports whether the watcher holds content of a file written in
// place, waiting for it to settle, and that content is want.
func (h *watchHarness) holding(name, want string) bool {
	h.w.reloading.Lock()
	defer h.w.reloading.Unlock()
	st := h.w.state.files[h.path(name)]
	return st != nil && st.writing != nil && st.writing.hash == sha256.Sum256([]byte(want))
}

// A writer that pauses mid-file, in place, after a first half that is a
// valid app: the half is never published, the whole file is, without an
// event after the last write (the watcher reads the file again when the
// settle is up).
//
// Timing: the half must not stay unchanged for Settle (1 s) after the
// watcher first saw it. The test waits until the watcher holds the half
// (so the case is exercised), after the 150 ms pause that is the
// scenario (issue 13: "more than 50 ms between two halves"), then writes
// the rest: a machine would have to stall the test for some 850 ms in
// between for the half to settle, and nothing else is timed.
func TestWatcherWriterPausesMidFile(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "a.yaml"), appYAML("a", "one.example.com", 10000))
	h := startWatcher(t, dir, WatcherOptions{Settle: time.Second})
	h.waitApps("a")

	half, rest := mirroredApp("two.example.com")
	if _, problems := policy.ParseFile("half.yaml", []byte(half)); len(problems) > 0 {
		t.Fatalf("the first half is not a valid app: %v", problems)
	}
	f, err := os.OpenFile(h.path("a.yaml"), os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(half); err != nil {
		t.Fatal(err)
	}
	time.Sleep(150 * time.Millisecond) // the writer's pause: the scenario, not a wait for a result
	waitFor(t, "the watcher to hold the half-written file", func() bool { return h.holding("a.yaml", half) })
	if _, err := f.WriteString(rest); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}

	h.waitModel("a moved to two.example.com with its mirror", func(m *policy.Model) bool {
		return hostOf(m, "a") == "two.example.com" && hasMirror(m)
	})
	h.mu.Lock()
	defer h.mu.Unlock()
	for i, m := range h.published {
		if hostOf(m, "a") == "two.example.com" && !hasMirror(m) {
			t.Errorf("published model %d serves the half-written file (no mirror)", i)
		}
		if _, ok := m.App("a"); !ok {
			t.Errorf("published model %d lacks app a: %v", i, appNames(m))
		}
	}
}

// Files renamed into place, or created, are taken at once: with a settle
// of an hour, they are still served.
func TestWatcherRenameSkipsSettle(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "a.yaml"), appYAML("a", "one.example.com", 10000))
	h := startWatcher(t, dir, WatcherOptions{Settle: time.Hour})
	h.waitApps("a")

	h.write("a.yaml", appYAML("a", "two.example.com", 10000))
	h.waitModel("a moved to two.example.com", func(m *policy.Model) bool { return hostOf(m, "a") == "two.example.com" })
	h.write("a.yaml", appYAML("a", "three.example.com", 10000))
	h.waitModel("a moved to three.example.com", func(m *policy.Model) bool { return hostOf(m, "a") == "three.example.com" })

	writeFile(t, h.path("b.yaml"), appYAML("b", "b.example.com", 10000)) // a new file
	h.waitApps("a b")
}

// A file rewritten in place is not taken before the settle is up: with a
// settle of an hour, a later rebuild (another file renamed into place)
// still serves the old content; renaming a file over it is taken at once.
func TestWatcherInPlaceWriteWaitsForSettle(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "a.yaml"), appYAML("a", "one.example.com", 10000))
	h := startWatcher(t, dir, WatcherOptions{Settle: time.Hour})
	h.waitApps("a")

	two := appYAML("a", "two.example.com", 10000)
	writeFile(t, h.path("a.yaml"), two) // in place: truncate and write
	waitFor(t, "the watcher to hold the rewritten file", func() bool { return h.holding("a.yaml", two) })
	h.write("b.yaml", appYAML("b", "b.example.com", 10000))
	m := h.waitApps("a b")
	if got := hostOf(m, "a"); got != "one.example.com" {
		t.Errorf("host of a = %q before the settle, want one.example.com", got)
	}
	if got := hostOf(h.w.Model(), "a"); got != "one.example.com" {
		t.Errorf("host of a = %q before the settle, want one.example.com", got)
	}

	h.write("a.yaml", appYAML("a", "three.example.com", 10000))
	h.waitModel("a moved to three.example.com", func(m *policy.Model) bool { return hostOf(m, "a") == "three.example.com" })
	h.mu.Lock()
	defer h.mu.Unlock()
	for i, m := range h.published {
		if hostOf(m, "a") == "two.example.com" {
			t.Errorf("published model %d serves the unsettled in-place write", i)
		}
	}
}

// The settle, step by step with explicit times: content written in place
// is taken once it has been unchanged for the settle, a change restarts
// the wait, and each reload that holds content asks for a retry.
func TestDirStateInPlaceSettle(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.yaml")
	writeFile(t, path, appYAML("a", "one.example.com", 10000))
	s := newDirState(dir, 0)
	s.inPlace = time.Second
	t0 := time.Now()
	reload := func(at time.Duration) reloadResult {
		t.Helper()
		res, err := s.reload(t0.Add(at))
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	host := func() string { return hostOf(s.model, "a") }
	if res := reload(0); !res.rebuilt || host() != "one.example.com" {
		t.Fatalf("first load: %+v, host %q", res, host())
	}

	half, rest := mirroredApp("two.example.com")
	writeFile(t, path, half)
	if res := reload(100 * time.Millisecond); res.rebuilt || res.retry != time.Second || host() != "one.example.com" {
		t.Fatalf("in-place write: %+v, host %q; want held, retry 1s", res, host())
	}
	if res := reload(600 * time.Millisecond); res.rebuilt || res.retry != 500*time.Millisecond {
		t.Fatalf("half way through the settle: %+v; want held, retry 500ms", res)
	}
	writeFile(t, path, half+rest) // the rest: the wait starts again
	if res := reload(1200 * time.Millisecond); res.rebuilt || res.retry != time.Second || host() != "one.example.com" {
		t.Fatalf("after the rest: %+v, host %q; want held, retry 1s", res, host())
	}
	if res := reload(2200 * time.Millisecond); !res.rebuilt || res.retry != 0 || host() != "two.example.com" || !hasMirror(s.model) {
		t.Fatalf("settled: %+v, host %q; want the whole file", res, host())
	}

	// Back to the served content before the settle is up: nothing to take.
	writeFile(t, path, appYAML("a", "three.example.com", 10000))
	if res := reload(2300 * time.Millisecond); res.rebuilt || res.retry == 0 {
		t.Fatalf("in-place write: %+v; want held", res)
	}
	writeFile(t, path, half+rest)
	if res := reload(2400 * time.Millisecond); res.rebuilt || res.retry != 0 || s.files[path].writing != nil {
		t.Fatalf("reverted: %+v; want nothing held", res)
	}

	// Renamed into place: taken at once.
	tmp := filepath.Join(dir, ".a.yaml.tmp")
	writeFile(t, tmp, appYAML("a", "four.example.com", 10000))
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	if res := reload(2500 * time.Millisecond); !res.rebuilt || host() != "four.example.com" {
		t.Fatalf("renamed: %+v, host %q; want taken at once", res, host())
	}
}
