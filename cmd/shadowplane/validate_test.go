//go:build unix

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shadowplane/shadowplane/policy/files"
)

// hangTimeout is for the hang detector: validate of a FIFO used to block
// forever, so it runs in a goroutine and the test fails, rather than
// hangs, if it has not returned by then. It should take well under a
// second.
const hangTimeout = 20 * time.Second

// validateNoHang runs validate with args, failing the test if it has not
// returned within hangTimeout (a hang detector).
func validateNoHang(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		code, stdout, stderr = runCmd(t, append([]string{"validate"}, args...)...)
	}()
	select {
	case <-done:
		return code, stdout, stderr
	case <-time.After(hangTimeout):
		t.Fatalf("hang detector: validate %s did not return within %v", strings.Join(args, " "), hangTimeout)
		return
	}
}

func testApp(name string) string {
	return fmt.Sprintf(`kind: App
name: %s
hosts: [%s.example.com]
port: 10000
variants: [{name: v1, endpoints: ["127.0.0.1:9001"]}]
routes: [{split: [{variant: v1}]}]
`, name, name)
}

func writeTestFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// validate refuses what serve refuses — FIFOs, devices, files over
// files.MaxFileSize — in a directory or named alone, at once, with
// serve's message and exit status 1; a link to a regular file is fine.
func TestValidateRefusesWhatIsNotASmallRegularFile(t *testing.T) {
	if fi, err := os.Stat("/dev/zero"); err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		t.Skip("no /dev/zero")
	}
	dir := t.TempDir()
	at := func(name string) string { return filepath.Join(dir, name) }
	writeTestFile(t, at("a.yaml"), testApp("a"))
	if err := os.Mkdir(at("..data"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeTestFile(t, at("..data/b.yaml"), testApp("b"))
	if err := os.Symlink("..data/b.yaml", at("b.yaml")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(at("fifo.yaml"), 0o644); err != nil {
		t.Skipf("cannot make a FIFO: %v", err)
	}
	if err := os.Symlink("/dev/zero", at("zero.yaml")); err != nil {
		t.Fatal(err)
	}
	// Valid but for its size: one byte over the limit.
	big := testApp("big")
	big += strings.Repeat("#", files.MaxFileSize+1-len(big))
	writeTestFile(t, at("big.yaml"), big)

	bad := map[string]string{
		"fifo.yaml": "not a regular file (named pipe); policy files must be regular files",
		"zero.yaml": "not a regular file (character device); policy files must be regular files",
		"big.yaml":  "4194305 bytes is over the 4 MiB limit for a policy file",
	}

	code, out, errs := validateNoHang(t, dir)
	if code != 1 {
		t.Errorf("validate DIR = exit %d, want 1\n%s%s", code, out, errs)
	}
	for name, want := range bad {
		if !strings.Contains(out, at(name)+": "+want+"\n") {
			t.Errorf("validate DIR printed %q, want %q", out, at(name)+": "+want)
		}
	}
	if strings.Count(out, "\n") != len(bad) {
		t.Errorf("validate DIR printed %q, want only the %d refused files", out, len(bad))
	}

	for name, want := range bad {
		code, out, errs := validateNoHang(t, at(name))
		if code != 1 || out != at(name)+": "+want+"\n" {
			t.Errorf("validate %s = exit %d, %q%s; want 1, %q", name, code, out, errs, want)
		}
	}

	code, out, errs = validateNoHang(t, at("a.yaml"), at("b.yaml"))
	if code != 0 || out != "ok: 2 app(s) in 2 file(s)\n" {
		t.Errorf("validate a.yaml b.yaml = exit %d, %q%s", code, out, errs)
	}
}
