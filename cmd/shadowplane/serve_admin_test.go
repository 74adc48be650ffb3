package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// writeAdminCert writes a self-signed certificate for 127.0.0.1 and its
// key into dir, returning their paths.
func writeAdminCert(t *testing.T, dir string) (certPath, keyPath string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "shadowplane admin"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:         true, BasicConstraintsValid: true,
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPath, keyPath = filepath.Join(dir, "admin.crt"), filepath.Join(dir, "admin.key")
	os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600)
	return certPath, keyPath
}

// TestServeAdminOverTLS: serve with --admin-tls-cert/--admin-tls-key
// answers on https, `status --admin-ca` reads it, and `status` without
// the CA refuses the unknown certificate.
func TestServeAdminOverTLS(t *testing.T) {
	certPath, keyPath := writeAdminCert(t, t.TempDir())
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
	if code := run(ctx, []string{"status", "--admin", base, "--admin-ca", certPath}, &out, &errb); code != 0 {
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
