package admin

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadToken(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil { // past the umask
			t.Fatal(err)
		}
		return p
	}
	good := write("good", "s3cret\n", 0o600)
	tok, err := LoadToken(good)
	if err != nil {
		t.Fatalf("LoadToken(0600 file) = %v", err)
	}
	if !tok.matches("Bearer s3cret") || tok.matches("Bearer s3cre") || tok.matches("s3cret") || tok.matches("Basic s3cret") {
		t.Error("the token matches the wrong headers, or not its own")
	}
	if s := tok.String(); strings.Contains(s, "s3cret") {
		t.Errorf("the token prints as %q", s)
	}
	for _, tc := range []struct {
		name, path, want string
	}{
		{"missing", filepath.Join(dir, "nope"), "no such file"},
		{"empty", write("empty", " \n", 0o600), "is empty"},
		{"world-readable", write("world", "s3cret", 0o644), "chmod 600"},
		{"group-readable", write("group", "s3cret", 0o640), "other users may read it"},
		{"directory", dir, "not a regular file"},
	} {
		if _, err := LoadToken(tc.path); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: LoadToken = %v, want an error saying %q", tc.name, err, tc.want)
		} else if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%s: the error shows the token: %v", tc.name, err)
		}
	}
}

func TestCheckExposure(t *testing.T) {
	tok, _ := NewToken("x")
	for _, tc := range []struct {
		addr string
		tok  *Token
		ok   bool
	}{
		{"127.0.0.1:19000", nil, true},
		{"[::1]:19000", nil, true},
		{"localhost:19000", nil, true},
		{"0.0.0.0:19000", nil, false},
		{":19000", nil, false},
		{"10.0.0.5:19000", nil, false},
		{"0.0.0.0:19000", tok, true},
	} {
		err := CheckExposure(tc.addr, tc.tok)
		if (err == nil) != tc.ok {
			t.Errorf("CheckExposure(%s, token %v) = %v, want ok %v", tc.addr, tc.tok != nil, err, tc.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "--admin-token-file") {
			t.Errorf("CheckExposure(%s) = %v: should say to use --admin-token-file", tc.addr, err)
		}
	}
}
