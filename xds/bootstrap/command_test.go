package bootstrap

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestCommandLineRoundTrip(t *testing.T) {
	tests := []struct {
		opts Options
		want string
	}{
		{
			Options{XDSAddress: "127.0.0.1:18000", NodeID: "sidecar-1", NodeCluster: "sidecar"},
			"shadowplane bootstrap --xds 127.0.0.1:18000 --node sidecar-1 --cluster sidecar --admin 127.0.0.1:9901",
		},
		{
			Options{XDSAddress: "[::1]:18000", NodeID: "it's a node", NodeCluster: "c", AdminAddress: "0.0.0.0:9901", Delta: true},
			`shadowplane bootstrap --xds '[::1]:18000' --node 'it'\''s a node' --cluster c --admin 0.0.0.0:9901 --delta`,
		},
	}
	for _, tt := range tests {
		got := CommandLine(tt.opts)
		if got != tt.want {
			t.Errorf("CommandLine(%+v)\n got %s\nwant %s", tt.opts, got, tt.want)
		}
		parsed, err := ParseCommand(got)
		if err != nil {
			t.Fatalf("ParseCommand(%s): %v", got, err)
		}
		want := tt.opts.withDefaults()
		if diff := cmp.Diff(want, parsed); diff != "" {
			t.Errorf("ParseCommand(%s) (-want +got):\n%s", got, diff)
		}
	}
}

func TestParseCommandErrors(t *testing.T) {
	for cmdline, want := range map[string]string{
		"envoy -c x":                           `does not start with "shadowplane bootstrap"`,
		"shadowplane bootstrap --xds 'a":       "unterminated single quote",
		`shadowplane bootstrap --node "a b"`:   "only single quotes are supported",
		`shadowplane bootstrap --node n\`:      "ends in a backslash",
		"shadowplane bootstrap --nope x":       "flag provided but not defined",
		"shadowplane bootstrap --node n extra": `unexpected arguments ["extra"]`,
	} {
		_, err := ParseCommand(cmdline)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseCommand(%s) error = %v, want it to contain %q", cmdline, err, want)
		}
	}
}
