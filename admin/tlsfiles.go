package admin

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"
)

// CertFiles is a certificate and its key read from two files, read again
// at the next handshake after either changes: a rotated certificate
// (cert-manager, a cron job) takes effect without a restart. A pair that
// does not load, such as a certificate already replaced while its key is
// not yet, keeps the previous pair in use and is tried again at the next
// handshake, so a rotation in two writes never breaks the API.
type CertFiles struct {
	certPath, keyPath string
	// OnReload, when set, is told of each reload: err nil when the new
	// pair is in use, else why the previous one still is.
	onReload func(err error)

	mu        sync.Mutex
	cur       *tls.Certificate
	certStamp fileStamp
	keyStamp  fileStamp
	failed    [2]fileStamp // the stamps of the last pair that failed
}

// fileStamp tells a changed file from an unchanged one without reading it.
type fileStamp struct {
	size    int64
	modTime time.Time
}

// maxPEMFile bounds a certificate or key file: a chain is a few KiB.
const maxPEMFile = 1 << 20

// LoadCertFiles reads the pair now; a pair that does not load is an error
// at start. onReload may be nil.
func LoadCertFiles(certPath, keyPath string, onReload func(error)) (*CertFiles, error) {
	c := &CertFiles{certPath: certPath, keyPath: keyPath, onReload: onReload}
	cs, ks, err := c.stamps()
	if err != nil {
		return nil, err
	}
	cert, err := c.load()
	if err != nil {
		return nil, err
	}
	c.cur, c.certStamp, c.keyStamp = cert, cs, ks
	return c, nil
}

// GetCertificate is tls.Config.GetCertificate: the pair, read again if
// either file changed since.
func (c *CertFiles) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cs, ks, err := c.stamps()
	if err != nil || (cs == c.certStamp && ks == c.keyStamp) || (cs == c.failed[0] && ks == c.failed[1]) {
		// A file missing for a moment (rename-on-save) is not a reason
		// to stop serving; a pair that failed is not read again until it
		// changes.
		return c.cur, nil
	}
	cert, err := c.load()
	if err != nil {
		c.failed = [2]fileStamp{cs, ks}
		if c.onReload != nil {
			c.onReload(err)
		}
		return c.cur, nil
	}
	c.cur, c.certStamp, c.keyStamp = cert, cs, ks
	c.failed = [2]fileStamp{}
	if c.onReload != nil {
		c.onReload(nil)
	}
	return c.cur, nil
}

// Leaf is the certificate in use, for logs.
func (c *CertFiles) Leaf() *x509.Certificate {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cur.Leaf
}

func (c *CertFiles) stamps() (cert, key fileStamp, err error) {
	if cert, err = stampOf(c.certPath); err != nil {
		return
	}
	key, err = stampOf(c.keyPath)
	return
}

// stampOf checks that path is a regular file of sane size before anyone
// opens it: a FIFO would block the handshake, /dev/zero would never end.
func stampOf(path string) (fileStamp, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}, err
	}
	if !fi.Mode().IsRegular() {
		return fileStamp{}, fmt.Errorf("%s is not a regular file", path)
	}
	if fi.Size() > maxPEMFile {
		return fileStamp{}, fmt.Errorf("%s is %d bytes, more than a certificate or key (at most %d)", path, fi.Size(), maxPEMFile)
	}
	return fileStamp{size: fi.Size(), modTime: fi.ModTime()}, nil
}

func (c *CertFiles) load() (*tls.Certificate, error) {
	certPEM, err := os.ReadFile(c.certPath)
	if err != nil {
		return nil, fmt.Errorf("admin TLS certificate: %w", err)
	}
	keyPEM, err := os.ReadFile(c.keyPath)
	if err != nil {
		return nil, fmt.Errorf("admin TLS key: %w", err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("admin TLS pair %s, %s: %w", c.certPath, c.keyPath, err)
	}
	if cert.Leaf == nil {
		return nil, errors.New("admin TLS certificate: no leaf")
	}
	return &cert, nil
}

// TLSConfig is the admin server's TLS configuration: TLS 1.2 at least,
// the certificate from c.
func (c *CertFiles) TLSConfig() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: c.GetCertificate}
}
