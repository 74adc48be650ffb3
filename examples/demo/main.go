// Command demo shows shadowplane closing the loop on one machine, with no
// Docker, Envoy, Prometheus or Kubernetes: it starts the control plane, two
// apps with two versions each, and proxyless gRPC clients that route
// through shadowplane's xDS; then it runs two progressive canaries side by
// side — one of a healthy v2, which is promoted, and one of a v2 that
// fails 30 % of its requests, which is rolled back — and shows their
// progress live until both end. Run it with `make demo`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	switch {
	case err == nil:
	case errors.Is(err, errUsage):
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

var errUsage = errors.New("usage")

type config struct {
	bin       string // directory with the shadowplane and sampleapp binaries
	xdsAddr   string
	adminAddr string
	interval  time.Duration
	steps     int
	refresh   time.Duration
	plain     bool // no screen redraws: append progress lines (for logs and tests)
}

func run(ctx context.Context, args []string, out io.Writer) error {
	if len(args) > 0 && args[0] == trafficCommand {
		return runTraffic(ctx, args[1:], out)
	}
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	var cfg config
	fs.StringVar(&cfg.bin, "bin", "bin", "`DIR` holding the shadowplane and sampleapp binaries")
	fs.StringVar(&cfg.xdsAddr, "xds-addr", "127.0.0.1:18000", "xDS listen `ADDR`")
	fs.StringVar(&cfg.adminAddr, "admin-addr", "127.0.0.1:19000", "admin API listen `ADDR` (shadowplane status reads it)")
	fs.DurationVar(&cfg.interval, "interval", 8*time.Second, "experiment interval")
	fs.IntVar(&cfg.steps, "iterations", 5, "passing iterations before promotion")
	fs.DurationVar(&cfg.refresh, "refresh", time.Second, "screen refresh")
	fs.BoolVar(&cfg.plain, "plain", false, "print progress as lines instead of redrawing the screen")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	return demo(ctx, cfg, out)
}
