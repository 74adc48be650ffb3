package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/shadowplane/shadowplane/test/serveproc"
)

// runHostile measures what the attackers filed in issue 13 cost healthy
// proxies: `shadowplane serve` with a fleet of healthy simulated proxies,
// policy edits timed until every proxy has ACKed, first alone and then
// beside a type-URL flooder, streams with 3.9 MB node metadata, a delta
// stream subscribing 100,000 names per request, and idle TCP connections
// from two other loopback addresses, more of them than serve's
// open-file limit (set with prlimit, as the harness cannot open more than
// its own limit). The attackers run in a process of their own at the
// lowest CPU priority (attackproc.go), or with -apart=false as goroutines
// of this one, the fleet's.
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
	streamFrom := fs.String("stream-from", "127.0.0.4", "local address of the stream attackers' connection (not the fleet's 127.0.0.1: serve penalises an offending address)")
	apart := fs.Bool("apart", true, "run the attackers in a process of their own (xdsload attack), as on another machine; false: as goroutines of this process, beside the fleet")
	niceness := fs.Int("attack-nice", 19, "with -apart, the attack process's niceness (0: as this process)")
	cpus := fs.String("attack-cpus", "", "with -apart, the cores the attack process may use (taskset -c list; empty: any)")
	serveArgs := fs.String("serve-args", "", "more flags for serve, space-separated (e.g. \"--xds-limit-penalty 0\")")
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
	}, strings.Fields(*serveArgs)...)
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
	quietCPU := startCPU(proc, 0)
	quiet, err := timeEdits(ctx, fl, proc, file, *apps, 1, *edits)
	if err != nil {
		return fmt.Errorf("without attackers: %w", err)
	}
	quietCPU.stop()
	rssQuiet, _ := proc.RSS()

	cfg := attackConfig{streams: *streams, streamFrom: *streamFrom, idle: *idle, idleFrom: []string{"127.0.0.2", "127.0.0.3"}, pace: *pace}
	// Each way returns once every attacker has made its first attempt,
	// so the timing starts with all of them at work.
	var (
		stopAttack func() (attackStats, error)
		attackPID  int
	)
	if *apart {
		ap, err := startAttackProc(ctx, proc.XDS, cfg, *niceness, *cpus)
		if err != nil {
			return err
		}
		stopAttack, attackPID = ap.stop, ap.pid()
	} else {
		actx, cancel := context.WithCancel(ctx)
		var a attack
		a.start(actx, proc.XDS, cfg)
		a.first.Wait()
		stopAttack = func() (attackStats, error) {
			cancel()
			a.wg.Wait()
			return a.stats(), nil
		}
	}
	attackedCPU := startCPU(proc, attackPID)
	attacked, err := timeEdits(ctx, fl, proc, file, *apps, 1+*edits, *edits)
	attackedCPU.stop()
	rssAttacked, _ := proc.RSS()
	st, serr := stopAttack()
	if err != nil {
		return fmt.Errorf("under attack: %w", err)
	}
	if serr != nil {
		return serr
	}
	metrics, _ := get(proc.Admin + "/metrics")

	where := "as goroutines of the fleet's process"
	if *apart {
		where = fmt.Sprintf("in a process of their own, niceness %d, cores %q", *niceness, *cpus)
	}
	fmt.Printf("healthy proxies=%d apps=%d edits=%d; serve open-file limit %d; stream attackers %v (from %s), idle connections %d; attackers %s\n", *n, *apps, *edits, *nofile, *streams, *streamFrom, *idle, where)
	logMu.Lock()
	for _, l := range capLine {
		fmt.Println("serve:", l)
	}
	logMu.Unlock()
	quiet.print("without attackers")
	attacked.print("with attackers   ")
	fmt.Printf("server RSS: %.1f MiB without attackers, %.1f MiB with\n", float64(rssQuiet)/(1<<20), float64(rssAttacked)/(1<<20))
	fmt.Printf("CPU of everything else (other processes, kernel threads, interrupts — loopback traffic included), cores busy on average: %.2f without attackers, %.2f with\n", quietCPU.others, attackedCPU.others)
	if *apart {
		fmt.Printf("CPU, cores busy on average: serve %.2f without attackers, %.2f with; fleet %.2f, %.2f; attack process %.2f\n",
			quietCPU.serve, attackedCPU.serve, quietCPU.harness, attackedCPU.harness, attackedCPU.attack)
	} else {
		fmt.Printf("CPU, cores busy on average: serve %.2f without attackers, %.2f with; this harness (fleet and attackers) %.2f, %.2f\n",
			quietCPU.serve, attackedCPU.serve, quietCPU.harness, attackedCPU.harness)
	}
	fmt.Printf("attackers: %d type-URL, %d big-node, %d delta streams closed or refused; %d idle connections open at most, %d refused or closed by serve\n",
		st.Closed[0], st.Closed[1], st.Closed[2], st.MaxIdle, st.IdleClosed)
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

// phaseCPU measures the cores serve, this process and the attack process
// (if attackPID is not 0) kept busy, on average, between startCPU and stop.
// And the cores the whole machine kept busy, so that what other processes
// took (another engineer's build) is seen in the figures, not guessed.
type phaseCPU struct {
	proc                                *serveproc.Proc
	attackPID                           int
	at                                  time.Time
	serve0, harness0, attack0, machine0 time.Duration
	serve, harness, attack, others      float64
}

func startCPU(p *serveproc.Proc, attackPID int) *phaseCPU {
	c := &phaseCPU{proc: p, attackPID: attackPID, at: time.Now()}
	c.serve0, _ = p.CPU()
	c.harness0, _ = serveproc.CPU(os.Getpid())
	if attackPID != 0 {
		c.attack0, _ = serveproc.CPU(attackPID)
	}
	c.machine0, _ = machineCPU()
	return c
}

// machineCPU is the CPU time all cores have spent busy since boot (all of
// /proc/stat's cpu line but idle and iowait).
func machineCPU() (time.Duration, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return 0, fmt.Errorf("unexpected /proc/stat: %q", line)
	}
	var busy int64
	for i, v := range f[1:] {
		if i == 3 || i == 4 || i >= 8 { // idle, iowait; guest time is in user already
			continue
		}
		n, _ := strconv.ParseInt(v, 10, 64)
		busy += n
	}
	const clockTicks = 100 // USER_HZ on Linux
	return time.Duration(busy) * time.Second / clockTicks, nil
}

func (c *phaseCPU) stop() {
	wall := time.Since(c.at).Seconds()
	s, _ := c.proc.CPU()
	h, _ := serveproc.CPU(os.Getpid())
	c.serve, c.harness = (s-c.serve0).Seconds()/wall, (h-c.harness0).Seconds()/wall
	if c.attackPID != 0 {
		a, _ := serveproc.CPU(c.attackPID)
		c.attack = (a - c.attack0).Seconds() / wall
	}
	m, _ := machineCPU()
	c.others = max(0, (m-c.machine0).Seconds()/wall-c.serve-c.harness-c.attack)
}
