package files

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// startWithSources is a process start that expects documents from the
// "configmap" source.
func startWithSources(t *testing.T, dir string, lg LastGood) *dirState {
	t.Helper()
	s := newDirState(dir, 0)
	s.sources["configmap"], s.pending["configmap"] = true, true
	if lg != nil {
		if err := s.withLastGood(lg); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.reload(time.Now()); err != nil {
		t.Fatal(err)
	}
	return s
}

func setDocs(t *testing.T, s *dirState, docs map[string]string) []string {
	t.Helper()
	in := map[string][]byte{}
	for k, v := range docs {
		in[k] = []byte(v)
	}
	rejected, _, err := s.setDocuments("configmap", in, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(rejected)
	return rejected
}

func statusOf(s *dirState, path string) (FileStatus, bool) {
	for _, fs := range s.status() {
		if fs.Path == path {
			return fs, true
		}
	}
	return FileStatus{}, false
}

// Documents of another source follow the files' rules: parsed alike,
// problems at their own path and line, the last good version kept when
// a new one is bad, withdrawn when gone.
func TestDocumentsKeepLastGood(t *testing.T) {
	s := startWithSources(t, t.TempDir(), nil)
	const doc = "configmap/shop/web/web.yaml"
	if rej := setDocs(t, s, map[string]string{doc: webApp}); len(rej) != 0 {
		t.Fatalf("good document rejected: %v", rej)
	}
	if got := appNames(s.model); !slices.Equal(got, []string{"web"}) {
		t.Fatalf("apps %v, want [web]", got)
	}

	rej := setDocs(t, s, map[string]string{doc: "kind: App\nname: web\nbogus: 1\n"})
	if !slices.Equal(rej, []string{doc}) {
		t.Fatalf("rejected %v, want [%s]", rej, doc)
	}
	st, _ := statusOf(s, doc)
	if st.OK || !st.Stale || len(st.Problems) == 0 || st.Problems[0].Line != 3 {
		t.Fatalf("status %+v: want the problem at line 3 and the last good version served", st)
	}
	if got := st.Problems[0].Error(); got[:len(doc)+3] != doc+":3:" {
		t.Fatalf("problem %q does not start with %s:3:", got, doc)
	}
	if len(s.model.Apps) != 1 || len(s.model.Apps[0].Variants) != 2 {
		t.Fatalf("the last good web is not served: %+v", s.model.Apps)
	}

	setDocs(t, s, map[string]string{}) // the ConfigMap was deleted
	if len(s.model.Apps) != 0 {
		t.Fatalf("a withdrawn document's apps are still served: %v", appNames(s.model))
	}
	if _, ok := statusOf(s, doc); ok {
		t.Fatal("a withdrawn document still has a status")
	}
}

// A document and a file that claim the same app: the one that came last
// is rejected, whichever source it is from, and a reload of the directory
// leaves documents alone.
func TestDocumentConflictsWithFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "web.yaml"), []byte(appYAML("web", "web.example", 80)), 0o644); err != nil {
		t.Fatal(err)
	}
	s := startWithSources(t, dir, nil)
	const doc = "configmap/shop/web/web.yaml"
	rej := setDocs(t, s, map[string]string{doc: appYAML("web", "other.example", 81), "configmap/shop/api/api.yaml": appYAML("api", "api.example", 80)})
	if !slices.Equal(rej, []string{doc}) {
		t.Fatalf("rejected %v, want only the conflicting document", rej)
	}
	st, _ := statusOf(s, doc)
	if st.OK || len(st.Problems) == 0 {
		t.Fatalf("conflicting document status %+v", st)
	}
	if _, err := s.reload(time.Now()); err != nil {
		t.Fatal(err)
	}
	if got := appNames(s.model); !slices.Equal(got, []string{"api", "web"}) {
		t.Fatalf("after a reload of the directory: apps %v, want [api web]", got)
	}
	if s.model.Apps[1].Hosts[0] != "web.example" {
		t.Fatalf("the file's web lost to the later document: %+v", s.model.Apps[1])
	}
}

// After a restart, documents served before it are served from the start,
// before their source reports (the API server may be down); once it
// reports, its documents decide: a document gone since is withdrawn, a
// bad one keeps its saved version.
func TestDocumentsRestoredUntilSourceReports(t *testing.T) {
	dir, lg := t.TempDir(), newLastGood(t)
	s := startWithSources(t, dir, lg)
	setDocs(t, s, map[string]string{
		"configmap/shop/web/web.yaml": webApp,
		"configmap/shop/api/api.yaml": appYAML("api", "api.example", 80),
	})

	s = startWithSources(t, dir, lg) // a restart
	if got := appNames(s.model); !slices.Equal(got, []string{"api", "web"}) {
		t.Fatalf("after a restart, before the source reports: apps %v, want [api web]", got)
	}
	if st, _ := statusOf(s, "configmap/shop/web/web.yaml"); !st.Restored {
		t.Fatalf("restored document status %+v", st)
	}
	rej := setDocs(t, s, map[string]string{"configmap/shop/web/web.yaml": "kind: App\nname: web\nbogus: 1\n"})
	if len(rej) != 1 {
		t.Fatalf("rejected %v", rej)
	}
	if got := appNames(s.model); !slices.Equal(got, []string{"web"}) {
		t.Fatalf("after the source reported: apps %v, want [web] (api gone, web's saved version kept)", got)
	}
	if saved, _ := lg.Load(); len(saved) != 1 {
		t.Fatalf("saved documents %v, want only web's", saved)
	}
}

// Paths outside the source, or sources not declared, are refused whole.
func TestSetDocumentsRefusesForeignPaths(t *testing.T) {
	s := startWithSources(t, t.TempDir(), nil)
	for _, tc := range []struct{ source, path string }{
		{"configmap", "web.yaml"},
		{"configmap", "other/web.yaml"},
		{"other", "other/web.yaml"},
	} {
		if _, _, err := s.setDocuments(tc.source, map[string][]byte{tc.path: []byte(webApp)}, time.Now()); err == nil {
			t.Errorf("setDocuments(%q, %q) accepted", tc.source, tc.path)
		}
	}
	if len(s.model.Apps) != 0 {
		t.Fatalf("refused documents served: %v", appNames(s.model))
	}
}

// The Watcher publishes what SetDocuments changed, from Run's goroutine.
func TestWatcherPublishesDocuments(t *testing.T) {
	h := startWatcher(t, t.TempDir(), WatcherOptions{Sources: []string{"configmap"}})
	h.waitApps("")
	out := h.w.SetDocuments("configmap", map[string][]byte{"configmap/shop/web/web.yaml": []byte(webApp)})
	if len(out) != 1 || !out[0].OK {
		t.Fatalf("statuses %+v", out)
	}
	h.waitApps("web")
}

func newLastGood(t *testing.T) LastGood {
	t.Helper()
	lg, err := NewLastGoodDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return lg
}
