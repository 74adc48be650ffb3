package hostile

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/shadowplane/shadowplane/admin/api"
)

// A writer that rewrites a policy file in place and pauses mid-file,
// after a first half that is a valid file on its own (issue 13: with more
// than 50 ms between the halves, the first half reached proxies). serve
// must take the file once, whole: the first half is never served, so
// the reload counter moves by exactly one.
//
// Timing: serve is told to wait for a file written in place to stay
// unchanged for 3 s (--policy-settle; the default is 500 ms), and the
// writer pauses 100 ms: only a stall of this test of nearly 3 s between
// the two writes could let the half settle, far beyond what a busy
// machine does. Nothing else is timed.
func TestHalfWrittenFileNotServed(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "apps.yaml")
	// The half differs from what is served, so that taking it would be
	// a reload of its own.
	write(t, path, goodApp("a")+"# the first version\n")
	p := startServe(t, dir, "--policy-settle", "3s")
	before := waitPolicies(t, p, "apps.yaml served", func(ps api.PolicyList) bool {
		return len(ps.Files) == 1 && ps.Files[0].OK
	}).Stats.Reloads

	half := goodApp("a")
	rest := "---\n" + goodApp("b")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(half); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // the writer's pause: the scenario, not a wait for a result
	if _, err := f.WriteString(rest); err != nil {
		t.Fatal(err)
	}

	ps := waitPolicies(t, p, "apps.yaml served whole (apps a and b)", func(ps api.PolicyList) bool {
		return len(ps.Files) == 1 && slices.Equal(ps.Files[0].Apps, []string{"a", "b"})
	})
	if got := ps.Stats.Reloads - before; got != 1 {
		t.Errorf("%d reloads for one write, want 1: the first half was taken on its own", got)
	}
}
