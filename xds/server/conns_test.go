package server

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials/insecure"
)

// bound is how long a test waits for something that must happen before it
// fails; nothing waits for it to pass.
const bound = 10 * time.Second

// idleConn opens a TCP connection from the loopback address from (the
// kernel's choice when empty) that sends nothing.
func idleConn(t *testing.T, addr, from string) net.Conn {
	t.Helper()
	d := net.Dialer{}
	if from != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(from)}
	}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// closedByServer asserts that the server closes c: a read returns EOF once
// the server has read nothing and written nothing (a refused connection),
// or after what it wrote (gRPC's settings, a GOAWAY).
func closedByServer(t *testing.T, c net.Conn, what string) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(bound))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("%s: server did not close the connection within %v", what, bound)
	}
}

// refusals collects what a LimitListener reports.
type refusals struct {
	limits chan string
	logs   chan error
}

func limitsWith(max, perAddr int) (ConnLimits, *refusals) {
	r := &refusals{limits: make(chan string, 100), logs: make(chan error, 100)}
	return ConnLimits{
		MaxConnections: max, MaxPerAddress: perAddr,
		OnRefused: func(limit string) { r.limits <- limit },
		Log:       func(err error, _ int) { r.logs <- err },
		LogEvery:  time.Hour,
	}, r
}

func (r *refusals) next(t *testing.T) string {
	t.Helper()
	select {
	case l := <-r.limits:
		return l
	case <-time.After(bound):
		t.Fatal("no connection refused")
	}
	return ""
}

func TestSilentConnectionIsClosedAfterConnectionTimeout(t *testing.T) {
	h := newHarnessWith(t, model(20, 40), Options{ConnectionTimeout: 100 * time.Millisecond}, nil)
	closedByServer(t, idleConn(t, h.addr, ""), "a connection that never sends the HTTP/2 preface")
}

// A client that completes the handshake and opens no stream is sent a
// GOAWAY: gRPC's client then goes idle.
func TestConnectionWithoutStreamsIsClosedWhenIdle(t *testing.T) {
	h := newHarnessWith(t, model(20, 40), Options{MaxConnectionIdle: 100 * time.Millisecond}, nil)
	cc, err := grpc.NewClient(h.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	cc.Connect()
	for s := cc.GetState(); s != connectivity.Ready; s = cc.GetState() {
		if !cc.WaitForStateChange(ctx, s) {
			t.Fatal("client never connected")
		}
	}
	if !cc.WaitForStateChange(ctx, connectivity.Ready) {
		t.Fatalf("a connection with no stream was not closed within %v", bound)
	}
}

func TestConnectionsOverTotalCapAreRefused(t *testing.T) {
	limits, r := limitsWith(3, 0)
	var lis *limitListener
	h := newHarnessWith(t, model(20, 40), Options{ConnectionTimeout: time.Minute}, func(l net.Listener) net.Listener {
		lis = LimitListener(l, limits).(*limitListener)
		return lis
	})
	healthy := h.sotw(t, "healthy")
	syncEnvoy(t, healthy)

	// The healthy proxy's connection and two idle ones fill the cap;
	// connections are accepted in the order they were made.
	idleConn(t, h.addr, "")
	idleConn(t, h.addr, "")
	over := idleConn(t, h.addr, "")
	closedByServer(t, over, "a connection over the total cap")
	if l := r.next(t); l != "total" {
		t.Errorf("refused over %q, want total", l)
	}
	if err := <-r.logs; !errors.Is(err, ErrConnLimit) || !strings.Contains(err.Error(), over.LocalAddr().String()) || !strings.Contains(err.Error(), "3 xDS connections") {
		t.Errorf("logged %v, want the peer %s and the cap of 3", err, over.LocalAddr())
	}
	if n := lis.Open(); n != 3 {
		t.Errorf("%d connections counted open, want 3", n)
	}
	stillServed(t, h, healthy)
}

// One address over its cap leaves the others their share. Linux routes
// all of 127.0.0.0/8 on loopback, so 127.0.0.2 is another client.
func TestConnectionsOverPerAddressCapAreRefused(t *testing.T) {
	limits, r := limitsWith(0, 2)
	h := newHarnessWith(t, model(20, 40), Options{ConnectionTimeout: time.Minute}, func(l net.Listener) net.Listener {
		return LimitListener(l, limits)
	})
	healthy := h.sotw(t, "healthy")
	syncEnvoy(t, healthy)

	from := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}
	first, err := from.Dial("tcp", h.addr)
	if err != nil {
		t.Skipf("cannot connect from 127.0.0.2 here: %v", err)
	}
	t.Cleanup(func() { first.Close() })
	idleConn(t, h.addr, "127.0.0.2")
	closedByServer(t, idleConn(t, h.addr, "127.0.0.2"), "a third connection from 127.0.0.2")
	if l := r.next(t); l != "per_address" {
		t.Fatalf("refused over %q, want per_address", l)
	}
	// Another address connects and is served beside them.
	cc, err := grpc.NewClient(h.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	syncEnvoy(t, sotwOn(t, cc, "second", 0))
	stillServed(t, h, healthy)
}

// A place is given back when the connection closes, once however often it
// is closed.
func TestLimitListenerReleasesClosedConnections(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer inner.Close()
	limits, r := limitsWith(1, 1)
	lis := LimitListener(inner, limits).(*limitListener)
	accepted := make(chan net.Conn, 4)
	go func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	idleConn(t, inner.Addr().String(), "")
	first := <-accepted
	idleConn(t, inner.Addr().String(), "")
	r.next(t)
	first.Close()
	first.Close()
	if n := lis.Open(); n != 0 {
		t.Fatalf("%d open after the only connection closed twice, want 0", n)
	}
	idleConn(t, inner.Addr().String(), "")
	select {
	case c := <-accepted:
		c.Close()
	case l := <-r.limits:
		t.Fatalf("refused over %s after the first connection closed", l)
	case <-time.After(bound):
		t.Fatal("connection not accepted")
	}
}

func TestConnBudget(t *testing.T) {
	for _, c := range []struct{ nofile, total, perAddr int }{
		{20000, 18000, 9000},
		{1024, 768, 384},
		{256, 128, 64},
		{1 << 20, 943719, 471859},
	} {
		total, perAddr := ConnBudget(c.nofile)
		if total != c.total || perAddr != c.perAddr {
			t.Errorf("ConnBudget(%d) = %d, %d; want %d, %d", c.nofile, total, perAddr, c.total, c.perAddr)
		}
	}
}
