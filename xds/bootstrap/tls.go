package bootstrap

import (
	"flag"
	"fmt"
	"strings"
	"unicode"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/types/known/anypb"
)

// TLS is how a client reaches a control plane that serves xDS over TLS
// (serve --xds-tls-cert): the CA that signed the server's certificate,
// and for mTLS (serve --xds-client-ca) the client's own certificate and
// key, whose identity the policy binds to node clusters and ids. Paths
// are as the client will see them, so they are not checked here.
type TLS struct {
	CA   string
	Cert string
	Key  string
}

// Enabled reports whether the client speaks TLS to the control plane.
func (t TLS) Enabled() bool { return t.CA != "" || t.Cert != "" || t.Key != "" }

func (t *TLS) addFlags(fs *flag.FlagSet) {
	fs.StringVar(&t.CA, "tls-ca", t.CA, "PEM `FILE` of the CA that signed the control plane's certificate: speak TLS to it (serve --xds-tls-cert)")
	fs.StringVar(&t.Cert, "tls-cert", t.Cert, "PEM `FILE` of this client's certificate, for mTLS (serve --xds-client-ca); its SPIFFE URI or DNS name must be allowed to claim --node/--cluster")
	fs.StringVar(&t.Key, "tls-key", t.Key, "PEM `FILE` of this client's private key, with --tls-cert")
}

// tlsSocketName is the name Envoy knows its TLS transport socket by.
const tlsSocketName = "envoy.transport_sockets.tls"

func (t TLS) validate() []error {
	if !t.Enabled() {
		return nil
	}
	var errs []error
	if t.CA == "" {
		errs = append(errs, fmt.Errorf("--tls-ca is required with --tls-cert and --tls-key: a TLS client must verify the control plane"))
	}
	if (t.Cert == "") != (t.Key == "") {
		errs = append(errs, fmt.Errorf("--tls-cert and --tls-key go together"))
	}
	for _, f := range []struct{ flag, path string }{{"--tls-ca", t.CA}, {"--tls-cert", t.Cert}, {"--tls-key", t.Key}} {
		if strings.ContainsFunc(f.path, unicode.IsControl) {
			errs = append(errs, fmt.Errorf("%s %q contains a control character", f.flag, f.path))
		}
	}
	return errs
}

// transportSocket is the xDS cluster's TLS: the server's certificate is
// verified against CA and must name the host Envoy dials (Envoy checks
// only the chain unless told which names to expect), ALPN offers h2 (gRPC
// servers refuse TLS without it), and the client presents its own pair
// for mTLS. Envoy reads the files once: rotating them needs a restart or
// SDS, which shadowplane does not serve.
func (t TLS) transportSocket(addr hostPort) (*corev3.TransportSocket, error) {
	file := func(name string) *corev3.DataSource {
		return &corev3.DataSource{Specifier: &corev3.DataSource_Filename{Filename: name}}
	}
	san := &tlsv3.SubjectAltNameMatcher{
		SanType: tlsv3.SubjectAltNameMatcher_DNS,
		Matcher: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: addr.host}},
	}
	if addr.ip.IsValid() {
		san.SanType = tlsv3.SubjectAltNameMatcher_IP_ADDRESS
	}
	ctx := &tlsv3.UpstreamTlsContext{
		CommonTlsContext: &tlsv3.CommonTlsContext{
			AlpnProtocols: []string{"h2"},
			ValidationContextType: &tlsv3.CommonTlsContext_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{
				TrustedCa:                 file(t.CA),
				MatchTypedSubjectAltNames: []*tlsv3.SubjectAltNameMatcher{san},
			}},
		},
	}
	if !addr.ip.IsValid() {
		ctx.Sni = addr.host
	}
	if t.Cert != "" {
		ctx.CommonTlsContext.TlsCertificates = []*tlsv3.TlsCertificate{{CertificateChain: file(t.Cert), PrivateKey: file(t.Key)}}
	}
	// Bootstrap.ValidateAll does not look inside an Any.
	if err := ctx.ValidateAll(); err != nil {
		return nil, fmt.Errorf("%s is invalid (a bug in shadowplane): %w", tlsSocketName, err)
	}
	a, err := anypb.New(ctx)
	if err != nil {
		return nil, fmt.Errorf("packing %s: %w", tlsSocketName, err)
	}
	return &corev3.TransportSocket{Name: tlsSocketName, ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: a}}, nil
}

// secure puts the TLS transport socket on the xDS cluster when t is set.
func (t TLS) secure(c *clusterv3.Cluster, addr hostPort) error {
	if !t.Enabled() {
		return nil
	}
	ts, err := t.transportSocket(addr)
	if err != nil {
		return err
	}
	c.TransportSocket = ts
	return nil
}

// grpcCreds are the channel credentials of a gRPC bootstrap (gRFC A65):
// "tls" with the CA and, for mTLS, the client's pair, which gRPC re-reads
// when they change; else "insecure".
func (t TLS) grpcCreds() []grpcChannelCred {
	if !t.Enabled() {
		return []grpcChannelCred{{Type: "insecure"}}
	}
	return []grpcChannelCred{{Type: "tls", Config: &grpcTLSConfig{CA: t.CA, Cert: t.Cert, Key: t.Key}}}
}

// grpcTLSConfig is the config of "tls" channel credentials (gRFC A65).
type grpcTLSConfig struct {
	CA   string `json:"ca_certificate_file"`
	Cert string `json:"certificate_file,omitempty"`
	Key  string `json:"private_key_file,omitempty"`
}

// commandFlags are the TLS flags of CommandLine, in a fixed order.
func (t TLS) commandFlags() []string {
	var args []string
	for _, f := range []struct{ flag, v string }{{"--tls-ca", t.CA}, {"--tls-cert", t.Cert}, {"--tls-key", t.Key}} {
		if f.v != "" {
			args = append(args, f.flag, f.v)
		}
	}
	return args
}
