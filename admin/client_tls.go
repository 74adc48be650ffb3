package admin

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"time"

	"github.com/shadowplane/shadowplane/internal/tlsfiles"
)

// NewHTTPClient is the client the CLI talks to the admin API with. An
// https admin URL is checked against the system's roots, and also
// against the certificates in caFile when given (a private CA, or the
// admin's self-signed certificate).
func NewHTTPClient(caFile string, timeout time.Duration) (*http.Client, error) {
	if caFile == "" {
		return &http.Client{Timeout: timeout}, nil
	}
	pem, err := tlsfiles.ReadPEMFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("admin CA file: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("admin CA file %s holds no PEM certificate", caFile)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool}
	return &http.Client{Timeout: timeout, Transport: tr}, nil
}
