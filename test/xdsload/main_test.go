package main

import (
	"context"
	"os"
	"testing"
	"time"
)

// TestMain lets the test binary be the harness's server child too: the
// harness runs its own executable with "serve".
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "serve" {
		if err := runServer(context.Background(), os.Args[2:]); err != nil {
			os.Stderr.WriteString(err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// The harness still measures both servers end to end — initial sync,
// changes, a reconnect storm, misbehaving proxies, both protocols — so that
// `make bench-xds` does not rot. Its figures are not checked: they are for
// docs/performance.md, on a quiet machine.
func TestHarnessRunsBothServers(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two servers and 60 proxies")
	}
	for _, args := range [][]string{
		{"-n", "30", "-changes", "3", "-bad", "0.1"},
		{"-n", "30", "-changes", "3", "-delta", "-storm=false"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		err := runCompare(ctx, append(args, "-timeout", "1m"))
		cancel()
		if err != nil {
			t.Fatalf("xdsload %v: %v", args, err)
		}
	}
}
