package main

import (
	"context"
	"flag"
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
	grpcClient := fs.Bool("grpc", false, "print a gRPC xDS bootstrap (JSON, for GRPC_XDS_BOOTSTRAP) for a proxyless gRPC client instead of an Envoy bootstrap")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: shadowplane bootstrap --xds HOST:PORT --node ID --cluster NAME [--admin IP:PORT] [--delta] [-o yaml|json] [--tls-ca FILE [--tls-cert FILE --tls-key FILE]]")
		fmt.Fprintln(stderr, "       shadowplane bootstrap --grpc --xds HOST:PORT --node ID --cluster NAME [--tls-ca FILE [--tls-cert FILE --tls-key FILE]]")
		fmt.Fprintln(stderr, "\nPrint an Envoy bootstrap that takes listeners, clusters and runtime from shadowplane over ADS,")
		fmt.Fprintln(stderr, "or with --grpc the bootstrap file a proxyless gRPC client (Go, Node grpc-js-xds, C-core) reads.")
		fmt.Fprintln(stderr, "Example: shadowplane bootstrap --xds 127.0.0.1:18000 --node sidecar-1 --cluster sidecar > envoy.yaml")
		fmt.Fprintln(stderr, "Example: shadowplane bootstrap --grpc --xds 127.0.0.1:18000 --node app-1 --cluster clients > xds.json")
		fmt.Fprintln(stderr, "         GRPC_XDS_BOOTSTRAP=xds.json ./app   # dials xds:///HOST")
		fmt.Fprintln(stderr, "mTLS to a control plane run with --xds-tls-cert/--xds-tls-key/--xds-client-ca: add")
		fmt.Fprintln(stderr, "         --tls-ca SERVER_CA.pem --tls-cert CERT.pem --tls-key KEY.pem")
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
	if *grpcClient {
		var envoyOnly []string
		fs.Visit(func(f *flag.Flag) {
			if f.Name == "admin" || f.Name == "delta" || f.Name == "o" {
				envoyOnly = append(envoyOnly, "-"+f.Name)
			}
		})
		if len(envoyOnly) > 0 {
			return usageErr("%s: only for Envoy bootstraps; a gRPC bootstrap is JSON, state of the world, with no admin endpoint", strings.Join(envoyOnly, ", "))
		}
		out, err := bootstrap.GRPC(opts)
		if err != nil {
			return err
		}
		_, err = stdout.Write(out)
		return err
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
