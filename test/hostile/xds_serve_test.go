package hostile

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/shadowplane/shadowplane/test/grpcxds"
	"github.com/shadowplane/shadowplane/test/serveproc"
	"github.com/shadowplane/shadowplane/xds/server"
)

// maxServeAttackRSS bounds serve's peak memory through every attacker
// at once: the filed attacks took it to 2.0 GB (type URLs) and 505 MB
// (delta names).
const maxServeAttackRSS = 256 << 20

// serveLog is serve's log, read while serve writes it.
type serveLog struct {
	mu      sync.Mutex
	lines   []string
	changed chan struct{} // closed at the next line
}

func newServeLog() *serveLog { return &serveLog{changed: make(chan struct{})} }

func (l *serveLog) add(line string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, line)
	close(l.changed)
	l.changed = make(chan struct{})
}

// wait waits until a line holds every part, and returns it.
func (l *serveLog) wait(t *testing.T, what string, parts ...string) string {
	t.Helper()
	timeout := time.After(xdsWait)
	for seen := 0; ; {
		l.mu.Lock()
		lines, changed := l.lines[seen:], l.changed
		seen = len(l.lines)
		l.mu.Unlock()
		for _, line := range lines {
			ok := true
			for _, p := range parts {
				ok = ok && strings.Contains(line, p)
			}
			if ok {
				return line
			}
		}
		select {
		case <-changed:
		case <-timeout:
			t.Fatalf("serve logged no line for %s (%q)", what, parts)
		}
	}
}

func greeterYAML(v1, v2 string, w2 int) []byte {
	return fmt.Appendf(nil, `kind: App
name: greeter
hosts: [greeter.test]
port: 10000
variants:
  - name: v1
    endpoints: [%q]
  - name: v2
    endpoints: [%q]
routes:
  - name: default
    split:
      - variant: v1
        weight: %d
      - variant: v2
        weight: %d
`, v1, v2, 100-w2, w2)
}

// Every xDS attacker at once against the real `serve`, with connection
// caps given by flag: each is closed or refused, logged with its peer and
// limit, serve's memory stays bounded, and a healthy gRPC client gets a
// policy edit.
func TestXDSServeUnderAttack(t *testing.T) {
	v1, v2 := grpcxds.StartBackend(t, "v1"), grpcxds.StartBackend(t, "v2")
	dir := t.TempDir()
	file := filepath.Join(dir, "greeter.yaml")
	write := func(w2 int) {
		t.Helper()
		tmp := filepath.Join(t.TempDir(), "greeter.yaml")
		if err := os.WriteFile(tmp, greeterYAML(v1.Addr, v2.Addr, w2), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, file); err != nil {
			t.Fatal(err)
		}
	}
	write(0)
	ctx, cancel := context.WithCancel(context.Background())
	log := newServeLog()
	p, err := serveproc.Start(ctx, Binary, dir, log.add, "--xds-max-connections", "40", "--xds-max-connections-per-address", "20")
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		p.Wait()
	})
	log.wait(t, "the caps chosen", "xDS connections capped", "max_connections=40", "max_connections_per_address=20")

	healthy := grpcxds.Dial(t, p.XDS, "healthy", "test", "greeter.test")
	if v, err := healthy.Call(ctx); err != nil || v != "v1" {
		t.Fatalf("healthy client before the attack: %q, %v; want v1", v, err)
	}

	// A new type URL per request with 10,000 names each, as filed: the
	// names per stream run out first.
	types, typesErr := xdsSotwAttacker(t, p.XDS)
	for i := 0; i < server.MaxTypesPerStream; i++ {
		req := &discovery.DiscoveryRequest{TypeUrl: fmt.Sprintf("type.googleapis.com/attack.T%d", i), ResourceNames: xdsNames("n", 10000)}
		if i == 0 {
			req.Node = xdsAttackerNode("attack-types")
		}
		if types.Send(req) != nil {
			break
		}
	}
	md, err := structpb.NewStruct(map[string]any{"blob": strings.Repeat("x", 3900<<10)})
	if err != nil {
		t.Fatal(err)
	}
	node := xdsAttackerNode("attack-node")
	node.Metadata = md
	big, bigErr := xdsSotwAttacker(t, p.XDS)
	big.Send(&discovery.DiscoveryRequest{Node: node, TypeUrl: resourcev3.ClusterType})
	delta, deltaErr := xdsDeltaAttacker(t, p.XDS)
	delta.Send(&discovery.DeltaDiscoveryRequest{Node: xdsAttackerNode("attack-delta"), TypeUrl: resourcev3.EndpointType, ResourceNamesSubscribe: xdsNames("d", 100000)})
	idle := xdsIdleAttack(t, p.XDS, "127.0.0.2", 21)

	for _, c := range []struct {
		errc       <-chan error
		node, what string
	}{{typesErr, "attack-types", "MaxNamesPerStream"}, {bigErr, "attack-node", "MaxNodeBytes"}, {deltaErr, "attack-delta", "MaxNamesPerRequest"}} {
		select {
		case err := <-c.errc:
			if !strings.Contains(err.Error(), "ResourceExhausted") || !strings.Contains(err.Error(), c.what) {
				t.Errorf("%s closed with %v, want ResourceExhausted naming %s", c.node, err, c.what)
			}
		case <-time.After(xdsWait):
			t.Fatalf("%s was not closed", c.node)
		}
		log.wait(t, c.node, "xDS stream closed: over a limit", "peer=127.0.0.1:", c.what)
	}
	xdsClosedByServer(t, idle[20], "the 21st connection from 127.0.0.2")
	log.wait(t, "the refused connection", "xDS connection refused", "from 127.0.0.2:", "--xds-max-connections-per-address")

	write(100)
	deadline, stop := context.WithTimeout(ctx, xdsWait)
	defer stop()
	for {
		if v, err := healthy.Call(deadline); err == nil && v == "v2" {
			break
		}
		if deadline.Err() != nil {
			t.Fatal("the healthy client did not get the policy edit beside the attackers")
		}
	}
	peak, err := peakRSS(p.PID())
	if err != nil {
		t.Fatal(err)
	}
	if peak > maxServeAttackRSS {
		t.Errorf("serve's peak memory %d MB, over the bound of %d MB", peak>>20, maxServeAttackRSS>>20)
	}
	t.Logf("serve's peak memory through the attack: %d MB", peak>>20)
}
