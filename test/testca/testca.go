// Package testca makes certificate authorities and certificates for tests
// of TLS and mTLS: a CA, server certificates for an IP or a name, and
// client certificates with SPIFFE URI and DNS SANs, as PEM files.
package testca

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// CA is a certificate authority made for one test.
type CA struct {
	Cert *x509.Certificate
	key  *ecdsa.PrivateKey
	// PEM is Cert, encoded: a CA bundle of one.
	PEM []byte
}

var serials atomic.Int64

func New(t testing.TB, name string) *CA {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serials.Add(1)),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &CA{Cert: cert, key: key, PEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// Leaf is what a certificate the CA issues names.
type Leaf struct {
	SPIFFE string // URI SAN
	DNS    []string
	IP     net.IP
	// Server makes a server certificate; else a client one.
	Server bool
}

// Issue returns a certificate for l and its key, as PEM, and the
// certificate's serial number.
func (ca *CA) Issue(t testing.TB, l Leaf) (certPEM, keyPEM []byte, serial int64) {
	t.Helper()
	key := newKey(t)
	serial = serials.Add(1)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: "ignored-common-name"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		DNSNames:     l.DNS,
	}
	if l.Server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	}
	if l.IP != nil {
		tmpl.IPAddresses = []net.IP{l.IP}
	}
	if l.SPIFFE != "" {
		u, err := url.Parse(l.SPIFFE)
		if err != nil {
			t.Fatal(err)
		}
		tmpl.URIs = []*url.URL{u}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), serial
}

// Files are a certificate, its key and its CA's certificate on disk.
type Files struct{ Cert, Key, CA string }

// WriteFile writes data to dir/name, replacing it by rename as a
// rotation should, and returns the path.
func WriteFile(t testing.TB, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, p); err != nil {
		t.Fatal(err)
	}
	return p
}

// IssueFiles issues a certificate for l and writes it, its key and the
// CA's certificate into a new directory.
func (ca *CA) IssueFiles(t testing.TB, l Leaf) Files {
	t.Helper()
	dir := t.TempDir()
	c, k, _ := ca.Issue(t, l)
	return Files{Cert: WriteFile(t, dir, "cert.pem", c), Key: WriteFile(t, dir, "key.pem", k), CA: WriteFile(t, dir, "ca.pem", ca.PEM)}
}
