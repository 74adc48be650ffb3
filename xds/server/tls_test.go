package server

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"github.com/shadowplane/shadowplane/internal/tlsfiles"
	"google.golang.org/grpc/credentials"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// handshake makes one TLS connection to addr as a gRPC client would and
// returns the serial number of the server's certificate, or the error.
func handshake(addr string, cfg *tls.Config) (int64, error) {
	cfg = cfg.Clone()
	cfg.NextProtos = []string{"h2"}
	conn, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	// With TLS 1.3 the server checks the client's certificate after the
	// client has finished: a read shows whether it was refused.
	conn.Write([]byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"))
	buf := make([]byte, 1)
	if _, err := conn.Read(buf); err != nil {
		return 0, err
	}
	return conn.ConnectionState().PeerCertificates[0].SerialNumber.Int64(), nil
}

func TestTLSFilesRotateWithoutRestart(t *testing.T) {
	serverCA := newTestCA(t, "server CA")
	clientsA, clientsB := newTestCA(t, "proxy CA A"), newTestCA(t, "proxy CA B")
	dir := t.TempDir()
	cert, key, serial1 := serverCA.Issue(t, leaf{IP: net.ParseIP("127.0.0.1"), Server: true})
	files := tlsfiles.Files{
		Cert:     writeFile(t, dir, "tls.crt", cert),
		Key:      writeFile(t, dir, "tls.key", key),
		ClientCA: writeFile(t, dir, "ca.crt", clientsA.PEM),
	}
	reloads := make(chan error, 16)
	r, err := tlsfiles.New(files, tlsfiles.Options{CheckEvery: -1, OnReload: func(err error) { reloads <- err }})
	if err != nil {
		t.Fatal(err)
	}
	h := startWith(t, boundModel("127.0.0.1:9"), Options{Creds: credentials.NewTLS(r.ServerConfig())})
	h.serverCA = serverCA
	client := func(ca *testCA) *tls.Config { return h.clientTLS(t, ca, leaf{SPIFFE: frontID}) }

	if got, err := handshake(h.addr, client(clientsA)); err != nil || got != serial1 {
		t.Fatalf("first handshake: serial %d, %v; want %d", got, err, serial1)
	}

	// A new pair, written as cert-manager and kubelet do: a new
	// connection gets it, with no restart.
	cert, key, serial2 := serverCA.Issue(t, leaf{IP: net.ParseIP("127.0.0.1"), Server: true})
	writeFile(t, dir, "tls.crt", cert)
	writeFile(t, dir, "tls.key", key)
	if got, err := handshake(h.addr, client(clientsA)); err != nil || got != serial2 {
		t.Fatalf("after rotation: serial %d, %v; want %d", got, err, serial2)
	}
	if err := <-reloads; err != nil {
		t.Fatalf("OnReload(%v) after a good rotation", err)
	}

	// A key that does not match is refused; the last good pair serves on.
	_, otherKey, _ := serverCA.Issue(t, leaf{IP: net.ParseIP("127.0.0.1"), Server: true})
	writeFile(t, dir, "tls.key", otherKey)
	if got, err := handshake(h.addr, client(clientsA)); err != nil || got != serial2 {
		t.Fatalf("after a bad key: serial %d, %v; want the previous %d", got, err, serial2)
	}
	if err := <-reloads; err == nil || !strings.Contains(err.Error(), "tls.key") || !strings.Contains(err.Error(), "still serving the previous certificate") {
		t.Fatalf("OnReload(%v), want an error naming the key file", err)
	}
	writeFile(t, dir, "tls.key", key) // back to the good pair: no reload, it is in use

	// A new client CA: its proxies get in, the old CA's no longer do.
	writeFile(t, dir, "ca.crt", clientsB.PEM)
	if _, err := handshake(h.addr, client(clientsB)); err != nil {
		t.Fatalf("a proxy of the new CA: %v", err)
	}
	if err := <-reloads; err != nil {
		t.Fatalf("OnReload(%v) after a new client CA", err)
	}
	if _, err := handshake(h.addr, client(clientsA)); err == nil {
		t.Fatal("a proxy of the replaced CA still gets in")
	}
}

func TestTLSFilesAreBounded(t *testing.T) {
	ca := newTestCA(t, "server CA")
	good := ca.IssueFiles(t, leaf{IP: net.ParseIP("127.0.0.1"), Server: true})
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.pem")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	big := writeFile(t, dir, "big.pem", make([]byte, tlsfiles.MaxPEMBytes+1))
	for name, tc := range map[string]struct {
		files tlsfiles.Files
		want  string
	}{
		"a FIFO does not hang":   {tlsfiles.Files{Cert: fifo, Key: good.Key}, "not a regular file"},
		"a huge file":            {tlsfiles.Files{Cert: big, Key: good.Key}, "larger than"},
		"a missing key":          {tlsfiles.Files{Cert: good.Cert, Key: filepath.Join(dir, "none")}, "no such file"},
		"a CA bundle with no CA": {tlsfiles.Files{Cert: good.Cert, Key: good.Key, ClientCA: good.Key}, "no PEM certificate"},
		"no key":                 {tlsfiles.Files{Cert: good.Cert}, "both a certificate and a key"},
	} {
		if _, err := tlsfiles.New(tc.files, tlsfiles.Options{}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: tlsfiles.New = %v, want %q", name, err, tc.want)
		}
	}
	if _, err := os.Stat(fifo); err != nil {
		t.Fatal(err)
	}
}

func TestCertIdentity(t *testing.T) {
	ca := newTestCA(t, "CA")
	for _, tc := range []struct {
		leaf leaf
		want string
	}{
		{leaf{SPIFFE: frontID, DNS: []string{"a.example.org"}}, frontID},
		{leaf{DNS: []string{"a.example.org", "b.example.org"}}, "a.example.org"},
		{leaf{}, ""},
	} {
		c, _, _ := ca.Issue(t, tc.leaf)
		block, _ := pem.Decode(c)
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		if got := CertIdentity(cert); got != tc.want {
			t.Errorf("CertIdentity(%+v) = %q, want %q", tc.leaf, got, tc.want)
		}
	}
}
