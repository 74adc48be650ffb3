package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	_ "google.golang.org/grpc/xds" // registers the xds:/// resolver

	"github.com/shadowplane/shadowplane/test/grpcxds"
)

// The traffic generator runs as a child process of the demo, like any
// service that calls another: gRPC reads its xDS bootstrap from the
// environment once, when the process starts, so the demo starts the
// generator with GRPC_XDS_BOOTSTRAP_CONFIG set to point at shadowplane.
// The child reports the versions that answered as JSON lines on stdout.

const trafficCommand = "traffic"

// traffic is the parent's side: it starts the generator and tallies its
// reports.
type traffic struct {
	mu     sync.Mutex
	counts map[string]map[string]int // app → version (or "error") → calls since the last take
	total  map[string]map[string]int
	cmd    *exec.Cmd
	done   chan struct{}
}

// startTraffic runs the generator against xds:///<app>.demo for each app.
func startTraffic(ctx context.Context, xdsAddr string, apps []string) (*traffic, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, self, append([]string{trafficCommand}, apps...)...)
	cmd.Env = append(os.Environ(), "GRPC_XDS_BOOTSTRAP_CONFIG="+string(grpcxds.Bootstrap(xdsAddr, "demo-client", "demo")))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	t := &traffic{counts: map[string]map[string]int{}, total: map[string]map[string]int{}, cmd: cmd, done: make(chan struct{})}
	go func() {
		defer close(t.done)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var r report
			if json.Unmarshal(sc.Bytes(), &r) == nil {
				t.add(r)
			}
		}
	}()
	return t, nil
}

// report is one line from the generator: calls per app and version.
type report map[string]map[string]int

func (t *traffic) add(r report) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for app, vs := range r {
		for v, n := range vs {
			for _, m := range []map[string]map[string]int{t.counts, t.total} {
				if m[app] == nil {
					m[app] = map[string]int{}
				}
				m[app][v] += n
			}
		}
	}
}

// take returns the calls per app and version since the last take.
func (t *traffic) take() map[string]map[string]int {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := t.counts
	t.counts = map[string]map[string]int{}
	return out
}

// totals returns every call counted, per app and version.
func (t *traffic) totals() map[string]map[string]int {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := map[string]map[string]int{}
	for app, vs := range t.total {
		out[app] = map[string]int{}
		for v, n := range vs {
			out[app][v] = n
		}
	}
	return out
}

// wait waits for the generator to exit after its context ended.
func (t *traffic) wait() error {
	err := t.cmd.Wait()
	<-t.done
	return err
}

// runTraffic is the child: four callers per app, a report every 250 ms.
func runTraffic(ctx context.Context, apps []string, out io.Writer) error {
	var mu sync.Mutex
	counts := report{}
	var wg sync.WaitGroup
	for _, app := range apps {
		conn, err := grpc.NewClient("xds:///"+app+".demo", grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return err
		}
		defer conn.Close()
		svc := testgrpc.NewTestServiceClient(conn)
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for ctx.Err() == nil {
					cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
					resp, err := svc.UnaryCall(cctx, &testgrpc.SimpleRequest{}, grpc.WaitForReady(true))
					cancel()
					if ctx.Err() != nil {
						return
					}
					v := "error"
					if err == nil {
						v = resp.GetServerId()
					}
					mu.Lock()
					if counts[app] == nil {
						counts[app] = map[string]int{}
					}
					counts[app][v]++
					mu.Unlock()
					time.Sleep(5 * time.Millisecond)
				}
			}()
		}
	}
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	enc := json.NewEncoder(out)
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			return nil
		case <-tick.C:
		}
		mu.Lock()
		r := counts
		counts = report{}
		mu.Unlock()
		if err := enc.Encode(r); err != nil {
			return fmt.Errorf("report: %w", err)
		}
	}
}

// shares formats counts as "v1 62%  v2 38%  (1234 calls)".
func shares(counts map[string]int) string {
	total := 0
	var keys []string
	for k, n := range counts {
		total += n
		keys = append(keys, k)
	}
	if total == 0 {
		return "no calls yet"
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, k+" "+strconv.Itoa(100*counts[k]/total)+"%")
	}
	return strings.Join(parts, "  ") + "  (" + strconv.Itoa(total) + " calls)"
}
