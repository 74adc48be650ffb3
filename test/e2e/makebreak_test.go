package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shadowplane/shadowplane/test/grpcxds"
)

// splitPolicy routes greeter.test over the given backends, by name and
// weight.
func splitPolicy(backends map[string]*grpcxds.Backend, weights [][2]string) string {
	var variants, split strings.Builder
	for _, w := range weights {
		fmt.Fprintf(&variants, "  - {name: %s, endpoints: [%q]}\n", w[0], backends[w[0]].Addr)
		fmt.Fprintf(&split, "      - {variant: %s, weight: %s}\n", w[0], w[1])
	}
	return "kind: App\nname: greeter\nhosts: [greeter.test]\nvariants:\n" + variants.String() +
		"routes:\n  - name: default\n    split:\n" + split.String()
}

// A variant added and then removed under load: a real gRPC xDS client
// never fails an RPC, because clusters reach it before routes name them
// and leave only after routes stop naming them.
func TestVariantAddedAndRemovedUnderLoad(t *testing.T) {
	b := map[string]*grpcxds.Backend{"v1": grpcxds.StartBackend(t, "v1"), "v2": grpcxds.StartBackend(t, "v2"), "v3": grpcxds.StartBackend(t, "v3")}
	dir := t.TempDir()
	path := filepath.Join(dir, "greeter.yaml")
	writeAtomically(t, path, splitPolicy(b, [][2]string{{"v1", "50"}, {"v2", "50"}}))
	cp := startServe(t, dir)
	c := grpcxds.Dial(t, cp.xds, "under-load", "clients", "greeter.test")

	var calls, failed atomic.Int64
	var mu sync.Mutex
	seen := map[string]int{}
	var errs []string
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for ctx.Err() == nil {
				v, err := c.Call(ctx)
				if ctx.Err() != nil {
					return
				}
				calls.Add(1)
				mu.Lock()
				if err != nil {
					failed.Add(1)
					errs = append(errs, err.Error())
				} else {
					seen[v]++
				}
				mu.Unlock()
			}
		})
	}
	stop := func() {
		cancel()
		wg.Wait()
	}
	defer stop()
	waitFor := func(what string, ok func(map[string]int) bool) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			mu.Lock()
			done := ok(seen)
			mu.Unlock()
			if done {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s never happened: %v", what, seen)
			}
			time.Sleep(20 * time.Millisecond) // polling the load's own counters
		}
	}
	reset := func() {
		mu.Lock()
		seen = map[string]int{}
		mu.Unlock()
	}

	waitFor("v1 and v2 answering", func(s map[string]int) bool { return s["v1"] > 50 && s["v2"] > 50 })
	writeAtomically(t, path, splitPolicy(b, [][2]string{{"v1", "34"}, {"v2", "33"}, {"v3", "33"}}))
	reset()
	waitFor("v3 answering", func(s map[string]int) bool { return s["v3"] > 50 })
	writeAtomically(t, path, splitPolicy(b, [][2]string{{"v1", "50"}, {"v3", "50"}}))
	// v2 is gone once a whole batch of calls since a reset missed it.
	for deadline := time.Now().Add(20 * time.Second); ; {
		reset()
		waitFor("a batch of calls", func(s map[string]int) bool { return s["v1"]+s["v2"]+s["v3"] > 300 })
		mu.Lock()
		gone := seen["v2"] == 0
		mu.Unlock()
		if gone {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("v2 still answers: %v", seen)
		}
	}
	stop()
	if n := failed.Load(); n > 0 {
		t.Fatalf("%d of %d RPCs failed while a variant was added and removed: %v", n, calls.Load(), errs[:min(len(errs), 5)])
	}
	t.Logf("%d RPCs, none failed", calls.Load())
}
