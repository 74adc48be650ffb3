// Command sampleapp is the application shadowplane's examples route: one
// binary run as v1 and v2 that answers HTTP and gRPC with its version, adds
// a chosen latency and error rate, and exports the Prometheus metrics an
// experiment compares (mean latency, p95 latency, error rate).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stderr)
	stop()
	os.Exit(code)
}

// errUsage marks a bad command line whose reason is already printed.
var errUsage = errors.New("usage")

// run returns the exit code: 0 after a signal, 1 when serving fails, 2 for
// a bad command line. Other tools parse its "listening on" lines.
func run(ctx context.Context, args []string, stderr io.Writer) int {
	cfg, err := parseFlags(args, stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return 0
	case err != nil:
		return 2
	}
	srv, err := Listen(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "sampleapp %s: %v\n", cfg.Version, err)
		return 1
	}
	fmt.Fprintf(stderr, "sampleapp %s: http listening on %s\n", cfg.Version, srv.HTTPAddr())
	if addr := srv.GRPCAddr(); addr != "" {
		fmt.Fprintf(stderr, "sampleapp %s: grpc listening on %s\n", cfg.Version, addr)
	}
	if err := srv.Serve(ctx); err != nil {
		fmt.Fprintf(stderr, "sampleapp %s: %v\n", cfg.Version, err)
		return 1
	}
	fmt.Fprintf(stderr, "sampleapp %s: stopped\n", cfg.Version)
	return 0
}

// parseFlags turns args into a valid Config, printing the reason for any
// error to stderr.
func parseFlags(args []string, stderr io.Writer) (Config, error) {
	fs := flag.NewFlagSet("sampleapp", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg Config
	fs.StringVar(&cfg.Version, "version", "", "version `NAME` to report, e.g. v1 (required)")
	fs.StringVar(&cfg.HTTPAddr, "http-addr", "127.0.0.1:9001", "HTTP listen `ADDR`; port 0 picks a free one")
	fs.StringVar(&cfg.GRPCAddr, "grpc-addr", "", "gRPC listen `ADDR`; empty serves no gRPC")
	fs.DurationVar(&cfg.Latency, "latency", 20*time.Millisecond, "mean added latency per request")
	fs.DurationVar(&cfg.LatencyJitter, "latency-jitter", 5*time.Millisecond, "uniform ± jitter around --latency")
	fs.Float64Var(&cfg.ErrorRate, "error-rate", 0, "fraction of requests answered with HTTP 500 / gRPC Unavailable, 0 to 1")
	fs.Uint64Var(&cfg.Seed, "seed", 0, "seed for injected faults, to replay a run; 0 picks one")
	if err := fs.Parse(args); err != nil {
		return cfg, err // the flag package has printed why
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "sampleapp: unexpected arguments: %s\n", strings.Join(fs.Args(), " "))
		return cfg, errUsage
	}
	if err := cfg.Validate(); err != nil {
		for _, line := range strings.Split(err.Error(), "\n") {
			fmt.Fprintf(stderr, "sampleapp: %s\n", line)
		}
		return cfg, errUsage
	}
	return cfg, nil
}
