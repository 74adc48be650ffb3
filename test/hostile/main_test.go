package hostile

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Binary is the shadowplane binary under test, built once by TestMain.
var Binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "shadowplane-hostile")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	Binary = filepath.Join(dir, "shadowplane")
	build := exec.Command("go", "build", "-o", Binary, "github.com/shadowplane/shadowplane/cmd/shadowplane")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building shadowplane:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// full reports whether the heavier cases run (make hostile).
func full() bool { return os.Getenv("SHADOWPLANE_HOSTILE_FULL") == "1" }
