package main

import (
	"bufio"
	"bytes"
	"context"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestBadFlagsExit2(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "--version is required"},
		{[]string{"--version", "v1", "--error-rate", "1.5"}, "--error-rate 1.5: must be between 0 and 1"},
		{[]string{"--version", "v1", "--error-rate", "-0.1"}, "--error-rate -0.1: must be between 0 and 1"},
		{[]string{"--version", "v1", "--error-rate", "NaN"}, "--error-rate NaN: must be between 0 and 1"},
		{[]string{"--version", "v1", "--error-rate", "lots"}, `invalid value "lots" for flag -error-rate`},
		{[]string{"--version", "v1", "--latency", "-20ms"}, "--latency -20ms: must not be negative"},
		{[]string{"--version", "v1", "--latency-jitter", "-1s"}, "--latency-jitter -1s: must not be negative"},
		{[]string{"--version", "v1", "--latency", "soon"}, `invalid value "soon" for flag -latency`},
		{[]string{"--version", "v1", "--http-addr", "9001"}, `--http-addr "9001": want host:port`},
		{[]string{"--version", "v1", "--grpc-addr", "localhost"}, `--grpc-addr "localhost": want host:port`},
		{[]string{"--version", "v 1"}, "must have no spaces"},
		{[]string{"--version", "v1", "--no-such-flag"}, "flag provided but not defined"},
		{[]string{"--version", "v1", "extra"}, "unexpected arguments: extra"},
	} {
		var stderr bytes.Buffer
		if code := run(context.Background(), tc.args, &stderr); code != 2 {
			t.Errorf("run(%q) = %d, want 2", tc.args, code)
		}
		if !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("run(%q) printed %q, want %q", tc.args, stderr.String(), tc.want)
		}
	}
	// Every problem at once, one line each.
	var stderr bytes.Buffer
	run(context.Background(), []string{"--error-rate", "2", "--latency", "-1s"}, &stderr)
	if got := strings.Count(stderr.String(), "\nsampleapp: ") + 1; got != 3 {
		t.Errorf("want 3 problems, one a line; got\n%s", stderr.String())
	}
}

func TestHelpExits0(t *testing.T) {
	var stderr bytes.Buffer
	if code := run(context.Background(), []string{"-h"}, &stderr); code != 0 || !strings.Contains(stderr.String(), "-error-rate") {
		t.Errorf("run(-h) = %d, %q", code, stderr.String())
	}
}

// listening is the line other tools parse for a server's address.
var listening = regexp.MustCompile(`^sampleapp (\S+): (http|grpc) listening on (127\.0\.0\.1:\d+)$`)

// The built binary logs its real addresses, serves them, and exits 0 on
// SIGTERM; a bad flag makes it exit 2.
func TestBinary(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "sampleapp")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	bad := exec.Command(bin, "--version", "v1", "--error-rate", "2")
	if out, err := bad.CombinedOutput(); bad.ProcessState.ExitCode() != 2 {
		t.Errorf("bad flag: exit %d (%v), want 2\n%s", bad.ProcessState.ExitCode(), err, out)
	}

	cmd := exec.Command(bin, "--version", "v2", "--http-addr", "127.0.0.1:0", "--grpc-addr", "127.0.0.1:0", "--latency", "0s", "--latency-jitter", "0s")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	addrs := map[string]string{}
	lines := make(chan string)
	go func() {
		defer close(lines)
		for sc := bufio.NewScanner(stderr); sc.Scan(); {
			lines <- sc.Text()
		}
	}()
	timeout := time.After(30 * time.Second)
	for len(addrs) < 2 {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("exited before listening; got %v", addrs)
			}
			m := listening.FindStringSubmatch(line)
			if m == nil || m[1] != "v2" {
				t.Fatalf("unexpected log line %q", line)
			}
			addrs[m[2]] = m[3]
		case <-timeout:
			t.Fatalf("no listening lines within 30s; got %v", addrs)
		}
	}
	for proto, addr := range addrs {
		if strings.HasSuffix(addr, ":0") {
			t.Errorf("%s logged port 0, want the bound port", proto)
		}
	}

	if resp, body := get(t, "http://"+addrs["http"]+"/", nil); resp.StatusCode != http.StatusOK || body != "version=v2\n" {
		t.Errorf("GET / = %d %q", resp.StatusCode, body)
	}
	if id, _ := unary(t, dialGRPC(t, addrs["grpc"]), nil); id != "v2" {
		t.Errorf("UnaryCall server id %q, want v2", id)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	var rest []string
	for line := range lines {
		rest = append(rest, line)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("after SIGTERM: %v, want exit 0", err)
	}
	if len(rest) != 1 || rest[0] != "sampleapp v2: stopped" {
		t.Errorf("after SIGTERM logged %q, want sampleapp v2: stopped", rest)
	}
}
