package main

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/shadowplane/shadowplane/policy"
)

// startServer serves cfg on the listeners it names until the test ends,
// and fails the test if serving stopped with an error.
func startServer(t *testing.T, cfg Config) *Server {
	t.Helper()
	srv, err := Listen(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return srv
}

func loopback(version string) Config {
	return Config{Version: version, HTTPAddr: "127.0.0.1:0", GRPCAddr: "127.0.0.1:0", Seed: 1}
}

func get(t *testing.T, url string, header http.Header) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}

// The sample app's copy of the mirror header must not drift from the one
// shadowplane sets.
func TestMirrorHeaderMatchesPolicy(t *testing.T) {
	if mirrorHeader != policy.MirrorHeader {
		t.Errorf("mirrorHeader = %q, policy.MirrorHeader = %q", mirrorHeader, policy.MirrorHeader)
	}
}

func TestConfigValidateReportsEveryProblem(t *testing.T) {
	err := Config{HTTPAddr: "nohost", GRPCAddr: "x", Latency: -1, LatencyJitter: -time.Second, ErrorRate: 1.5}.Validate()
	if err == nil {
		t.Fatal("Validate accepted a bad config")
	}
	for _, want := range []string{"--version is required", "--http-addr", "--grpc-addr", "--latency -1ns", "--latency-jitter -1s", "--error-rate 1.5"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %q, missing %q", err, want)
		}
	}
	if err := loopback("v1").Validate(); err != nil {
		t.Errorf("Validate(good) = %v", err)
	}
}

func TestListenWithoutGRPC(t *testing.T) {
	cfg := loopback("v1")
	cfg.GRPCAddr = ""
	srv := startServer(t, cfg)
	if srv.GRPCAddr() != "" {
		t.Errorf("GRPCAddr() = %q, want none", srv.GRPCAddr())
	}
	if resp, _ := get(t, "http://"+srv.HTTPAddr()+"/healthz", nil); resp.StatusCode != http.StatusOK {
		t.Errorf("/healthz = %d", resp.StatusCode)
	}
}

// A port already in use is an error from Listen, not a later panic.
func TestListenBusyPort(t *testing.T) {
	srv := startServer(t, loopback("v1"))
	cfg := loopback("v2")
	cfg.GRPCAddr = srv.HTTPAddr()
	if _, err := Listen(cfg); err == nil || !strings.Contains(err.Error(), "grpc:") {
		t.Errorf("Listen on a busy port = %v, want a grpc: error", err)
	}
}
