package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/shadowplane/shadowplane/test/testca"
)

// TestServeAdminOverTLS: serve with --admin-tls-cert/--admin-tls-key
// answers on https, `status --admin-ca` reads it, and `status` without
// the CA refuses the unknown certificate.
func TestServeAdminOverTLS(t *testing.T) {
	pair := testca.New(t, "admin CA").IssueFiles(t, testca.Leaf{IP: net.IPv4(127, 0, 0, 1), Server: true})
	certPath, keyPath := pair.Cert, pair.Key
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	logs := newLineLog()
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--policies", "../../examples/canary-segment", "--state-dir", t.TempDir(),
			"--xds-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0",
			"--admin-tls-cert", certPath, "--admin-tls-key", keyPath, "--log-level", "debug"}, io.Discard, logs)
	}()
	line, err := logs.wait(ctx, regexp.MustCompile(`admin API listening: url=\S+`))
	if err != nil {
		t.Fatalf("%v:\n%s", err, logs)
	}
	base := strings.TrimPrefix(line, "admin API listening: url=")
	if !strings.HasPrefix(base, "https://") {
		t.Fatalf("admin API at %s, want https", base)
	}
	var out, errb bytes.Buffer
	if code := run(ctx, []string{"status", "--admin", base, "--admin-ca", pair.CA}, &out, &errb); code != 0 {
		t.Errorf("status --admin-ca: exit %d: %s", code, errb.String())
	}
	errb.Reset()
	if code := run(ctx, []string{"status", "--admin", base}, io.Discard, &errb); code == 0 || !strings.Contains(errb.String(), "certificate") {
		t.Errorf("status without the CA: exit %d: %s; want a certificate error", code, errb.String())
	}
	// The refused handshake is in serve's own log, at debug level.
	if _, err := logs.wait(ctx, regexp.MustCompile(`\[DEBUG\] shadowplane\.admin: http: TLS handshake error`)); err != nil {
		t.Errorf("%v:\n%s", err, logs)
	}
	cancel()
	<-done

	// Half a pair is a usage error, before anything starts.
	if code, _, stderr := runCmd(t, "serve", "--policies", "../../examples/canary-segment", "--admin-tls-cert", certPath); code != 2 || !strings.Contains(stderr, "go together") {
		t.Errorf("serve with a certificate and no key: exit %d: %s", code, stderr)
	}
}
