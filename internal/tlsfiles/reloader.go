// Package tlsfiles serves TLS from certificate, key and CA files that it
// reads again when they change, for the xDS server and the admin API alike.
package tlsfiles

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// Files name the PEM files of a server's TLS (decision 0019).
type Files struct {
	// Cert and Key are the server's certificate chain and private key.
	Cert, Key string
	// ClientCA, when set, holds the CAs that sign clients' certificates:
	// every client must then present one (for xDS, its identity is then
	// bound to the nodes it may claim). Empty: server TLS only.
	ClientCA string
}

// Options tune a Reloader.
type Options struct {
	// CheckEvery is how often a handshake looks whether the files
	// changed; between checks handshakes use what was last read. Default
	// 2 s: reading three small files that often costs nothing, and a
	// rotated certificate is in use within seconds. Tests set a negative
	// value to check on every handshake.
	CheckEvery time.Duration
	// OnReload is told of every change of the files: err is nil when the
	// new files are in use, else why they were refused (the previous ones
	// stay in use). Called with the reloader's lock held; it must not
	// call back.
	OnReload func(err error)
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// MaxPEMBytes bounds each TLS file read. A certificate chain or bundle of
// CAs is a few kilobytes; a megabyte is room for hundreds of CAs.
const MaxPEMBytes = 1 << 20

// Reloader serves a server's TLS from files it re-reads when they
// change, so that a rotated certificate, key or CA bundle is used by the
// next connection without a restart (Kubernetes updates a mounted Secret
// by swapping a symlink; cert-manager and SPIRE helpers rewrite files).
// Files that do not load (a key from another pair, half of a rotation
// written) are refused and the last good ones kept, so a bad rotation
// never takes the server down. Connections already open keep the certificate
// they were made with.
type Reloader struct {
	files Files
	opts  Options

	mu      sync.Mutex
	checked time.Time
	// good is what the current config was built from; bad the last
	// contents refused, so a refusal is reported once, not per handshake.
	good, bad [3][]byte
	cfg       *tls.Config
}

// New reads files once; unlike later changes, files that do not load now
// are an error.
func New(files Files, opts Options) (*Reloader, error) {
	if files.Cert == "" || files.Key == "" {
		return nil, errors.New("TLS needs both a certificate and a key file")
	}
	if opts.CheckEvery == 0 {
		opts.CheckEvery = 2 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.OnReload == nil {
		opts.OnReload = func(error) {}
	}
	r := &Reloader{files: files, opts: opts}
	raw, err := r.read()
	if err != nil {
		return nil, err
	}
	cfg, err := r.build(raw)
	if err != nil {
		return nil, err
	}
	r.good, r.cfg, r.checked = raw, cfg, opts.Now()
	return r, nil
}

// ServerConfig is a server's TLS configuration that takes every
// handshake's from the reloader: for tls.NewListener, or for gRPC through
// credentials.NewTLS.
func (r *Reloader) ServerConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return r.Config(), nil
		},
	}
}

// Config is the configuration in use, after looking at the files if
// CheckEvery has passed since the last look.
func (r *Reloader) Config() *tls.Config {
	r.mu.Lock()
	defer r.mu.Unlock()
	if now := r.opts.Now(); r.opts.CheckEvery < 0 || now.Sub(r.checked) >= r.opts.CheckEvery {
		r.checked = now
		r.reloadLocked()
	}
	return r.cfg
}

func (r *Reloader) reloadLocked() {
	raw, err := r.read()
	if err == nil && same(raw, r.good) {
		return
	}
	if err == nil && same(raw, r.bad) {
		return // refused already, and said so
	}
	var cfg *tls.Config
	if err == nil {
		cfg, err = r.build(raw)
	}
	if err != nil {
		// Unreadable files are reported on every check: they may come
		// back as they were, which should be heard of too.
		r.bad = raw
		r.opts.OnReload(fmt.Errorf("%w; still serving the previous certificate", err))
		return
	}
	r.good, r.bad, r.cfg = raw, [3][]byte{}, cfg
	r.opts.OnReload(nil)
}

func same(a, b [3][]byte) bool {
	return bytes.Equal(a[0], b[0]) && bytes.Equal(a[1], b[1]) && bytes.Equal(a[2], b[2])
}

// read reads the three files; the CA's slot stays nil without one.
func (r *Reloader) read() ([3][]byte, error) {
	var raw [3][]byte
	for i, name := range []string{r.files.Cert, r.files.Key, r.files.ClientCA} {
		if name == "" {
			continue
		}
		b, err := ReadPEMFile(name)
		if err != nil {
			return [3][]byte{}, err
		}
		raw[i] = b
	}
	return raw, nil
}

// ReadPEMFile reads a regular file of at most MaxPEMBytes. The type is
// checked first, so that a FIFO in its place cannot hang a handshake.
func ReadPEMFile(name string) ([]byte, error) {
	fi, err := os.Stat(name)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file (%s)", name, fi.Mode().Type())
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxPEMBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(b) > MaxPEMBytes {
		return nil, fmt.Errorf("%s: larger than %d bytes, not a PEM certificate or key", name, MaxPEMBytes)
	}
	return b, nil
}

func (r *Reloader) build(raw [3][]byte) (*tls.Config, error) {
	pair, err := tls.X509KeyPair(raw[0], raw[1])
	if err != nil {
		return nil, fmt.Errorf("TLS certificate %s and key %s: %w", r.files.Cert, r.files.Key, err)
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{pair}}
	if r.files.ClientCA != "" {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(raw[2]) {
			return nil, fmt.Errorf("client CA %s: no PEM certificate in it", r.files.ClientCA)
		}
		cfg.ClientCAs, cfg.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}
