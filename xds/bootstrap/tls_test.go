package bootstrap

import (
	"encoding/json"
	"strings"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"
)

func mtlsOptions() Options {
	o := sidecarOptions()
	o.TLS = TLS{CA: "/etc/shadowplane/ca.pem", Cert: "/etc/envoy/cert.pem", Key: "/etc/envoy/key.pem"}
	return o
}

func TestBuildWithTLS(t *testing.T) {
	file := func(name string) *corev3.DataSource {
		return &corev3.DataSource{Specifier: &corev3.DataSource_Filename{Filename: name}}
	}
	tests := []struct {
		name string
		opts func(*Options)
		want *tlsv3.UpstreamTlsContext
	}{
		{
			name: "mTLS to an IP: the server's IP SAN is checked, no SNI",
			opts: func(*Options) {},
			want: &tlsv3.UpstreamTlsContext{CommonTlsContext: &tlsv3.CommonTlsContext{
				AlpnProtocols:   []string{"h2"},
				TlsCertificates: []*tlsv3.TlsCertificate{{CertificateChain: file("/etc/envoy/cert.pem"), PrivateKey: file("/etc/envoy/key.pem")}},
				ValidationContextType: &tlsv3.CommonTlsContext_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{
					TrustedCa: file("/etc/shadowplane/ca.pem"),
					MatchTypedSubjectAltNames: []*tlsv3.SubjectAltNameMatcher{{
						SanType: tlsv3.SubjectAltNameMatcher_IP_ADDRESS,
						Matcher: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: "127.0.0.1"}},
					}},
				}},
			}},
		},
		{
			name: "server TLS only, to a name: SNI and the DNS SAN",
			opts: func(o *Options) { o.XDSAddress = "shadowplane:18000"; o.TLS.Cert, o.TLS.Key = "", "" },
			want: &tlsv3.UpstreamTlsContext{Sni: "shadowplane", CommonTlsContext: &tlsv3.CommonTlsContext{
				AlpnProtocols: []string{"h2"},
				ValidationContextType: &tlsv3.CommonTlsContext_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{
					TrustedCa: file("/etc/shadowplane/ca.pem"),
					MatchTypedSubjectAltNames: []*tlsv3.SubjectAltNameMatcher{{
						SanType: tlsv3.SubjectAltNameMatcher_DNS,
						Matcher: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: "shadowplane"}},
					}},
				}},
			}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := mtlsOptions()
			tt.opts(&o)
			b, err := Build(o)
			if err != nil {
				t.Fatal(err)
			}
			if err := b.ValidateAll(); err != nil {
				t.Fatalf("ValidateAll: %v", err)
			}
			ts := b.StaticResources.Clusters[0].GetTransportSocket()
			if ts.GetName() != "envoy.transport_sockets.tls" {
				t.Fatalf("transport socket = %v, want envoy.transport_sockets.tls", ts)
			}
			got := &tlsv3.UpstreamTlsContext{}
			if err := ts.GetTypedConfig().UnmarshalTo(got); err != nil {
				t.Fatal(err)
			}
			if err := got.ValidateAll(); err != nil {
				t.Errorf("UpstreamTlsContext.ValidateAll: %v", err)
			}
			if diff := cmp.Diff(tt.want, got, protocmp.Transform()); diff != "" {
				t.Errorf("UpstreamTlsContext (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBuildWithoutTLSHasNoTransportSocket(t *testing.T) {
	b, err := Build(sidecarOptions())
	if err != nil {
		t.Fatal(err)
	}
	if ts := b.StaticResources.Clusters[0].GetTransportSocket(); ts != nil {
		t.Errorf("plaintext bootstrap has a transport socket: %v", ts)
	}
}

func TestGRPCBootstrapWithTLS(t *testing.T) {
	out, err := GRPC(mtlsOptions())
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		XDSServers []struct {
			ChannelCreds []struct {
				Type   string            `json:"type"`
				Config map[string]string `json:"config"`
			} `json:"channel_creds"`
		} `json:"xds_servers"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	want := map[string]string{
		"ca_certificate_file": "/etc/shadowplane/ca.pem",
		"certificate_file":    "/etc/envoy/cert.pem",
		"private_key_file":    "/etc/envoy/key.pem",
	}
	creds := got.XDSServers[0].ChannelCreds
	if len(creds) != 1 || creds[0].Type != "tls" || !cmp.Equal(creds[0].Config, want) {
		t.Errorf("channel_creds = %+v, want one tls with %v", creds, want)
	}
}

func TestTLSOptionsAreChecked(t *testing.T) {
	for name, tc := range map[string]struct {
		tls  TLS
		want string
	}{
		"cert without CA":  {TLS{Cert: "c.pem", Key: "k.pem"}, "--tls-ca is required"},
		"cert without key": {TLS{CA: "ca.pem", Cert: "c.pem"}, "--tls-cert and --tls-key go together"},
		"key without cert": {TLS{CA: "ca.pem", Key: "k.pem"}, "--tls-cert and --tls-key go together"},
		"control char":     {TLS{CA: "ca\n.pem"}, "contains a control character"},
	} {
		o := sidecarOptions()
		o.TLS = tc.tls
		err := o.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Validate() = %v, want %q", name, err, tc.want)
		}
	}
}

func TestCommandLineKeepsTLS(t *testing.T) {
	o := mtlsOptions()
	line := CommandLine(o)
	if !strings.Contains(line, "--tls-ca /etc/shadowplane/ca.pem --tls-cert /etc/envoy/cert.pem --tls-key /etc/envoy/key.pem") {
		t.Errorf("CommandLine = %q, want the TLS flags", line)
	}
	back, err := ParseCommand(line)
	if err != nil {
		t.Fatal(err)
	}
	if back.TLS != o.TLS {
		t.Errorf("ParseCommand(CommandLine(o)).TLS = %+v, want %+v", back.TLS, o.TLS)
	}
	if strings.Contains(CommandLine(sidecarOptions()), "--tls") {
		t.Error("a plaintext bootstrap's command line names TLS flags")
	}
}
