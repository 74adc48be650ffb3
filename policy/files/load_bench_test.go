package files

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// writeAppFiles writes n small valid policy files, one app each, into dir.
func writeAppFiles(tb testing.TB, dir string, n int) {
	tb.Helper()
	for i := range n {
		name := fmt.Sprintf("app-%05d", i)
		if err := os.WriteFile(filepath.Join(dir, name+".yaml"), []byte(appYAML(name, name+".example.com", 10000)), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
}

// BenchmarkLoadFiles loads a directory of n small valid files: the time
// per load must grow linearly with n (issue 13: 1,000 files took 1.9 s,
// 10,000 took 389 s).
func BenchmarkLoadFiles(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			dir := b.TempDir()
			writeAppFiles(b, dir, n)
			for b.Loop() {
				m, _, err := LoadDir(dir)
				if err != nil {
					b.Fatal(err)
				}
				if len(m.Apps) != n {
					b.Fatalf("%d apps, want %d", len(m.Apps), n)
				}
			}
		})
	}
}
