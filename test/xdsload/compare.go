package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/shadowplane/shadowplane/test/serveproc"
)

// profileDir, when set, receives each server's CPU profile.
var profileDir string

// badShare of the fleet misbehaves.
var badShare float64

// useDelta makes the fleet speak delta xDS.
var useDelta bool

// result is one implementation measured at one fleet size.
type result struct {
	impl       string
	n          int
	sync       time.Duration
	lat        []time.Duration // change → all ACKed, sorted
	storm      time.Duration
	rss        int64 // after the changes
	cpu        time.Duration
	fleetCPU   time.Duration // the simulated proxies' CPU, on the same cores
	goroutines int
	// reads and writes are the server's read and write system calls per
	// proxy and change: each proxy costs at least one write (the push)
	// and one read (its ACK).
	reads, writes float64
	err           error
}

func (r result) pct(p float64) time.Duration {
	if len(r.lat) == 0 {
		return 0
	}
	return r.lat[int(p*float64(len(r.lat)-1)+0.5)]
}

// runCompare measures ours and the baseline at each fleet size and prints
// the table.
func runCompare(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("xdsload", flag.ContinueOnError)
	sizes := fs.String("n", "100,1000", "comma-separated fleet sizes")
	impls := fs.String("impl", "ours,baseline", "implementations: ours, baseline")
	conns := fs.Int("conns", 0, "gRPC connections the proxies share (0: one each, as Envoy)")
	changes := fs.Int("changes", 20, "changes to time at each size")
	apps := fs.Int("apps", 10, "apps in the policy")
	storm := fs.Bool("storm", true, "also time a reconnect storm: every proxy reconnecting at once")
	plot := fs.String("plot", "", "also draw propagation time against proxies as an SVG `FILE`")
	fs.BoolVar(&useDelta, "delta", false, "simulated proxies speak incremental (delta) xDS")
	fs.Float64Var(&badShare, "bad", 0, "share of proxies that misbehave (never ACK, wrong nonce, flood), 0 to 0.5; only the others are timed")
	timeout := fs.Duration("timeout", 10*time.Minute, "give up on one measurement after this long")
	fs.StringVar(&profileDir, "cpuprofile-dir", "", "write each server's CPU profile, and the simulated fleet's, into `DIR`")
	if err := fs.Parse(args); err != nil {
		return err
	}
	quietFleetGC()
	if profileDir != "" {
		stop, err := cpuProfile(profileDir + "/fleet.cpu")
		if err != nil {
			return err
		}
		defer stop()
	}
	var ns []int
	for _, s := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n <= 0 {
			return fmt.Errorf("-n %q: want positive numbers", s)
		}
		ns = append(ns, n)
	}
	var results []result
	for _, n := range ns {
		for _, impl := range strings.Split(*impls, ",") {
			fmt.Fprintf(os.Stderr, "measuring %s with %d proxies…\n", impl, n)
			mctx, cancel := context.WithTimeout(ctx, *timeout)
			r := measure(mctx, strings.TrimSpace(impl), n, *conns, *apps, *changes, *storm)
			cancel()
			if r.err != nil {
				fmt.Fprintf(os.Stderr, "  %s n=%d: %v\n", impl, n, r.err)
			}
			results = append(results, r)
			if ctx.Err() != nil {
				return ctx.Err()
			}
		}
	}
	printTable(os.Stdout, results, *conns, *apps, *changes)
	if *plot != "" {
		if err := writePlot(*plot, results); err != nil {
			return err
		}
	}
	// A measurement that failed is in the table; the run fails with it.
	var errs []error
	for _, r := range results {
		if r.err != nil {
			errs = append(errs, fmt.Errorf("%s with %d proxies: %w", r.impl, r.n, r.err))
		}
	}
	return errors.Join(errs...)
}

func measure(ctx context.Context, impl string, n, conns, apps, changes int, storm bool) (r result) {
	r = result{impl: impl, n: n}
	self, err := os.Executable()
	if err != nil {
		r.err = err
		return r
	}
	cctx, stop := context.WithCancel(ctx)
	defer stop()
	args := []string{"serve", "-impl", impl, "-apps", strconv.Itoa(apps)}
	if profileDir != "" {
		args = append(args, "-cpuprofile", fmt.Sprintf("%s/%s-%d.cpu", profileDir, impl, n))
	}
	cmd := exec.CommandContext(cctx, self, args...)
	// Interrupt rather than kill, so the server can write its profile.
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 10 * time.Second
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		r.err = err
		return r
	}
	if err := cmd.Start(); err != nil {
		r.err = err
		return r
	}
	defer func() {
		stop()
		cmd.Wait()
	}()
	var xdsAddr, control string
	line, err := bufio.NewReader(out).ReadString('\n')
	if _, err2 := fmt.Sscanf(line, "xds=%s control=%s", &xdsAddr, &control); err != nil || err2 != nil {
		r.err = fmt.Errorf("server did not start: %q %v %v", line, err, err2)
		return r
	}
	pid := cmd.Process.Pid
	if os.Getenv("XDSLOAD_TRACE") != "" {
		fmt.Fprintf(os.Stderr, "  server pid %d, xDS %s, control http://%s (pprof under /debug/pprof/)\n", pid, xdsAddr, control)
	}

	fl := newFleet(xdsAddr, n, conns, int(badShare*float64(n)))
	fl.delta = useDelta
	fl.arm("")
	start := time.Now()
	if err := fl.connect(ctx); err != nil {
		r.err = err
		return r
	}
	defer fl.disconnect()
	if r.err = fl.wait(ctx); r.err != nil {
		r.err = fmt.Errorf("initial sync: %w", r.err)
		return r
	}
	r.sync = time.Since(start)
	cpu0, _ := serveproc.CPU(pid)
	sr0, sw0, _ := serveproc.Syscalls(pid)
	fcpu0, _ := serveproc.CPU(os.Getpid())
	client := &http.Client{Timeout: time.Minute}
	st0, _ := fetchStats(client, control)
	for c := 0; c < changes; c++ {
		fl.arm(fl.current())
		t0 := time.Now()
		resp, err := client.Post("http://"+control+"/change", "", nil)
		if err != nil {
			r.err = err
			return r
		}
		resp.Body.Close()
		if r.err = fl.wait(ctx); r.err != nil {
			r.err = fmt.Errorf("change %d: %w", c, r.err)
			return r
		}
		r.lat = append(r.lat, time.Since(t0))
		if os.Getenv("XDSLOAD_TRACE") != "" {
			fmt.Fprintf(os.Stderr, "  change %d: %s\n", c, time.Since(t0))
		}
	}
	if profileDir != "" {
		saveHeap(client, control, fmt.Sprintf("%s/%s-%d.heap", profileDir, impl, n))
	}
	cpu1, _ := serveproc.CPU(pid)
	r.cpu = cpu1 - cpu0
	fcpu1, _ := serveproc.CPU(os.Getpid())
	r.fleetCPU = fcpu1 - fcpu0
	if sr1, sw1, err := serveproc.Syscalls(pid); err == nil && changes > 0 {
		per := float64(n * changes)
		r.reads, r.writes = float64(sr1-sr0)/per, float64(sw1-sw0)/per
	}
	r.rss, _ = serveproc.RSS(pid)
	if st, err := fetchStats(client, control); err == nil {
		r.goroutines = st.Goroutines
		// Where the memory goes, per proxy: live heap, heap spans in use
		// (live plus garbage not yet swept), goroutine stacks; and what a
		// push allocates, which sets how often the server collects.
		kib := func(b float64) float64 { return b / 1024 / float64(n) }
		fmt.Fprintf(os.Stderr, "  %s n=%d KiB/proxy: heap live %.1f, heap in use %.1f, idle not released %.1f, stacks %.1f, runtime total %.1f; allocated %.0f B per proxy and push, %d collections in %d changes\n",
			impl, n, kib(st.HeapAlloc), kib(st.HeapInuse), kib(st.HeapIdle-st.HeapReleased), kib(st.StackInuse), kib(st.Sys),
			(st.TotalAlloc-st0.TotalAlloc)/float64(n*max(changes, 1)), st.NumGC-st0.NumGC, changes)
	}
	sort.Slice(r.lat, func(i, j int) bool { return r.lat[i] < r.lat[j] })

	if storm {
		fl.disconnect()
		fl.arm("")
		t0 := time.Now()
		if err := fl.connect(ctx); err != nil {
			r.err = err
			return r
		}
		if err := fl.wait(ctx); err != nil {
			r.err = errors.Join(r.err, fmt.Errorf("reconnect storm: %w", err))
			return r
		}
		r.storm = time.Since(t0)
	}
	return r
}

func printTable(w *os.File, rs []result, conns, apps, changes int) {
	fmt.Fprintf(w, "\nchange applied in-process → every proxy ACKed the new routes (%d changes per row; %d apps; %.0f%% of proxies misbehaving; %s; ", changes, apps, 100*badShare, map[bool]string{false: "state of the world", true: "delta xDS"}[useDelta])
	if conns == 0 {
		fmt.Fprintln(w, "one gRPC connection per proxy)")
	} else {
		fmt.Fprintf(w, "proxies over %d connections)\n", conns)
	}
	fmt.Fprintf(w, "%-9s %7s %10s %10s %10s %10s %12s %10s %12s %11s %14s %12s %10s\n",
		"impl", "proxies", "sync", "p50", "p99", "max", "storm", "RSS MiB", "KiB/proxy", "goroutines", "CPU/change", "rd+wr/push", "fleet CPU")
	byN := map[int]map[string]result{}
	for _, r := range rs {
		if byN[r.n] == nil {
			byN[r.n] = map[string]result{}
		}
		byN[r.n][r.impl] = r
		if r.err != nil {
			fmt.Fprintf(w, "%-9s %7d  failed: %v\n", r.impl, r.n, r.err)
			continue
		}
		fmt.Fprintf(w, "%-9s %7d %10s %10s %10s %10s %12s %10.1f %12.1f %11d %14s %12s %10s\n", r.impl, r.n,
			ms(r.sync), ms(r.pct(0.5)), ms(r.pct(0.99)), ms(r.pct(1)), ms(r.storm),
			float64(r.rss)/(1<<20), float64(r.rss)/1024/float64(r.n), r.goroutines, ms(r.cpu/time.Duration(max(len(r.lat), 1))),
			fmt.Sprintf("%.1f+%.1f", r.reads, r.writes), ms(r.fleetCPU/time.Duration(max(len(r.lat), 1))))
	}
	var ns []int
	for n := range byN {
		ns = append(ns, n)
	}
	sort.Ints(ns)
	fmt.Fprintln(w, "\nbaseline ÷ ours (higher is better for ours):")
	for _, n := range ns {
		o, b := byN[n]["ours"], byN[n]["baseline"]
		if o.err != nil || b.err != nil || len(o.lat) == 0 || len(b.lat) == 0 {
			continue
		}
		fmt.Fprintf(w, "  %6d proxies: p50 %.1f×  p99 %.1f×  memory %.1f×\n", n,
			ratio(b.pct(0.5), o.pct(0.5)), ratio(b.pct(0.99), o.pct(0.99)), float64(b.rss)/float64(o.rss))
	}
}

func ms(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
}

func ratio(a, b time.Duration) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// saveHeap stores the server's heap profile.
func saveHeap(c *http.Client, control, path string) {
	resp, err := c.Get("http://" + control + "/debug/pprof/heap")
	if err != nil {
		return
	}
	defer resp.Body.Close()
	f, err := os.Create(path)
	if err != nil {
		return
	}
	defer f.Close()
	io.Copy(f, resp.Body)
}

// stats is the server's /stats: runtime figures.
type stats struct {
	Goroutines                       int
	HeapAlloc, HeapInuse, StackInuse float64
	HeapIdle, HeapReleased, Sys      float64
	TotalAlloc                       float64
	NumGC                            int
}

func fetchStats(c *http.Client, control string) (stats, error) {
	var st stats
	resp, err := c.Get("http://" + control + "/stats")
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	err = json.NewDecoder(resp.Body).Decode(&st)
	return st, err
}
