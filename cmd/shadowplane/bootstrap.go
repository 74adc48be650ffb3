package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/shadowplane/shadowplane/xds/bootstrap"
)

// runBootstrap prints an Envoy bootstrap that takes its configuration from
// shadowplane over ADS.
func runBootstrap(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("bootstrap", stderr)
	var opts bootstrap.Options
	opts.AddFlags(fs)
	format := fs.String("o", bootstrap.FormatYAML, "output `FORMAT`: yaml or json")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: shadowplane bootstrap --xds HOST:PORT --node ID --cluster NAME [--admin IP:PORT] [--delta] [-o yaml|json]")
		fmt.Fprintln(stderr, "\nPrint an Envoy bootstrap that takes listeners, clusters and runtime from shadowplane over ADS.")
		fmt.Fprintln(stderr, "Example: shadowplane bootstrap --xds 127.0.0.1:18000 --node sidecar-1 --cluster sidecar > envoy.yaml")
		fmt.Fprintln(stderr)
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	usageErr := func(format string, a ...any) error {
		fmt.Fprintf(stderr, "shadowplane bootstrap: "+format+"\n", a...)
		fmt.Fprintln(stderr, "Run 'shadowplane bootstrap -h' for the flags.")
		return errUsage
	}
	if fs.NArg() > 0 {
		return usageErr("unexpected arguments %q", fs.Args())
	}
	if *format != bootstrap.FormatYAML && *format != bootstrap.FormatJSON {
		return usageErr("-o %q: want %s or %s", *format, bootstrap.FormatYAML, bootstrap.FormatJSON)
	}
	if err := opts.Validate(); err != nil {
		return usageErr("%s", strings.ReplaceAll(err.Error(), "\n", "\nshadowplane bootstrap: "))
	}

	b, err := bootstrap.Build(opts)
	if err != nil {
		return err
	}
	out, err := bootstrap.Marshal(b, *format)
	if err != nil {
		return err
	}
	if !opts.AdminOnLoopback() {
		fmt.Fprintf(stderr, "shadowplane bootstrap: warning: admin endpoint %s is not on loopback; "+
			"whoever reaches it can change runtime and stop Envoy\n", opts.AdminAddress)
	}
	_, err = stdout.Write(out)
	return err
}
