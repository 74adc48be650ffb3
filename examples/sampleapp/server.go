package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
)

// shutdownGrace bounds how long in-flight requests may finish after a
// signal; past it connections are cut.
const shutdownGrace = 5 * time.Second

// Config is one sample app instance. Each field is the flag of the same
// name, but a zero field means none: no latency, no errors (the flags
// default to 20ms ± 5ms). Tests in this package start a Server from it.
type Config struct {
	Version       string        // --version: reported in every answer and metric
	HTTPAddr      string        // --http-addr: host:port, port 0 for any
	GRPCAddr      string        // --grpc-addr: host:port; empty serves no gRPC
	Latency       time.Duration // --latency: mean added latency
	LatencyJitter time.Duration // --latency-jitter: uniform ± around Latency
	ErrorRate     float64       // --error-rate: fraction answered with an error
	Seed          uint64        // --seed: fault randomness; 0 picks one at random
}

// Validate reports every problem at once, worded by flag.
func (c Config) Validate() error {
	var errs []error
	switch {
	case c.Version == "":
		errs = append(errs, errors.New("--version is required"))
	case strings.ContainsFunc(c.Version, func(r rune) bool { return r <= ' ' }):
		errs = append(errs, fmt.Errorf("--version %q: must have no spaces or control characters", c.Version))
	}
	if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
		errs = append(errs, fmt.Errorf("--http-addr %q: want host:port", c.HTTPAddr))
	}
	if c.GRPCAddr != "" {
		if _, _, err := net.SplitHostPort(c.GRPCAddr); err != nil {
			errs = append(errs, fmt.Errorf("--grpc-addr %q: want host:port", c.GRPCAddr))
		}
	}
	if c.Latency < 0 {
		errs = append(errs, fmt.Errorf("--latency %v: must not be negative", c.Latency))
	}
	if c.LatencyJitter < 0 {
		errs = append(errs, fmt.Errorf("--latency-jitter %v: must not be negative", c.LatencyJitter))
	}
	if !(c.ErrorRate >= 0 && c.ErrorRate <= 1) { // NaN fails too
		errs = append(errs, fmt.Errorf("--error-rate %v: must be between 0 and 1", c.ErrorRate))
	}
	return errors.Join(errs...)
}

// Server is a sample app whose listeners are bound: its addresses are
// known (port 0 resolved) before it serves.
type Server struct {
	cfg      Config
	httpLis  net.Listener
	httpSrv  *http.Server
	grpcLis  net.Listener // nil without --grpc-addr
	grpcSrv  *grpc.Server
	health   *health.Server
	registry *prometheus.Registry
}

// Listen validates cfg and binds its listeners.
func Listen(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Seed == 0 {
		cfg.Seed = rand.Uint64()
	}
	f := &faults{latency: cfg.Latency, jitter: cfg.LatencyJitter, errorRate: cfg.ErrorRate, seed: cfg.Seed}
	protocols := []string{protoHTTP}
	if cfg.GRPCAddr != "" {
		protocols = append(protocols, protoGRPC)
	}
	reg := prometheus.NewRegistry()
	m := newMetrics(reg, cfg.Version, protocols...)

	s := &Server{cfg: cfg, registry: reg}
	var err error
	if s.httpLis, err = net.Listen("tcp", cfg.HTTPAddr); err != nil {
		return nil, fmt.Errorf("http: %w", err)
	}
	s.httpSrv = &http.Server{
		Handler:           newHTTPHandler(cfg.Version, f, m, reg),
		ReadHeaderTimeout: 10 * time.Second,
	}
	if cfg.GRPCAddr != "" {
		if s.grpcLis, err = net.Listen("tcp", cfg.GRPCAddr); err != nil {
			s.httpLis.Close()
			return nil, fmt.Errorf("grpc: %w", err)
		}
		s.grpcSrv, s.health = newGRPCServer(cfg.Version, f, m)
	}
	return s, nil
}

// HTTPAddr is the bound HTTP address.
func (s *Server) HTTPAddr() string { return s.httpLis.Addr().String() }

// GRPCAddr is the bound gRPC address, or "" when gRPC is off.
func (s *Server) GRPCAddr() string {
	if s.grpcLis == nil {
		return ""
	}
	return s.grpcLis.Addr().String()
}

// Serve serves until ctx ends, then shuts down gracefully and returns nil;
// or until a server fails, then shuts the other down and returns why.
func (s *Server) Serve(ctx context.Context) error {
	errc := make(chan error, 2) // buffered: the losers' results are never read
	go func() { errc <- fmt.Errorf("http: %w", s.httpSrv.Serve(s.httpLis)) }()
	if s.grpcSrv != nil {
		go func() { errc <- fmt.Errorf("grpc: %w", s.grpcSrv.Serve(s.grpcLis)) }()
	}
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	s.shutdown()
	return err
}

// shutdown lets in-flight requests finish within shutdownGrace, gRPC and
// HTTP side by side, then cuts what is left.
func (s *Server) shutdown() {
	ctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	grpcDone := make(chan struct{})
	if s.grpcSrv != nil {
		s.health.Shutdown() // health checkers see NOT_SERVING before the drain
		go func() { s.grpcSrv.GracefulStop(); close(grpcDone) }()
	} else {
		close(grpcDone)
	}
	if err := s.httpSrv.Shutdown(ctx); err != nil {
		s.httpSrv.Close()
	}
	select {
	case <-grpcDone:
	case <-ctx.Done():
		s.grpcSrv.Stop()
		<-grpcDone
	}
}
