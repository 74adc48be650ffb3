package bootstrap

import (
	"flag"
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestValidateErrors(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		want []string // substrings, all of which the error must contain
	}{
		{"missing xds", Options{NodeID: "n", NodeCluster: "c"}, []string{"xds address (--xds) is required"}},
		{"no port", Options{XDSAddress: "shadowplane", NodeID: "n", NodeCluster: "c"}, []string{`xds address (--xds) "shadowplane": want HOST:PORT`}},
		{"empty host", Options{XDSAddress: ":18000", NodeID: "n", NodeCluster: "c"}, []string{"host is empty"}},
		{"port zero", Options{XDSAddress: "127.0.0.1:0", NodeID: "n", NodeCluster: "c"}, []string{`port "0" is not a number in 1..65535`}},
		{"port too big", Options{XDSAddress: "127.0.0.1:65536", NodeID: "n", NodeCluster: "c"}, []string{`port "65536"`}},
		{"port not a number", Options{XDSAddress: "127.0.0.1:xds", NodeID: "n", NodeCluster: "c"}, []string{`port "xds"`}},
		{"negative port", Options{XDSAddress: "127.0.0.1:-1", NodeID: "n", NodeCluster: "c"}, []string{`port "-1"`}},
		{"unbracketed IPv6", Options{XDSAddress: "::1:18000", NodeID: "n", NodeCluster: "c"}, []string{"IPv6 as [::1]:PORT"}},
		{"unspecified xds IP", Options{XDSAddress: "0.0.0.0:18000", NodeID: "n", NodeCluster: "c"}, []string{"not an address Envoy can connect to"}},
		{"bad host name", Options{XDSAddress: "shadow plane:18000", NodeID: "n", NodeCluster: "c"}, []string{"neither an IP address nor a DNS name"}},
		{"IPv6 zone", Options{XDSAddress: "[fe80::1%eth0]:18000", NodeID: "n", NodeCluster: "c"}, []string{"zones are not supported"}},
		{"admin by name", Options{XDSAddress: "127.0.0.1:18000", NodeID: "n", NodeCluster: "c", AdminAddress: "localhost:9901"}, []string{"admin address (--admin)", "must be an IP address"}},
		{"admin port", Options{XDSAddress: "127.0.0.1:18000", NodeID: "n", NodeCluster: "c", AdminAddress: "127.0.0.1:99999"}, []string{"admin address (--admin)", `port "99999"`}},
		{"missing node id", Options{XDSAddress: "127.0.0.1:18000", NodeCluster: "c"}, []string{"node id (--node) is required"}},
		{"blank node id", Options{XDSAddress: "127.0.0.1:18000", NodeID: "  ", NodeCluster: "c"}, []string{"node id (--node) is required"}},
		{"missing cluster", Options{XDSAddress: "127.0.0.1:18000", NodeID: "n"}, []string{"node cluster (--cluster) is required"}},
		{"newline in id", Options{XDSAddress: "127.0.0.1:18000", NodeID: "a\nb", NodeCluster: "c"}, []string{"control character"}},
		{
			"every problem is reported",
			Options{AdminAddress: "nope"},
			[]string{"--xds", "--admin", "--node", "--cluster"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.opts.Validate()
			if err == nil {
				t.Fatalf("Validate(%+v) = nil, want an error", tt.opts)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate(%+v) = %q, want it to contain %q", tt.opts, err, w)
				}
			}
			if b, berr := Build(tt.opts); berr == nil || b != nil {
				t.Errorf("Build(%+v) = %v, %v; want nil and an error", tt.opts, b, berr)
			}
		})
	}
}

func TestValidateAccepts(t *testing.T) {
	for _, xdsAddr := range []string{"127.0.0.1:1", "127.0.0.1:65535", "shadowplane:18000", "shadowplane_xds:18000", "xds.example.com.:443", "[::1]:18000"} {
		o := Options{XDSAddress: xdsAddr, NodeID: "n", NodeCluster: "c"}
		if err := o.Validate(); err != nil {
			t.Errorf("Validate(%+v): %v", o, err)
		}
	}
}

func TestAdminOnLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"":               true, // the default
		"127.0.0.1:9901": true,
		"[::1]:9901":     true,
		"0.0.0.0:9901":   false,
		"10.0.0.1:9901":  false,
		"bad":            false,
	} {
		if got := (Options{AdminAddress: addr}).AdminOnLoopback(); got != want {
			t.Errorf("AdminOnLoopback(%q) = %v, want %v", addr, got, want)
		}
	}
}

func TestAddFlags(t *testing.T) {
	tests := []struct {
		args []string
		want Options
	}{
		{
			[]string{"--xds", "shadowplane:18000", "--node", "n", "--cluster", "c"},
			Options{XDSAddress: "shadowplane:18000", NodeID: "n", NodeCluster: "c", AdminAddress: DefaultAdminAddress},
		},
		{
			[]string{"-xds=127.0.0.1:1", "-node=n", "-cluster=c", "-admin=0.0.0.0:9901", "-delta"},
			Options{XDSAddress: "127.0.0.1:1", NodeID: "n", NodeCluster: "c", AdminAddress: "0.0.0.0:9901", Delta: true},
		},
	}
	for _, tt := range tests {
		var got Options
		fs := flag.NewFlagSet("test", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		got.AddFlags(fs)
		if err := fs.Parse(tt.args); err != nil {
			t.Fatalf("Parse(%q): %v", tt.args, err)
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("Parse(%q) (-want +got):\n%s", tt.args, diff)
		}
	}
}
