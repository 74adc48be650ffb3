package admin

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// statusWith is what requireToken answers a POST carrying token.
func statusWith(src TokenSource, token string) int {
	h := requireToken(src, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	req := httptest.NewRequest(http.MethodPost, "/api/v1/experiments/x/pause", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code
}

// A rotated token file is taken without a restart, after at most
// CheckEvery; a rotation that does not load keeps the token in force and
// is reported once.
func TestTokenFileRotates(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "token")
	stamp := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	write := func(content string, mode os.FileMode) {
		t.Helper()
		if err := os.WriteFile(path, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		// Each version gets its own modification time, as a real rewrite
		// seconds apart would: "one" and "two" are the same size.
		stamp = stamp.Add(time.Second)
		if err := os.Chtimes(path, stamp, stamp); err != nil {
			t.Fatal(err)
		}
	}
	write("one\n", 0o600)
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	var told []error
	tf, err := OpenTokenFile(path, TokenFileOptions{Now: func() time.Time { return now }, OnReload: func(err error) { told = append(told, err) }})
	if err != nil {
		t.Fatal(err)
	}
	if statusWith(tf, "one") != http.StatusNoContent {
		t.Fatal("the first token is refused")
	}

	write("two\n", 0o600)
	if statusWith(tf, "one") != http.StatusNoContent {
		t.Fatal("the file was looked at again before CheckEvery passed")
	}
	now = now.Add(2 * time.Second)
	if statusWith(tf, "two") != http.StatusNoContent || statusWith(tf, "one") != http.StatusUnauthorized {
		t.Fatal("after the rotation: want the new token in force and the old one refused")
	}
	if len(told) != 1 || told[0] != nil {
		t.Fatalf("OnReload told %v, want one nil", told)
	}

	for _, bad := range []struct {
		name    string
		content string
		mode    os.FileMode
		want    string
	}{
		{"readable by others", "three\n", 0o644, "chmod 600"},
		{"empty", "\n", 0o600, "is empty"},
	} {
		write(bad.content, bad.mode)
		for range 3 {
			now = now.Add(2 * time.Second)
			if statusWith(tf, "two") != http.StatusNoContent {
				t.Fatalf("%s: the token in force was dropped", bad.name)
			}
		}
		if last := told[len(told)-1]; len(told) != 2 || last == nil || !strings.Contains(last.Error(), bad.want) {
			t.Fatalf("%s: OnReload told %v, want one error saying %q", bad.name, told, bad.want)
		}
		told = told[:1]
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	now = now.Add(2 * time.Second)
	if statusWith(tf, "two") != http.StatusNoContent || len(told) != 2 || !errors.Is(told[1], os.ErrNotExist) {
		t.Fatalf("file removed: OnReload told %v; want the token kept and the removal reported", told)
	}
}

// The kubelet updates a mounted Secret by pointing the ..data symlink at
// a new directory: same size, maybe the same modification time, a new
// file.
func TestTokenFileFollowsASecretsSymlinkSwap(t *testing.T) {
	dir := t.TempDir()
	version := func(name, token string) {
		t.Helper()
		if err := os.Mkdir(filepath.Join(dir, name), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name, "token"), []byte(token), 0o600); err != nil {
			t.Fatal(err)
		}
		// Both versions with one modification time: only the inode differs.
		same := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
		if err := os.Chtimes(filepath.Join(dir, name, "token"), same, same); err != nil {
			t.Fatal(err)
		}
		tmp := filepath.Join(dir, "..data_tmp")
		if err := os.Symlink(name, tmp); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, "..data")); err != nil {
			t.Fatal(err)
		}
	}
	version("..2026_12_03_a", "aaaa")
	if err := os.Symlink("..data/token", filepath.Join(dir, "token")); err != nil {
		t.Fatal(err)
	}
	tf, err := OpenTokenFile(filepath.Join(dir, "token"), TokenFileOptions{CheckEvery: -1})
	if err != nil {
		t.Fatal(err)
	}
	if statusWith(tf, "aaaa") != http.StatusNoContent {
		t.Fatal("the first token is refused")
	}
	version("..2026_12_03_b", "bbbb")
	if statusWith(tf, "bbbb") != http.StatusNoContent || statusWith(tf, "aaaa") != http.StatusUnauthorized {
		t.Fatal("after the swap: want the new token in force and the old one refused")
	}
}

// The mode is part of what is watched: a token refused for being
// readable by others is taken once chmod fixes the file, and a token file
// made readable by others later stops being a secret — changes are then
// refused until it is fixed.
func TestTokenFileFollowsItsMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(path, []byte("one"), 0o600); err != nil {
		t.Fatal(err)
	}
	var told []error
	tf, err := OpenTokenFile(path, TokenFileOptions{CheckEvery: -1, OnReload: func(err error) { told = append(told, err) }})
	if err != nil {
		t.Fatal(err)
	}
	chmod := func(mode os.FileMode) {
		t.Helper()
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
	}
	chmod(0o644)
	if code := statusWith(tf, "one"); code != http.StatusForbidden {
		t.Fatalf("token file made readable by others: %d, want changes refused (403)", code)
	}
	chmod(0o600)
	if statusWith(tf, "one") != http.StatusNoContent {
		t.Fatal("after chmod 600 the token is not in force again")
	}

	// A rotation written readable by others, then fixed by chmod alone.
	if err := os.WriteFile(path, []byte("two"), 0o644); err != nil {
		t.Fatal(err)
	}
	chmod(0o644)
	if statusWith(tf, "one") != http.StatusNoContent {
		t.Fatal("a refused rotation dropped the token in force")
	}
	chmod(0o600)
	if statusWith(tf, "two") != http.StatusNoContent || statusWith(tf, "one") != http.StatusUnauthorized {
		t.Fatal("after chmod 600 the rotated token is not in force")
	}
	if len(told) != 4 || told[0] == nil || told[1] != nil || told[2] == nil || told[3] != nil {
		t.Errorf("OnReload told %v, want refused, taken, refused, taken", told)
	}
}
