package admin

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shadowplane/shadowplane/admin/api"
	"github.com/shadowplane/shadowplane/policy"
	"github.com/shadowplane/shadowplane/policy/files"
)

// Many rejected files come a page at a time, every file once.
func TestPoliciesPaged(t *testing.T) {
	dir := t.TempDir()
	const n = 250
	for i := range n {
		os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%03d.yaml", i)), []byte("kind: App\nname: x\nbogus: 1\n"), 0o644)
	}
	w, err := files.NewWatcher(dir, files.WatcherOptions{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(NewHandler(Config{Policies: w}))
	t.Cleanup(srv.Close)

	seen := map[string]bool{}
	after, pages := "", 0
	for {
		code, body := get(t, srv, "/api/v1/policies?after="+after)
		var b api.PolicyList
		if err := json.Unmarshal([]byte(body), &b); code != 200 || err != nil {
			t.Fatalf("/api/v1/policies = %d %v: %.200s", code, err, body)
		}
		pages++
		if b.Total != n || len(b.Files) > DefaultPoliciesPage || b.Stats.Reloads != 1 {
			t.Fatalf("page %d: %d files of %d, %d reloads; want at most %d of %d, 1 reload", pages, len(b.Files), b.Total, b.Stats.Reloads, DefaultPoliciesPage, n)
		}
		for _, f := range b.Files {
			if seen[f.Path] || f.OK || len(f.Problems) == 0 {
				t.Fatalf("%s: listed twice, or without its problem: %+v", f.Path, f)
			}
			seen[f.Path] = true
		}
		if b.Next == "" {
			break
		}
		after = b.Next
	}
	if len(seen) != n || pages != 3 {
		t.Errorf("%d files in %d pages, want %d in 3", len(seen), pages, n)
	}
	if code, body := get(t, srv, "/api/v1/policies?limit=100000"); code != 400 || !strings.Contains(body, "1 to 1000") {
		t.Errorf("?limit=100000 = %d %s, want 400 naming the range", code, body)
	}
}

// A page stops at MaxPoliciesPageBytes of problems, however few files it
// holds, and always holds one.
func TestPoliciesPageBytes(t *testing.T) {
	long := strings.Repeat("x", policy.MaxMessageBytes)
	var all []files.FileStatus
	for i := range 100 {
		f := files.FileStatus{Path: fmt.Sprintf("f%03d.yaml", i)}
		for range policy.MaxProblemsPerFile {
			f.Problems = append(f.Problems, policy.Problem{File: f.Path, Line: 1, Message: long})
		}
		all = append(all, f)
	}
	got, next := policiesPage(all, pageQuery{limit: MaxPoliciesPage})
	bytes := 0
	for _, f := range got {
		bytes += statusBytes(f)
	}
	if len(got) == 0 || len(got) == len(all) || bytes > MaxPoliciesPageBytes || next != got[len(got)-1].Path {
		t.Errorf("%d files (%d bytes), next %q; want fewer than %d, within %d bytes, next the last path", len(got), bytes, next, len(all), MaxPoliciesPageBytes)
	}
	one := all[0]
	for range 4 { // 16 × MaxProblemsPerFile messages: over the bytes of a page
		one.Problems = append(one.Problems, one.Problems...)
	}
	if got, _ := policiesPage([]files.FileStatus{one, all[1]}, pageQuery{limit: 10}); len(got) != 1 {
		t.Errorf("a file over the page's bytes: %d files, want it alone", len(got))
	}
}

// /readyz names at most MaxReadyzFiles rejected files and counts the rest:
// a probe polls it, and a directory of 10,000 broken files must not make
// each answer a megabyte.
func TestReadyzNamesFewRejectedFiles(t *testing.T) {
	dir := t.TempDir()
	const n = 50
	for i := range n {
		os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%03d.yaml", i)), []byte("kind: App\nname: x\nbogus: 1\n"), 0o644)
	}
	w, err := files.NewWatcher(dir, files.WatcherOptions{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(NewHandler(Config{Policies: w, Ready: func() bool { return true }}))
	t.Cleanup(srv.Close)
	code, body := get(t, srv, "/readyz")
	lines := strings.Split(strings.TrimSpace(body), "\n")
	if code != 200 || lines[0] != "ok" || len(lines) != 1+MaxReadyzFiles+1 {
		t.Fatalf("/readyz = %d with %d lines, want ok, %d files and a count:\n%s", code, len(lines), MaxReadyzFiles, body)
	}
	if want := fmt.Sprintf("and %d more rejected files: see /api/v1/policies", n-MaxReadyzFiles); lines[len(lines)-1] != want {
		t.Errorf("last line %q, want %q", lines[len(lines)-1], want)
	}
	if !strings.HasPrefix(lines[1], dir) || !strings.Contains(lines[1], "rejected (1 problems)") {
		t.Errorf("first file line %q", lines[1])
	}
}
