package files

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

const webApp = `kind: App
name: web
variants:
  - {name: v1, endpoints: ["127.0.0.1:9001"]}
  - {name: v2, endpoints: ["127.0.0.1:9002"]}
routes:
  - split: [{variant: v1, weight: 80}, {variant: v2, weight: 20}]
`

// start is a process start: a fresh directory state with the saved last
// good versions, loaded once.
func start(t *testing.T, dir string, lg LastGood) *dirState {
	t.Helper()
	s := newDirState(dir, 0)
	if err := s.withLastGood(lg); err != nil {
		t.Fatal(err)
	}
	if _, err := s.reload(time.Now()); err != nil {
		t.Fatal(err)
	}
	return s
}

// A file broken while the process was down is served from its last good
// version after the restart, and says so; fixed, it is served as it is;
// deleted, it is withdrawn, across a restart too.
func TestLastGoodSurvivesRestarts(t *testing.T) {
	dir, stateDir := t.TempDir(), t.TempDir()
	lg, err := NewLastGoodDir(stateDir)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "web.yaml")
	write := func(content string) {
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(webApp)
	if s := start(t, dir, lg); len(s.model.Apps) != 1 {
		t.Fatalf("good file: %d apps", len(s.model.Apps))
	}
	if saved, _ := lg.Load(); string(saved[path].Data) != webApp {
		t.Fatalf("saved %q, want the served content", saved[path].Data)
	}

	write("kind: App\nname: web\nbogus: 1\n") // broken while down
	s := start(t, dir, lg)
	if len(s.model.Apps) != 1 || s.model.Apps[0].Routes[0].Split[1].Variant != "v2" {
		t.Fatalf("after a restart with a broken file: apps %+v, want the last good web", s.model.Apps)
	}
	st := s.status()[0]
	if st.OK || !st.Stale || !st.Restored || len(st.Problems) == 0 || st.Problems[0].Line != 3 {
		t.Fatalf("status %+v: want the file's problem at line 3, served stale from the saved version", st)
	}

	write(webApp) // fixed: served as it is, no longer restored
	if _, err := s.reload(time.Now()); err != nil {
		t.Fatal(err)
	}
	if st := s.status()[0]; !st.OK || st.Restored {
		t.Fatalf("after the fix: %+v", st)
	}

	if err := os.Remove(path); err != nil { // deleted while down
		t.Fatal(err)
	}
	if s := start(t, dir, lg); len(s.model.Apps) != 0 {
		t.Fatalf("a deleted file's apps came back after a restart: %+v", s.model.Apps)
	}
	if saved, _ := lg.Load(); len(saved) != 0 {
		t.Fatalf("the deleted file is still saved: %v", saved)
	}
}

// A saved file that cannot be read is reported, and the others are used.
func TestLastGoodDirReportsGarbage(t *testing.T) {
	lg, err := NewLastGoodDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := lg.Save("/p/a.yaml", Saved{Data: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(lg.dir, "junk"+lastGoodSuffix), []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	saved, err := lg.Load()
	if err == nil || len(saved) != 1 || string(saved["/p/a.yaml"].Data) != "x" {
		t.Fatalf("saved %v, error %v: want a.yaml and an error naming the junk", saved, err)
	}
}
