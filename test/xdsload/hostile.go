package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/shadowplane/shadowplane/test/serveproc"
)

// runHostile measures what the attackers filed in issue 13 cost healthy
// proxies: `shadowplane serve` with a fleet of healthy simulated proxies,
// policy edits timed until every proxy has ACKed, first alone and then
// beside a type-URL flooder, streams with 3.9 MB node metadata, a delta
// stream subscribing 100,000 names per request, and idle TCP connections
// from two other loopback addresses, more of them than serve's
// open-file limit (set with prlimit, as the harness cannot open more than
// its own limit).
func runHostile(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("xdsload hostile", flag.ContinueOnError)
	bin := fs.String("shadowplane", "bin/shadowplane", "shadowplane binary")
	n := fs.Int("n", 100, "healthy simulated proxies")
	apps := fs.Int("apps", 10, "apps in the policy")
	edits := fs.Int("edits", 20, "policy edits to time, alone and under attack")
	idle := fs.Int("idle", 10000, "idle TCP connections, half from 127.0.0.2 and half from 127.0.0.3")
	nofile := fs.Int("server-nofile", 8192, "serve's open-file limit (prlimit); 0 leaves it as it is")
	pace := fs.Duration("pace", 100*time.Millisecond, "each stream attacker's pause before it opens a new stream after one is closed (the attackers share the machine's cores with serve)")
	timeout := fs.Duration("timeout", 5*time.Minute, "give up after this long")
	streams := fs.Bool("streams", true, "run the stream attackers (type URLs, node metadata, delta names)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	quietFleetGC()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()

	dir, err := os.MkdirTemp("", "xdsload-hostile")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	policies := filepath.Join(dir, "policies")
	if err := os.Mkdir(policies, 0o755); err != nil {
		return err
	}
	file := filepath.Join(policies, "apps.yaml")
	if err := writePolicy(file, *apps, 0); err != nil {
		return err
	}
	binary, err := limitedBinary(dir, *bin, *nofile)
	if err != nil {
		return err
	}
	var logMu sync.Mutex
	var capLine, refusedLines []string
	proc, err := serveproc.Start(ctx, binary, policies, func(line string) {
		logMu.Lock()
		defer logMu.Unlock()
		switch {
		case strings.Contains(line, "xDS connections capped"):
			capLine = append(capLine, line)
		case strings.Contains(line, "refused") || strings.Contains(line, "over a limit"):
			if len(refusedLines) < 3 {
				refusedLines = append(refusedLines, line)
			}
		}
	})
	if err != nil {
		return err
	}
	defer proc.Wait()
	defer cancel()

	fl := newFleet(proc.XDS, *n, 0, 0)
	fl.arm("")
	if err := fl.connect(ctx); err != nil {
		return err
	}
	defer fl.disconnect()
	if err := fl.wait(ctx); err != nil {
		return fmt.Errorf("initial sync: %w", err)
	}
	// CPU per phase, of serve and of this harness (the fleet, and the
	// attackers, which share the machine's cores): whether a slower edit
	// under attack is serve's work or the cores taken from everyone.
	quietCPU := startCPU(proc)
	quiet, err := timeEdits(ctx, fl, proc, file, *apps, 1, *edits)
	if err != nil {
		return fmt.Errorf("without attackers: %w", err)
	}
	quietCPU.stop()
	rssQuiet, _ := proc.RSS()

	actx, stopAttack := context.WithCancel(ctx)
	var a attack
	a.start(actx, proc.XDS, *streams, *idle, *pace)
	// Let every attacker make its first attempt before timing.
	a.first.Wait()
	attackedCPU := startCPU(proc)
	attacked, err := timeEdits(ctx, fl, proc, file, *apps, 1+*edits, *edits)
	attackedCPU.stop()
	rssAttacked, _ := proc.RSS()
	stopAttack()
	a.wg.Wait()
	if err != nil {
		return fmt.Errorf("under attack: %w", err)
	}
	metrics, _ := get(proc.Admin + "/metrics")

	fmt.Printf("healthy proxies=%d apps=%d edits=%d; serve open-file limit %d; stream attackers %v, idle connections %d\n", *n, *apps, *edits, *nofile, *streams, *idle)
	logMu.Lock()
	for _, l := range capLine {
		fmt.Println("serve:", l)
	}
	logMu.Unlock()
	quiet.print("without attackers")
	attacked.print("with attackers   ")
	fmt.Printf("server RSS: %.1f MiB without attackers, %.1f MiB with\n", float64(rssQuiet)/(1<<20), float64(rssAttacked)/(1<<20))
	fmt.Printf("CPU, cores busy on average: serve %.2f without attackers, %.2f with; this harness (fleet and attackers) %.2f, %.2f\n",
		quietCPU.serve, attackedCPU.serve, quietCPU.harness, attackedCPU.harness)
	fmt.Printf("attackers: %d type-URL, %d big-node, %d delta streams closed; %d idle connections open at most, %d refused or closed by serve\n",
		a.closed[0].Load(), a.closed[1].Load(), a.closed[2].Load(), a.maxIdle.Load(), a.idleClosed.Load())
	for _, m := range regexp.MustCompile(`(?m)^shadowplane_xds_(connections_refused|streams_over_limit)_total.*$`).FindAllString(metrics, -1) {
		fmt.Println("serve metric:", m)
	}
	logMu.Lock()
	for _, l := range refusedLines {
		fmt.Println("serve:", l)
	}
	logMu.Unlock()
	return nil
}

// limitedBinary is bin, run under prlimit with an open-file limit of
// nofile (soft and hard) when nofile is set.
func limitedBinary(dir, bin string, nofile int) (string, error) {
	if nofile == 0 {
		return bin, nil
	}
	prlimit, err := exec.LookPath("prlimit")
	if err != nil {
		return "", fmt.Errorf("-server-nofile needs prlimit (util-linux): %w", err)
	}
	abs, err := filepath.Abs(bin)
	if err != nil {
		return "", err
	}
	script := filepath.Join(dir, "shadowplane")
	body := fmt.Sprintf("#!/bin/sh\nexec %s --nofile=%d:%d -- %s \"$@\"\n", prlimit, nofile, nofile, abs)
	return script, os.WriteFile(script, []byte(body), 0o755)
}

// editTimes are the times from a policy write until every healthy proxy
// ACKed it, and of a GET /healthz of the admin API made at each write.
type editTimes struct{ push, admin []time.Duration }

func pct(d []time.Duration, p float64) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[int(p*float64(len(s)-1)+0.5)].Round(100 * time.Microsecond)
}

func (e editTimes) print(label string) {
	fmt.Printf("%s: push p50 %v p99 %v max %v; admin /healthz p50 %v max %v\n", label,
		pct(e.push, 0.5), pct(e.push, 0.99), pct(e.push, 1), pct(e.admin, 0.5), pct(e.admin, 1))
}

func timeEdits(ctx context.Context, fl *fleet, proc *serveproc.Proc, file string, apps, first, edits int) (editTimes, error) {
	var e editTimes
	for i := first; i < first+edits; i++ {
		fl.arm(fl.current())
		t0 := time.Now()
		if err := writePolicy(file, apps, i); err != nil {
			return e, err
		}
		if _, err := get(proc.Admin + "/healthz"); err != nil {
			return e, fmt.Errorf("admin API: %w", err)
		}
		e.admin = append(e.admin, time.Since(t0))
		if err := fl.wait(ctx); err != nil {
			return e, fmt.Errorf("edit %d: %w", i, err)
		}
		e.push = append(e.push, time.Since(t0))
	}
	return e, nil
}

var adminClient = &http.Client{Timeout: 30 * time.Second}

func get(url string) (string, error) {
	resp, err := adminClient.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return string(b), err
}

// attack runs the attackers until its context is done.
type attack struct {
	wg, first  sync.WaitGroup
	closed     [3]atomic.Int64 // streams closed by the server, per stream attacker
	idleOpen   atomic.Int64
	maxIdle    atomic.Int64
	idleClosed atomic.Int64
}

func (a *attack) start(ctx context.Context, addr string, streams bool, idle int, pace time.Duration) {
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		panic(err) // only a malformed address fails here
	}
	context.AfterFunc(ctx, func() { cc.Close() })
	ads := discovery.NewAggregatedDiscoveryServiceClient(cc)
	md, _ := structpb.NewStruct(map[string]any{"blob": strings.Repeat("x", 3900<<10)})
	attackers := []func(ctx context.Context) error{
		// A new type URL per request, 10,000 names each.
		func(ctx context.Context) error {
			s, err := ads.StreamAggregatedResources(ctx)
			if err != nil {
				return err
			}
			many := names(10000)
			for i := 0; ; i++ {
				req := &discovery.DiscoveryRequest{TypeUrl: fmt.Sprintf("type.googleapis.com/attack.T%d", i), ResourceNames: many}
				if i == 0 {
					req.Node = &core.Node{Id: "attack-types", Cluster: "attack"}
				}
				if err := s.Send(req); err != nil {
					_, err = s.Recv()
					return err
				}
			}
		},
		// 3.9 MB of node metadata.
		func(ctx context.Context) error {
			s, err := ads.StreamAggregatedResources(ctx)
			if err != nil {
				return err
			}
			s.Send(&discovery.DiscoveryRequest{Node: &core.Node{Id: "attack-node", Cluster: "attack", Metadata: md}, TypeUrl: resourcev3.ClusterType})
			for {
				if _, err := s.Recv(); err != nil {
					return err
				}
			}
		},
		// 100,000 names per delta request.
		func(ctx context.Context) error {
			s, err := ads.DeltaAggregatedResources(ctx)
			if err != nil {
				return err
			}
			many := names(100000)
			for i := 0; ; i++ {
				req := &discovery.DeltaDiscoveryRequest{TypeUrl: resourcev3.EndpointType, ResourceNamesSubscribe: many}
				if i == 0 {
					req.Node = &core.Node{Id: "attack-delta", Cluster: "attack"}
				}
				if err := s.Send(req); err != nil {
					_, err = s.Recv()
					return err
				}
			}
		},
	}
	if !streams {
		attackers = nil
	}
	a.first.Add(len(attackers) + idle)
	for i, run := range attackers {
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			first := true
			for ctx.Err() == nil {
				run(ctx)
				if ctx.Err() == nil {
					a.closed[i].Add(1)
				}
				if first {
					a.first.Done()
					first = false
				}
				pause(ctx, pace)
			}
			if first {
				a.first.Done()
			}
		}()
	}
	for i := range idle {
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			a.idleConn(ctx, addr, fmt.Sprintf("127.0.0.%d", 2+i%2))
		}()
	}
}

// idleConn connects from the address from and sends nothing, again and
// again, a second after serve closes each connection.
func (a *attack) idleConn(ctx context.Context, addr, from string) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	first := true
	for ctx.Err() == nil {
		c, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			n := a.idleOpen.Add(1)
			for m := a.maxIdle.Load(); n > m && !a.maxIdle.CompareAndSwap(m, n); m = a.maxIdle.Load() {
			}
			stop := context.AfterFunc(ctx, func() { c.Close() })
			if first {
				a.first.Done()
				first = false
			}
			io.Copy(io.Discard, c)
			stop()
			c.Close()
			a.idleOpen.Add(-1)
			if ctx.Err() == nil {
				a.idleClosed.Add(1)
			}
		} else if first {
			a.first.Done()
			first = false
		}
		pause(ctx, time.Second)
	}
	if first {
		a.first.Done()
	}
}

func pause(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

func names(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("attack-%06d", i)
	}
	return out
}

// phaseCPU measures the cores serve and this process kept busy, on
// average, between startCPU and stop.
type phaseCPU struct {
	proc             *serveproc.Proc
	at               time.Time
	serve0, harness0 time.Duration
	serve, harness   float64
}

func startCPU(p *serveproc.Proc) *phaseCPU {
	c := &phaseCPU{proc: p, at: time.Now()}
	c.serve0, _ = p.CPU()
	c.harness0, _ = serveproc.CPU(os.Getpid())
	return c
}

func (c *phaseCPU) stop() {
	wall := time.Since(c.at).Seconds()
	s, _ := c.proc.CPU()
	h, _ := serveproc.CPU(os.Getpid())
	c.serve, c.harness = (s-c.serve0).Seconds()/wall, (h-c.harness0).Seconds()/wall
}
