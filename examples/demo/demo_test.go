package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shadowplane/shadowplane/test/serveproc"
)

// buildBinaries builds shadowplane and sampleapp into a fresh directory.
func buildBinaries(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	out, err := exec.Command("go", "build", "-o", dir, "github.com/shadowplane/shadowplane/cmd/shadowplane",
		"github.com/shadowplane/shadowplane/examples/sampleapp", "github.com/shadowplane/shadowplane/examples/demo").CombinedOutput()
	if err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return dir
}

func freeAddr(t *testing.T) string {
	t.Helper()
	return freeAddrs(t, 1)[0]
}

// freeAddrs returns n distinct free loopback addresses.
func freeAddrs(t *testing.T, n int) []string {
	t.Helper()
	addrs, err := serveproc.FreeAddrs(n)
	if err != nil {
		t.Fatal(err)
	}
	return addrs
}

// The demo, shortened: both canaries reach their end — the healthy one
// promoted, the faulty one rolled back — and no process is left behind.
func TestDemoRunsBothCanariesToTheirEnd(t *testing.T) {
	bin := buildBinaries(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	// The demo runs as its own binary: it re-executes itself as the
	// traffic generator.
	var out bytes.Buffer
	addrs := freeAddrs(t, 2)
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "demo"), "-bin", bin, "-plain", "-interval", "1s", "-iterations", "3",
		"-xds-addr", addrs[0], "-admin-addr", addrs[1], "-refresh", "200ms")
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	got := out.String()
	for _, want := range []string{
		"shop-canary  Completed", "v2 promoted to 100%",
		"cart-canary  RolledBack", "app/error-rate",
		"Every process the demo started has been stopped.",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("no %q in the demo's output:\n%s", want, got)
		}
	}
	if leftovers := processesUnder(t, bin); len(leftovers) > 0 {
		t.Errorf("processes left behind: %v", leftovers)
	}
}

// processesUnder lists running processes whose executable lives in dir.
func processesUnder(t *testing.T, dir string) []string {
	t.Helper()
	procs, _ := filepath.Glob("/proc/[0-9]*/exe")
	var out []string
	for _, p := range procs {
		if exe, err := os.Readlink(p); err == nil && strings.HasPrefix(exe, dir) {
			out = append(out, p+" → "+exe)
		}
	}
	return out
}

func TestDemoSaysWhichPortIsTaken(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	taken := l.Addr().String()
	var out bytes.Buffer
	err = run(context.Background(), []string{"-bin", t.TempDir(), "-admin-addr", taken, "-xds-addr", freeAddr(t)}, &out)
	if err == nil || !strings.Contains(err.Error(), "port "+taken+" is taken") {
		t.Fatalf("demo with %s taken: %v", taken, err)
	}
}
