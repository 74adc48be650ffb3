package main

import (
	"errors"
	"flag"
	"fmt"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc/credentials"

	"github.com/shadowplane/shadowplane/admin"
	"github.com/shadowplane/shadowplane/internal/tlsfiles"
	"github.com/shadowplane/shadowplane/policy"
)

// xdsTLSConfig is how serve secures xDS (decision 0019): TLS from files it
// re-reads when they change, client certificates when a CA is given, and
// plaintext only on loopback unless --insecure-xds says otherwise.
type xdsTLSConfig struct {
	cert, key, clientCA string
	insecure            bool
}

func (c *xdsTLSConfig) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.cert, "xds-tls-cert", "", "PEM `FILE` of the xDS server's certificate chain: serve xDS over TLS (re-read when it changes)")
	fs.StringVar(&c.key, "xds-tls-key", "", "PEM `FILE` of the xDS server's private key, with --xds-tls-cert")
	fs.StringVar(&c.clientCA, "xds-client-ca", "", "PEM `FILE` of the CAs that sign proxies' certificates: require one from every proxy, and bind its identity (SPIFFE URI or DNS SAN) to the nodes policies' proxies.identities allow")
	fs.BoolVar(&c.insecure, "insecure-xds", false, "serve plaintext xDS on a non-loopback --xds-addr: anyone who reaches it can claim any node and read every upstream address")
}

// credentials checks the flags against the xDS address and loads the
// TLS files; nil credentials mean plaintext.
func (c xdsTLSConfig) credentials(addr string, log hclog.Logger) (credentials.TransportCredentials, error) {
	switch {
	case (c.cert == "") != (c.key == ""):
		return nil, errors.New("--xds-tls-cert and --xds-tls-key go together")
	case c.clientCA != "" && c.cert == "":
		return nil, errors.New("--xds-client-ca needs --xds-tls-cert and --xds-tls-key: client certificates are asked for in a TLS handshake")
	case c.insecure && c.cert != "":
		return nil, errors.New("--insecure-xds and --xds-tls-cert: choose one")
	}
	if c.cert == "" {
		if !admin.IsLoopback(addr) && !c.insecure {
			return nil, fmt.Errorf("--xds-addr %s is not loopback and xDS would be plaintext: whoever reaches it could claim any node and read every upstream address. "+
				"Give --xds-tls-cert and --xds-tls-key (and --xds-client-ca to require proxies' certificates), or --insecure-xds to serve plaintext anyway", addr)
		}
		log.Warn("xDS is plaintext: proxies are not authenticated and may claim any node; see --xds-tls-cert and --xds-client-ca", "addr", addr)
		return nil, nil
	}
	xlog := log.Named("xds-tls")
	r, err := tlsfiles.New(tlsfiles.Files{Cert: c.cert, Key: c.key, ClientCA: c.clientCA}, tlsfiles.Options{
		OnReload: func(err error) {
			if err != nil {
				xlog.Error("xDS TLS files changed but were refused", "error", err)
				return
			}
			xlog.Info("xDS TLS files reloaded; new connections use them", "cert", c.cert, "client_ca", c.clientCA)
		},
	})
	if err != nil {
		return nil, err
	}
	if c.clientCA == "" {
		log.Info("xDS over TLS; client certificates are not asked for, so proxies' identities are not bound to nodes", "cert", c.cert)
	} else {
		log.Info("xDS over mTLS; every proxy needs a certificate of the client CA, and policies' proxies.identities bind identities to nodes", "cert", c.cert, "client_ca", c.clientCA)
	}
	return credentials.NewTLS(r.ServerConfig()), nil
}

// warnUnbound says so when policies bind identities that serve cannot
// check, for want of client certificates.
func (c xdsTLSConfig) warnUnbound(log hclog.Logger, m *policy.Model) {
	if c.clientCA != "" || m == nil {
		return
	}
	for _, a := range m.Apps {
		if len(a.Proxies.Identities) > 0 {
			log.Warn("policies bind proxies.identities, which are not enforced without --xds-client-ca", "app", a.Name, "file", a.Source.File)
			return
		}
	}
}

// bootstrapFlags are the flags `shadowplane bootstrap` needs to reach this
// server, for the hint serve logs at start.
func (c xdsTLSConfig) bootstrapFlags() string {
	switch {
	case c.clientCA != "":
		return " --tls-ca SERVER_CA.pem --tls-cert PROXY_CERT.pem --tls-key PROXY_KEY.pem"
	case c.cert != "":
		return " --tls-ca SERVER_CA.pem"
	}
	return ""
}
