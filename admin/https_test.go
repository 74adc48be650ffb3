package admin

import (
	"crypto/tls"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shadowplane/shadowplane/internal/tlsfiles"
	"github.com/shadowplane/shadowplane/test/testca"
)

// adminLeaf is the admin API's server certificate: 127.0.0.1 and localhost.
var adminLeaf = testca.Leaf{IP: net.IPv4(127, 0, 0, 1), DNS: []string{"localhost"}, Server: true}

// issueTo writes a new certificate of ca's for adminLeaf and its key to
// certPath and keyPath, each replaced by rename, and returns its serial.
func issueTo(t *testing.T, ca *testca.CA, certPath, keyPath string) int64 {
	t.Helper()
	c, k, serial := ca.Issue(t, adminLeaf)
	testca.WriteFile(t, filepath.Dir(certPath), filepath.Base(certPath), c)
	testca.WriteFile(t, filepath.Dir(keyPath), filepath.Base(keyPath), k)
	return serial
}

// served is the serial of the certificate the server at addr presents.
func served(t *testing.T, addr string) int64 {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true}) // only to read the certificate
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber.Int64()
}

// TestAdminOverTLS: the API over HTTPS on a real socket, reached by the
// CLI's client trusting the certificate's file and refused without it;
// a rotated certificate is served at the next handshake without a
// restart, and a broken one leaves the previous in use.
func TestAdminOverTLS(t *testing.T) {
	dir := t.TempDir()
	certPath, keyPath := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	ca := testca.New(t, "admin CA")
	issueTo(t, ca, certPath, keyPath)
	caPath := testca.WriteFile(t, dir, "ca.pem", ca.PEM)
	var (
		mu      sync.Mutex
		reloads []error
	)
	// As serve does (cmd/shadowplane/serve_admin.go), looking at the
	// files at every handshake rather than every 2 s.
	files, err := tlsfiles.New(tlsfiles.Files{Cert: certPath, Key: keyPath}, tlsfiles.Options{CheckEvery: -1, OnReload: func(err error) {
		mu.Lock()
		defer mu.Unlock()
		reloads = append(reloads, err)
	}})
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: NewHandler(Config{})}
	go srv.Serve(tls.NewListener(lis, files.ServerConfig()))
	t.Cleanup(func() { srv.Close() })
	addr := lis.Addr().String()
	base := "https://" + addr

	client, err := NewHTTPClient(caPath, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := client.Get(base + "/healthz")
	if err != nil {
		t.Fatalf("GET /healthz with the certificate trusted: %v", err)
	}
	resp.Body.Close()
	plain, _ := NewHTTPClient("", 5*time.Second)
	if _, err := plain.Get(base + "/healthz"); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("GET without trusting the certificate: %v, want a certificate error", err)
	}

	// Rotation: a new pair on the same paths is served at the next
	// handshake (the reloader compares the files' content).
	rotated := issueTo(t, ca, certPath, keyPath)
	if got := served(t, addr); got != rotated {
		t.Errorf("after rotation the server presents serial %d, want %d", got, rotated)
	}
	// A broken certificate keeps the last good pair, and says why.
	if err := os.WriteFile(certPath, []byte("-----BEGIN CERTIFICATE-----\nnot base64\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := served(t, addr); got != rotated {
		t.Errorf("with a broken certificate the server presents serial %d, want the previous %d", got, rotated)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(reloads) != 2 || reloads[0] != nil || reloads[1] == nil || !strings.Contains(reloads[1].Error(), certPath) {
		t.Errorf("reloads reported %v; want one success, then an error naming %s", reloads, certPath)
	}
}

func TestTLSFilesRefusedAtStart(t *testing.T) {
	dir := t.TempDir()
	certPath, keyPath := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	issueTo(t, testca.New(t, "admin CA"), certPath, keyPath)
	if _, err := tlsfiles.New(tlsfiles.Files{Cert: dir, Key: keyPath}, tlsfiles.Options{}); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("a directory as the certificate: %v", err)
	}
	if _, err := tlsfiles.New(tlsfiles.Files{Cert: certPath, Key: filepath.Join(dir, "missing")}, tlsfiles.Options{}); err == nil {
		t.Error("a missing key loaded")
	}
	if _, err := NewHTTPClient(keyPath, time.Second); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Errorf("a key as the CA file: %v", err)
	}
}
