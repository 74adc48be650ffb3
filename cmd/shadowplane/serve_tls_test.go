package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/shadowplane/shadowplane/policy"
)

// serve refuses plaintext xDS off loopback before it starts anything.
func TestServeRefusesPlaintextXDSOffLoopback(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0", "[::]:0"} {
		code, _, stderr := runCmd(t, "serve", "--policies", "../../examples/canary-segment",
			"--state-dir", t.TempDir(), "--xds-addr", addr, "--admin-addr", "127.0.0.1:0")
		if code != 1 || !strings.Contains(stderr, "--xds-addr "+addr+" is not loopback and xDS would be plaintext") || !strings.Contains(stderr, "--insecure-xds") {
			t.Errorf("serve --xds-addr %s: exit %d, stderr:\n%s", addr, code, stderr)
		}
	}
}

func TestXDSTLSFlags(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		cfg  xdsTLSConfig
		addr string
		// want is in the error, or with ok in the log.
		want string
		ok   bool
	}{
		{"plaintext on loopback is said to be plaintext", xdsTLSConfig{}, "127.0.0.1:18000", "xDS is plaintext", true},
		{"--insecure-xds allows plaintext off loopback", xdsTLSConfig{insecure: true}, "0.0.0.0:18000", "xDS is plaintext", true},
		{"a certificate needs its key", xdsTLSConfig{cert: notPEM}, "127.0.0.1:18000", "--xds-tls-cert and --xds-tls-key go together", false},
		{"a client CA needs server TLS", xdsTLSConfig{clientCA: notPEM}, "127.0.0.1:18000", "--xds-client-ca needs --xds-tls-cert", false},
		{"TLS and insecure", xdsTLSConfig{cert: notPEM, key: notPEM, insecure: true}, "0.0.0.0:18000", "choose one", false},
		{"files that do not load", xdsTLSConfig{cert: notPEM, key: notPEM}, "0.0.0.0:18000", notPEM, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			log := hclog.New(&hclog.LoggerOptions{Output: &logs})
			creds, err := tc.cfg.credentials(tc.addr, log)
			switch {
			case tc.ok && (err != nil || creds != nil || !strings.Contains(logs.String(), tc.want)):
				t.Errorf("credentials = %v, %v; log:\n%s\nwant plaintext and %q", creds, err, logs.String(), tc.want)
			case !tc.ok && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("credentials: %v, want an error with %q", err, tc.want)
			}
		})
	}
}

func TestWarnsOfIdentitiesNotEnforced(t *testing.T) {
	m := &policy.Model{Apps: []policy.App{{Name: "web", Proxies: policy.Selector{Clusters: []string{"c"}, Identities: []string{"spiffe://x/y"}}}}}
	var logs bytes.Buffer
	xdsTLSConfig{}.warnUnbound(hclog.New(&hclog.LoggerOptions{Output: &logs}), m)
	if !strings.Contains(logs.String(), "not enforced without --xds-client-ca") {
		t.Errorf("no warning; log:\n%s", logs.String())
	}
	logs.Reset()
	xdsTLSConfig{clientCA: "ca.pem"}.warnUnbound(hclog.New(&hclog.LoggerOptions{Output: &logs}), m)
	if logs.Len() != 0 {
		t.Errorf("warned with a client CA:\n%s", logs.String())
	}
}
