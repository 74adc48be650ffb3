package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/shadowplane/shadowplane/test/sampleproc"
	"github.com/shadowplane/shadowplane/test/serveproc"
)

// scenario is one canary the demo runs.
type scenario struct {
	app   string // app name and gRPC host prefix
	title string
	v2    []string // the candidate's fault flags
}

var scenarios = []scenario{
	{app: "shop", title: "healthy v2: expect promotion", v2: []string{"--latency", "4ms", "--latency-jitter", "2ms"}},
	{app: "cart", title: "v2 fails 30% of requests: expect rollback", v2: []string{"--latency", "4ms", "--latency-jitter", "2ms", "--error-rate", "0.3"}},
}

func demo(ctx context.Context, cfg config, out io.Writer) error {
	for _, addr := range []string{cfg.xdsAddr, cfg.adminAddr} {
		if err := portFree(addr); err != nil {
			return fmt.Errorf("port %s is taken: %v\nstop what uses it, or run with -xds-addr/-admin-addr", addr, err)
		}
	}
	shadowplane, sampleapp := filepath.Join(cfg.bin, "shadowplane"), filepath.Join(cfg.bin, "sampleapp")
	for _, b := range []string{shadowplane, sampleapp} {
		if _, err := os.Stat(b); err != nil {
			return fmt.Errorf("%s: %v (build it with `make build`)", b, err)
		}
	}
	work, err := os.MkdirTemp("", "shadowplane-demo")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

	// Children die with this context, on any return path, Ctrl-C included.
	ctx, cancel := context.WithCancel(ctx)
	var waits []func() error
	defer func() {
		cancel()
		for _, w := range waits {
			w()
		}
	}()

	fmt.Fprintln(out, "starting the sample apps (v1 and v2 of shop and cart)…")
	apps := map[string][2]*sampleproc.App{}
	for _, s := range scenarios {
		v1, err := sampleproc.Start(ctx, sampleapp, "v1", "--latency", "4ms", "--latency-jitter", "2ms")
		if err != nil {
			return err
		}
		waits = append(waits, v1.Wait)
		v2, err := sampleproc.Start(ctx, sampleapp, "v2", s.v2...)
		if err != nil {
			return err
		}
		waits = append(waits, v2.Wait)
		apps[s.app] = [2]*sampleproc.App{v1, v2}
	}

	policies := filepath.Join(work, "policies")
	if err := os.Mkdir(policies, 0o755); err != nil {
		return err
	}
	for _, s := range scenarios {
		p := policy(s.app, apps[s.app], cfg)
		if err := os.WriteFile(filepath.Join(policies, s.app+".yaml"), []byte(p), 0o644); err != nil {
			return err
		}
	}
	fmt.Fprintf(out, "starting shadowplane (xDS %s, admin http://%s)…\n", cfg.xdsAddr, cfg.adminAddr)
	cp, err := serveproc.Start(ctx, shadowplane, policies, nil,
		"--xds-addr", cfg.xdsAddr, "--admin-addr", cfg.adminAddr, "--state-dir", filepath.Join(work, "state"))
	if err != nil {
		return err
	}
	waits = append(waits, cp.Wait)

	fmt.Fprintln(out, "starting proxyless gRPC clients that route through shadowplane…")
	var names []string
	for _, s := range scenarios {
		names = append(names, s.app)
	}
	gen, err := startTraffic(ctx, cfg.xdsAddr, names)
	if err != nil {
		return err
	}
	waits = append(waits, gen.wait)

	start := time.Now()
	final, err := watch(ctx, cfg, out, cp.Admin, gen)
	if err != nil {
		return err
	}
	summary(out, final, gen, time.Since(start))
	return nil
}

// portFree reports whether addr can be listened on.
func portFree(addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return l.Close()
}

// policy is one app with a route split v1 100 / v2 0 and a progressive
// canary of v2 on it, judged on the app's own metrics, scraped directly.
func policy(app string, v [2]*sampleproc.App, cfg config) string {
	return fmt.Sprintf(`kind: App
name: %[1]s
hosts: [%[1]s.demo]
variants:
  - {name: v1, endpoints: [%[2]q]}
  - {name: v2, endpoints: [%[3]q]}
routes:
  - name: all
    split:
      - {variant: v1, weight: 100}
      - {variant: v2, weight: 0}
---
kind: Experiment
name: %[1]s-canary
app: %[1]s
route: all
testing: Canary
baseline: v1
candidates: [v2]
steps: {stepWeight: 20, maxWeight: 100}
objectives:
  - {metric: app/mean-latency, upperLimit: 50}
  - {metric: app/p95-latency, upperLimit: 100}
  - {metric: app/error-rate, upperLimit: 0.01}
interval: %[6]s
iterations: %[7]d
minSamples: 20
maxNoData: 5
metrics:
  targets:
    v1: [%[4]q]
    v2: [%[5]q]
`, app, v[0].GRPC, v[1].GRPC, v[0].MetricsURL(), v[1].MetricsURL(), cfg.interval, cfg.steps)
}
