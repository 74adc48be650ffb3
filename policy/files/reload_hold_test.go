package files

import (
	"io/fs"
	"path/filepath"
	"slices"
	"sync"
	"testing"
)

// holdReads makes w's reloads stop at the read of path until release is
// closed; entered is closed when a reload got there. Reads of other
// files, and every read after release, are not held.
func holdReads(w *Watcher, path string) (entered, release chan struct{}) {
	entered, release = make(chan struct{}), make(chan struct{})
	var once sync.Once
	w.reloading.Lock()
	defer w.reloading.Unlock()
	w.state.read = func(p string) ([]byte, fs.FileInfo, error) {
		if p == path {
			once.Do(func() { close(entered); <-release })
		}
		return readPolicyFile(p)
	}
	return entered, release
}

func statusPaths(ss []FileStatus) []string {
	var paths []string
	for _, s := range ss {
		paths = append(paths, filepath.Base(s.Path))
	}
	return paths
}

// While a reload is held in the middle of reading the directory, Status,
// Stats and Model answer at once, from the last reload; the held reload's
// result shows once it ends. (Before, they waited for the reload: a
// slow file froze /api/v1/policies and /metrics.)
func TestReadersDoNotWaitForReload(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "a.yaml"), appYAML("a", "a.example.com", 10000))
	w, err := NewWatcher(dir, WatcherOptions{})
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "b.yaml"), appYAML("b", "b.example.com", 10000))
	entered, release := holdReads(w, filepath.Join(dir, "b.yaml"))
	done := make(chan error, 1)
	go func() {
		_, err := w.reload()
		done <- err
	}()
	<-entered

	// A deadlock here fails the test by its timeout: there is no result
	// to wait for, only calls that must return.
	if got := statusPaths(w.Status()); !slices.Equal(got, []string{"a.yaml"}) {
		t.Errorf("Status during the reload = %v, want the last reload's [a.yaml]", got)
	}
	if got := w.Stats().Reloads; got != 1 {
		t.Errorf("Stats().Reloads during the reload = %d, want 1", got)
	}
	if got := appNames(w.Model()); !slices.Equal(got, []string{"a"}) {
		t.Errorf("Model during the reload = %v, want [a]", got)
	}

	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := statusPaths(w.Status()); !slices.Equal(got, []string{"a.yaml", "b.yaml"}) {
		t.Errorf("Status after the reload = %v, want [a.yaml b.yaml]", got)
	}
	if got := w.Stats().Reloads; got != 2 {
		t.Errorf("Stats().Reloads after = %d, want 2", got)
	}
}
