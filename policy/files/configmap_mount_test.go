package files

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/shadowplane/shadowplane/policy"
)

// kubeletMount writes a policy directory the way kubelet mounts a
// ConfigMap volume (its AtomicWriter): each version of the data in a
// hidden timestamped directory, a "..data" link to the current one,
// swapped by renaming a new link over it, and each key a link through
// "..data". The keys' links never change when the data does: only
// "..data" moves, which is why the watcher reacts to any event in the
// directory.
type kubeletMount struct {
	t   *testing.T
	dir string
	n   int
	old string
}

func (k *kubeletMount) update(keys map[string]string) {
	k.t.Helper()
	k.n++
	version := filepath.Join(k.dir, "..2026_12_02_00_00_0"+string(rune('0'+k.n)))
	if err := os.Mkdir(version, 0o755); err != nil {
		k.t.Fatal(err)
	}
	for key, content := range keys {
		if err := os.WriteFile(filepath.Join(version, key), []byte(content), 0o644); err != nil {
			k.t.Fatal(err)
		}
	}
	tmp := filepath.Join(k.dir, "..data_tmp")
	if err := os.Symlink(filepath.Base(version), tmp); err != nil {
		k.t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(k.dir, "..data")); err != nil {
		k.t.Fatal(err)
	}
	// Links for new keys are added after the swap, links of removed keys
	// removed, then the old version deleted.
	entries, _ := os.ReadDir(k.dir)
	for _, e := range entries {
		if e.Name()[0] == '.' {
			continue
		}
		if _, ok := keys[e.Name()]; !ok {
			os.Remove(filepath.Join(k.dir, e.Name()))
		}
	}
	for key := range keys {
		link := filepath.Join(k.dir, key)
		if _, err := os.Lstat(link); err == nil {
			continue
		}
		if err := os.Symlink(filepath.Join("..data", key), link); err != nil {
			k.t.Fatal(err)
		}
	}
	if k.old != "" {
		if err := os.RemoveAll(k.old); err != nil {
			k.t.Fatal(err)
		}
	}
	k.old = version
}

// A ConfigMap mounted as a volume works with the directory source: an
// edit, a key added and a key removed are each served, although kubelet
// changes no file the keys' names point at — only the "..data" link.
func TestWatcherKubeletConfigMapMount(t *testing.T) {
	k := &kubeletMount{t: t, dir: t.TempDir()}
	k.update(map[string]string{"web.yaml": appYAML("web", "web.example", 80)})
	h := startWatcher(t, k.dir, WatcherOptions{})
	h.waitApps("web")

	k.update(map[string]string{"web.yaml": appYAML("web", "www.example", 80)})
	h.waitModel("web's edited host", func(m *policy.Model) bool { return hostOf(m, "web") == "www.example" })

	k.update(map[string]string{"web.yaml": appYAML("web", "www.example", 80), "api.yaml": appYAML("api", "api.example", 80)})
	h.waitApps("api web")

	k.update(map[string]string{"api.yaml": appYAML("api", "api.example", 80)})
	h.waitApps("api")
	for _, st := range h.w.Status() {
		if !st.OK {
			t.Errorf("%s: %+v", st.Path, st.Problems)
		}
	}
}
