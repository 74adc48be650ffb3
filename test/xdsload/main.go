// Command xdsload measures how fast a policy edit reaches many proxies: it
// starts `shadowplane serve` as its own process on loopback, connects N
// simulated Envoy proxies (real ADS streams that subscribe and ACK as Envoy
// does), then rewrites the policy file again and again and times each edit
// until every proxy has ACKed the new routes. It prints the figures and the
// server's memory and CPU, and stops by itself.
//
//	go run ./test/xdsload -shadowplane bin/shadowplane -n 1000 -edits 20
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/shadowplane/shadowplane/test/serveproc"
	"github.com/shadowplane/shadowplane/test/simproxy"
)

func main() {
	bin := flag.String("shadowplane", "bin/shadowplane", "shadowplane binary")
	n := flag.Int("n", 1000, "simulated proxies")
	conns := flag.Int("conns", 0, "gRPC connections the proxies share (0: one each, as Envoy)")
	apps := flag.Int("apps", 10, "apps in the policy")
	edits := flag.Int("edits", 20, "policy edits to time")
	timeout := flag.Duration("timeout", 5*time.Minute, "give up after this long")
	flag.Parse()
	if err := run(*bin, *n, *conns, *apps, *edits, *timeout); err != nil {
		fmt.Fprintln(os.Stderr, "xdsload:", err)
		os.Exit(1)
	}
}

// tracker counts, per edit, the proxies that have ACKed a route version
// other than the one every proxy had before the edit.
type tracker struct {
	n        int64
	mu       sync.Mutex
	old      string
	epoch    int64
	counted  []int64 // epoch each proxy was last counted in
	acked    atomic.Int64
	complete chan struct{}
}

func (t *tracker) ack(i int, version string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if version == t.old || t.counted[i] == t.epoch {
		return
	}
	t.counted[i] = t.epoch
	if t.acked.Add(1) == t.n {
		t.complete <- struct{}{}
	}
}

func (t *tracker) arm(old string) {
	t.mu.Lock()
	t.old, t.epoch = old, t.epoch+1
	t.acked.Store(0)
	t.mu.Unlock()
}

func run(bin string, n, conns, apps, edits int, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	dir, err := os.MkdirTemp("", "xdsload")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, "apps.yaml")
	if err := writePolicy(file, apps, 0); err != nil {
		return err
	}
	proc, err := serveproc.Start(ctx, bin, dir, nil)
	if err != nil {
		return err
	}
	defer proc.Wait()
	defer cancel()

	if conns <= 0 || conns > n {
		conns = n
	}
	var ccs []*grpc.ClientConn
	for i := 0; i < conns; i++ {
		cc, err := grpc.NewClient(proc.XDS, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return err
		}
		defer cc.Close()
		ccs = append(ccs, cc)
	}

	tr := &tracker{n: int64(n), counted: make([]int64, n), complete: make(chan struct{}, 1)}
	last := make([]atomic.Value, n)
	tr.arm("")
	start := time.Now()
	for i := 0; i < n; i++ {
		i := i
		go simproxy.Run(ctx, simproxy.Config{
			Node: &core.Node{Id: fmt.Sprintf("proxy-%05d", i), Cluster: "load", UserAgentName: "envoy"},
			Conn: ccs[i%conns],
			OnACK: func(typeURL, version string, _ time.Time) {
				if typeURL == resourcev3.RouteType {
					last[i].Store(version)
					tr.ack(i, version)
				}
			},
		})
	}
	if err := wait(ctx, tr); err != nil {
		return fmt.Errorf("initial sync: %w", err)
	}
	syncTime := time.Since(start)
	rssSynced, _ := proc.RSS()
	cpuBefore, _ := proc.CPU()

	var lat []time.Duration
	for e := 1; e <= edits; e++ {
		tr.arm(last[0].Load().(string))
		t0 := time.Now()
		if err := writePolicy(file, apps, e); err != nil {
			return err
		}
		if err := wait(ctx, tr); err != nil {
			return fmt.Errorf("edit %d: %w", e, err)
		}
		lat = append(lat, time.Since(t0))
	}
	cpuAfter, _ := proc.CPU()
	rss, _ := proc.RSS()

	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	pct := func(p float64) time.Duration { return lat[int(p*float64(len(lat)-1)+0.5)] }
	fmt.Printf("proxies=%d conns=%d apps=%d edits=%d\n", n, conns, apps, edits)
	fmt.Printf("initial sync of all proxies: %v\n", syncTime.Round(time.Millisecond))
	fmt.Printf("policy file written -> all proxies ACKed: p50 %v  p99 %v  max %v\n",
		pct(0.5).Round(time.Millisecond), pct(0.99).Round(time.Millisecond), lat[len(lat)-1].Round(time.Millisecond))
	fmt.Printf("server RSS: %.1f MiB after sync, %.1f MiB after edits (%.1f KiB per proxy)\n",
		float64(rssSynced)/(1<<20), float64(rss)/(1<<20), float64(rss)/1024/float64(n))
	fmt.Printf("server CPU during edits: %v\n", (cpuAfter - cpuBefore).Round(time.Millisecond))
	return nil
}

func wait(ctx context.Context, tr *tracker) error {
	select {
	case <-tr.complete:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%d of %d proxies ACKed: %w", tr.acked.Load(), tr.n, ctx.Err())
	}
}

// writePolicy writes apps apps whose first route's v2 weight depends on
// edit, so each edit changes the routes (and only the routes), and renames
// it into place as editors do.
func writePolicy(path string, apps, edit int) error {
	var b []byte
	for i := 0; i < apps; i++ {
		w2 := (edit + i) % 100
		b = fmt.Appendf(b, `---
kind: App
name: app-%03d
hosts: [app-%03d.example]
port: 10000
variants:
  - name: v1
    endpoints: ["10.0.%d.1:8080"]
  - name: v2
    endpoints: ["10.0.%d.2:8080"]
  - name: dark
    endpoints: ["10.0.%d.3:8080"]
routes:
  - name: default
    split:
      - variant: v1
        weight: %d
      - variant: v2
        weight: %d
    mirror:
      variant: dark
      percent: 40
`, i, i, i%256, i%256, i%256, 100-w2, w2)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
