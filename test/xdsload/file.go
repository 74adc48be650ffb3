package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/shadowplane/shadowplane/test/serveproc"
)

// runFile measures the whole path a user takes: the policy file is
// rewritten (renamed into place, as editors save) and `shadowplane serve`
// notices, debounces, translates and pushes, until every proxy has ACKed.
func runFile(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("xdsload file", flag.ContinueOnError)
	bin := fs.String("shadowplane", "bin/shadowplane", "shadowplane binary")
	n := fs.Int("n", 1000, "simulated proxies")
	conns := fs.Int("conns", 0, "gRPC connections the proxies share (0: one each, as Envoy)")
	apps := fs.Int("apps", 10, "apps in the policy")
	edits := fs.Int("edits", 20, "policy edits to time")
	timeout := fs.Duration("timeout", 5*time.Minute, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return err
	}
	quietFleetGC()
	return run(ctx, *bin, *n, *conns, *apps, *edits, *timeout)
}

func run(ctx context.Context, bin string, n, conns, apps, edits int, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
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

	fl := newFleet(proc.XDS, n, conns, 0)
	fl.arm("")
	start := time.Now()
	if err := fl.connect(ctx); err != nil {
		return err
	}
	defer fl.disconnect()
	if err := fl.wait(ctx); err != nil {
		return fmt.Errorf("initial sync: %w", err)
	}
	syncTime := time.Since(start)
	rssSynced, _ := proc.RSS()
	cpuBefore, _ := proc.CPU()

	var lat []time.Duration
	for e := 1; e <= edits; e++ {
		fl.arm(fl.current())
		t0 := time.Now()
		if err := writePolicy(file, apps, e); err != nil {
			return err
		}
		if err := fl.wait(ctx); err != nil {
			return fmt.Errorf("edit %d: %w", e, err)
		}
		lat = append(lat, time.Since(t0))
		if os.Getenv("XDSLOAD_TRACE") != "" {
			fmt.Fprintf(os.Stderr, "  edit %d: %s\n", e, time.Since(t0))
		}
	}
	cpuAfter, _ := proc.CPU()
	rss, _ := proc.RSS()

	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	pct := func(p float64) time.Duration { return lat[int(p*float64(len(lat)-1)+0.5)] }
	fmt.Printf("proxies=%d conns=%d apps=%d edits=%d\n", n, fl.conns, apps, edits)
	fmt.Printf("initial sync of all proxies: %v\n", syncTime.Round(time.Millisecond))
	fmt.Printf("policy file written -> all proxies ACKed: p50 %v  p99 %v  max %v\n",
		pct(0.5).Round(time.Millisecond), pct(0.99).Round(time.Millisecond), lat[len(lat)-1].Round(time.Millisecond))
	fmt.Printf("server RSS: %.1f MiB after sync, %.1f MiB after edits (%.1f KiB per proxy)\n",
		float64(rssSynced)/(1<<20), float64(rss)/(1<<20), float64(rss)/1024/float64(n))
	fmt.Printf("server CPU during edits: %v\n", (cpuAfter - cpuBefore).Round(time.Millisecond))
	return nil
}

// writePolicy writes apps apps whose first route's v2 weight depends on
// edit, so each edit changes the routes (and only the routes), and renames
// it into place as editors do.
func writePolicy(path string, apps, edit int) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, policyYAML(apps, edit), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// policyYAML is the policy of the load tests: apps apps of three
// variants, whose route weights depend on edit.
func policyYAML(apps, edit int) []byte {
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
	return b
}
