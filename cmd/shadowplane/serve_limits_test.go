package main

import (
	"bytes"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shadowplane/shadowplane/xds/server"
)

// syncBuffer is a log destination read while the listener writes to it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func limitedListener(t *testing.T, cfg xdsConnConfig) (net.Listener, *syncBuffer) {
	t.Helper()
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { inner.Close() })
	out := &syncBuffer{}
	return cfg.limit(inner, newLogger(out, "info", false), server.NewMetrics(prometheus.NewRegistry()), nil), out
}

func TestServeLogsConnectionCapsFromFileLimit(t *testing.T) {
	nofile, err := server.FileLimit()
	if err != nil {
		t.Skip(err)
	}
	_, out := limitedListener(t, xdsConnConfig{})
	total, perAddr := server.ConnBudget(nofile)
	want := fmt.Sprintf("xDS connections capped: open_file_limit=%d max_connections=%d max_connections_per_address=%d", nofile, total, perAddr)
	if !strings.Contains(out.String(), want) {
		t.Fatalf("log:\n%s\nwant a line with %q", out, want)
	}
}

func TestServeRefusesOverFlagCapAndNamesPeer(t *testing.T) {
	lis, out := limitedListener(t, xdsConnConfig{max: 1})
	if !strings.Contains(out.String(), "max_connections=1 max_connections_per_address=1") {
		t.Fatalf("log:\n%s\nwant the caps given by flag", out)
	}
	go func() {
		for {
			if _, err := lis.Accept(); err != nil {
				return
			}
		}
	}()
	first, err := net.Dial("tcp", lis.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	// The refusal is logged before the refused connection is closed: wait
	// for the close, then read the log.
	over, err := net.Dial("tcp", lis.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer over.Close()
	over.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := over.Read(make([]byte, 1)); err == nil {
		t.Fatal("a connection over the cap was answered")
	}
	if s := out.String(); !strings.Contains(s, "xDS connection refused from 127.0.0.1:") || !strings.Contains(s, "--xds-max-connections") {
		t.Fatalf("log:\n%s\nwant a line naming the peer and the cap", s)
	}
}
