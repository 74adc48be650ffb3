package main

import (
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	stdlog "log"
	"net"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/shadowplane/shadowplane/internal/tlsfiles"
)

// Bounds of the admin server's connections. Each open connection holds a
// file descriptor, and the xDS caps leave a reserve of them for the admin
// API (xds/server.ConnBudget): an idle keep-alive connection is closed
// after adminIdleTimeout, and a request's headers (5 s to arrive, TLS
// handshake included) may take adminMaxHeaderBytes; the API reads no
// large header.
const (
	adminIdleTimeout    = 2 * time.Minute
	adminMaxHeaderBytes = 64 << 10
)

// adminErrorLog takes the admin server's own messages (a failed TLS
// handshake, a malformed request) into serve's log, redacted like the
// rest, at debug level: anyone who reaches the port can cause them, as
// fast as they like, and they say nothing an operator must act on.
func adminErrorLog(log hclog.Logger) *stdlog.Logger {
	return log.Named("admin").StandardLogger(&hclog.StandardLoggerOptions{ForceLevel: hclog.Debug})
}

// adminTLSConfig is serve's --admin-tls-cert and --admin-tls-key: the
// admin API over HTTPS. The files are read at start and again at the
// first handshake after either changes, so a rotated certificate needs
// no restart (admin.CertFiles).
type adminTLSConfig struct {
	cert, key string
}

func (c *adminTLSConfig) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.cert, "admin-tls-cert", "", "PEM certificate `FILE` (chain first to last) for the admin API over HTTPS; read again when it changes")
	fs.StringVar(&c.key, "admin-tls-key", "", "PEM private key `FILE` of --admin-tls-cert")
}

// check says whether the flags go together.
func (c adminTLSConfig) check() error {
	if (c.cert == "") != (c.key == "") {
		return errors.New("--admin-tls-cert and --admin-tls-key go together")
	}
	return nil
}

// wrap puts *lis behind TLS when configured and returns the scheme the
// admin API answers on. A pair that does not load is an error now; one
// that fails to load later is logged and the previous pair kept.
func (c adminTLSConfig) wrap(lis *net.Listener, log hclog.Logger) (string, error) {
	if c.cert == "" {
		return "http", nil
	}
	r, err := tlsfiles.New(tlsfiles.Files{Cert: c.cert, Key: c.key}, tlsfiles.Options{OnReload: func(err error) {
		if err != nil {
			log.Error("admin TLS certificate not reloaded; the previous one is still in use", "error", err)
			return
		}
		log.Info("admin TLS certificate reloaded", "cert", c.cert)
	}})
	if err != nil {
		return "", fmt.Errorf("admin TLS: %w", err)
	}
	leaf := r.Config().Certificates[0].Leaf
	log.Info("admin API over HTTPS", "cert", c.cert, "subject", leaf.Subject.String(), "dns", leaf.DNSNames, "notAfter", leaf.NotAfter)
	*lis = tls.NewListener(*lis, r.ServerConfig())
	return "https", nil
}
