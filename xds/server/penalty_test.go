package server

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
)

// A penalty starts at Base, doubles with each offence up to Max, ends on
// time, and is forgotten Max after it ended; streams refused in between
// do not lengthen it. Without PerAddress the address is not penalised.
func TestPenaltyGrowsEndsAndIsForgotten(t *testing.T) {
	now := time.Unix(1000, 0)
	p := &Penalties{Base: time.Second, Max: 4 * time.Second, now: func() time.Time { return now }}
	const conn = "192.0.2.1:5000"
	at := func(d time.Duration) { now = time.Unix(1000, 0).Add(d) }
	refused := func() bool { _, _, ok := p.refusingStream(conn); return ok }

	for _, step := range []struct {
		at   time.Duration
		want time.Duration
	}{{0, time.Second}, {1500 * time.Millisecond, 2 * time.Second}, {4 * time.Second, 4 * time.Second}, {9 * time.Second, 4 * time.Second}} {
		at(step.at)
		if got := p.Offend(conn); got != step.want {
			t.Fatalf("offence at %v: penalty %v, want %v", step.at, got, step.want)
		}
		// The first refusal under each penalty is the one reported.
		if _, first, ok := p.refusingStream(conn); !ok || !first {
			t.Fatalf("after the offence at %v: refused %v, first %v; want both", step.at, ok, first)
		}
		if _, first, ok := p.refusingStream(conn); !ok || first {
			t.Fatalf("second refusal after the offence at %v: refused %v, first %v; want refused, not first", step.at, ok, first)
		}
	}
	// The last penalty ends at 13 s.
	at(13*time.Second - time.Millisecond)
	if !refused() {
		t.Fatal("refused no more before the penalty ended")
	}
	at(13 * time.Second)
	if refused() {
		t.Fatal("still refused when the penalty ended")
	}
	if _, ok := p.RefusingAddress("192.0.2.1"); ok {
		t.Fatal("address penalised without PerAddress")
	}
	// Offending again before it is forgotten keeps the penalty at Max;
	// after, it starts over.
	at(17 * time.Second)
	if got := p.Offend(conn); got != 4*time.Second {
		t.Fatalf("offence before forgetting: %v, want 4s", got)
	}
	at(21*time.Second + 4*time.Second + time.Millisecond)
	if got := p.Offend(conn); got != time.Second {
		t.Fatalf("offence after forgetting: %v, want 1s", got)
	}
	var off *Penalties
	if off.Offend(conn) != 0 || (&Penalties{}).Offend(conn) != 0 {
		t.Fatal("nil or zero Penalties penalised")
	}
}

// clientFrom is a gRPC connection of its own to addr, from the loopback
// address from.
func clientFrom(t *testing.T, addr, from string) discovery.AggregatedDiscoveryServiceClient {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, a string) (net.Conn, error) { return d.DialContext(ctx, "tcp", a) }))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return discovery.NewAggregatedDiscoveryServiceClient(cc)
}

// openOn opens a state-of-the-world stream on c and hands over the error
// that ends it.
func openOn(t *testing.T, c discovery.AggregatedDiscoveryServiceClient) (discovery.AggregatedDiscoveryService_StreamAggregatedResourcesClient, <-chan error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	s, err := c.StreamAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		for {
			if _, err := s.Recv(); err != nil {
				errc <- err
				return
			}
		}
	}()
	return s, errc
}

// offend has a stream on c go over MaxNamesPerRequest, and returns the
// line reported for it.
func offend(t *testing.T, h *harness, c discovery.AggregatedDiscoveryServiceClient) limitEvent {
	t.Helper()
	s, errc := openOn(t, c)
	s.Send(&discovery.DiscoveryRequest{TypeUrl: resourcev3.EndpointType, ResourceNames: fillers("n", MaxNamesPerRequest+1)})
	closedWith(t, errc, codes.ResourceExhausted, "MaxNamesPerRequest")
	return overLimit(t, h)
}

// After a stream goes over a limit, its connection's next stream is
// refused before anything of it is read — it sends nothing, and is not
// kept for FirstRequestTimeout — and the line logged names the peer and
// the penalty. Other connections from the same address, a healthy proxy's
// among them, are served: the penalty is the connection's.
func TestPenalisedConnectionsStreamsAreRefused(t *testing.T) {
	h := newHarnessWith(t, model(20, 40), Options{Penalties: &Penalties{Base: time.Hour}}, nil)
	healthy := h.sotw(t, "healthy")
	syncEnvoy(t, healthy)

	attacker := clientFrom(t, h.addr, "127.0.0.1")
	if ev := offend(t, h, attacker); !strings.Contains(ev.err.Error(), "MaxNamesPerRequest") || !strings.Contains(ev.err.Error(), "penalised for 1h0m0s") {
		t.Fatalf("offence reported as %+v, want the limit and the penalty", ev)
	}
	_, errc := openOn(t, attacker)
	closedWith(t, errc, codes.ResourceExhausted, "--xds-limit-penalty")
	if ev := overLimit(t, h); !strings.HasPrefix(ev.peer, "127.0.0.1:") || !strings.Contains(ev.err.Error(), "penalised") {
		t.Errorf("refusal reported as %+v, want the peer and the penalty", ev)
	}

	other := sotwOn(t, h.conn, "newcomer", 0)
	syncEnvoy(t, other)
	stillServed(t, h, healthy)
}

// With PerAddress, a penalised address's new connections are refused as
// soon as they are accepted, counted under "penalty" and logged with the
// peer; other addresses, the healthy fleet's, connect as before.
func TestPenalisedAddressesConnectionsAreRefused(t *testing.T) {
	p := &Penalties{Base: time.Hour, PerAddress: true}
	limits, r := limitsWith(0, 0)
	limits.Penalties = p
	h := newHarnessWith(t, model(20, 40), Options{Penalties: p}, func(lis net.Listener) net.Listener { return LimitListener(lis, limits) })
	healthy := h.sotw(t, "healthy")
	syncEnvoy(t, healthy)

	offend(t, h, clientFrom(t, h.addr, "127.0.0.4"))
	closedByServer(t, idleConn(t, h.addr, "127.0.0.4"), "a new connection from the penalised address")
	if got := r.next(t); got != "penalty" {
		t.Errorf("refusal counted under %q, want penalty", got)
	}
	select {
	case err := <-r.logs:
		if !strings.Contains(err.Error(), "from 127.0.0.4:") || !strings.Contains(err.Error(), "--xds-limit-penalty-per-address") {
			t.Errorf("logged %v, want the peer and the penalty", err)
		}
	case <-time.After(bound):
		t.Fatal("the refusal was not logged")
	}

	newcomer := sotwOn(t, h.conn, "newcomer", 0)
	syncEnvoy(t, newcomer)
	fresh := openFrom(t, h, "127.0.0.5")
	syncEnvoy(t, fresh)
	stillServed(t, h, healthy)
}

// openFrom is a healthy proxy on a connection of its own from from.
func openFrom(t *testing.T, h *harness, from string) *sotwClient {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	cc, err := grpc.NewClient(h.addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, a string) (net.Conn, error) { return d.DialContext(ctx, "tcp", a) }))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return sotwOn(t, cc, "fresh", 0)
}

// A full table still penalises a new offender, in bounded work: records
// past forgetting go first, and when none are, any one.
func TestFullPenaltyTableStillPenalises(t *testing.T) {
	now := time.Unix(1000, 0)
	p := &Penalties{Base: time.Second, now: func() time.Time { return now }}
	for i := range maxOffenders {
		p.Offend(fmt.Sprintf("10.%d.%d.1:%d", i>>8&255, i&255, 1000+i>>16))
	}
	if len(p.offender) != maxOffenders {
		t.Fatalf("test setup: %d records", len(p.offender))
	}
	if d := p.Offend("192.0.2.1:1"); d != time.Second || len(p.offender) != maxOffenders {
		t.Fatalf("a new offender with the table full: penalty %s, %d records; want 1s and the table at its bound", d, len(p.offender))
	}
	if _, _, ok := p.refusingStream("192.0.2.1:1"); !ok {
		t.Fatal("the new offender is not refused")
	}
	// Later, every old record is past forgetting: one sweep drops them.
	now = now.Add(time.Minute)
	p.Offend("192.0.2.2:1")
	if len(p.offender) > 2 {
		t.Errorf("%d records after the old ones were forgotten, want the two recent", len(p.offender))
	}
}
