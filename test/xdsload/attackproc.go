package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// The attackers of `xdsload hostile` run, by default, in a process of
// their own (`xdsload attack`) at the lowest CPU priority, optionally
// pinned to some cores. Real attackers run on other machines: run beside
// the healthy fleet, on the same two cores and at the same priority, their
// own CPU (0.56 of a core, encoding multi-megabyte requests) was counted
// against serve. Apart and niced they take only the time nothing else
// wants, and their CPU is reported on its own line.

// runAttack is the attack process: it runs the attackers against -xds,
// prints "ready" once each has made its first attempt, and stops when its
// standard input closes, printing its counts as one line of JSON.
func runAttack(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("xdsload attack", flag.ContinueOnError)
	addr := fs.String("xds", "", "serve's xDS address")
	var cfg attackConfig
	fs.BoolVar(&cfg.streams, "streams", true, "run the stream attackers")
	fs.StringVar(&cfg.streamFrom, "stream-from", "127.0.0.4", "local address of the stream attackers' connection")
	fs.IntVar(&cfg.idle, "idle", 0, "idle TCP connections")
	idleFrom := fs.String("idle-from", "127.0.0.2,127.0.0.3", "local addresses of the idle connections, taken in turn")
	fs.DurationVar(&cfg.pace, "pace", 100*time.Millisecond, "each stream attacker's pause before it opens a new stream after one is closed")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *addr == "" {
		return errors.New("attack: -xds is required")
	}
	cfg.idleFrom = strings.Split(*idleFrom, ",")
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		io.Copy(io.Discard, os.Stdin)
		cancel()
	}()
	var a attack
	a.start(ctx, *addr, cfg)
	a.first.Wait()
	fmt.Println("ready")
	<-ctx.Done()
	a.wg.Wait()
	return json.NewEncoder(os.Stdout).Encode(a.stats())
}

// attackProc is a running attack process.
type attackProc struct {
	cmd   *exec.Cmd
	stdin io.Closer
	out   *bufio.Scanner
}

// startAttackProc runs this executable's attack subcommand against addr,
// under nice at niceness (0: not) and taskset on cpus ("": any core), and
// returns once the attackers have made their first attempts.
func startAttackProc(ctx context.Context, addr string, cfg attackConfig, niceness int, cpus string) (*attackProc, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	var argv []string
	if niceness != 0 {
		argv = append(argv, "nice", "-n", strconv.Itoa(niceness))
	}
	if cpus != "" {
		argv = append(argv, "taskset", "-c", cpus)
	}
	argv = append(argv, self, "attack", "-xds", addr, "-streams="+strconv.FormatBool(cfg.streams),
		"-stream-from", cfg.streamFrom, "-idle", strconv.Itoa(cfg.idle),
		"-idle-from", strings.Join(cfg.idleFrom, ","), "-pace", cfg.pace.String())
	// nice and taskset exec the next program: the process started is the
	// attack process, and its CPU time is read from its pid.
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("attack process: %w", err)
	}
	p := &attackProc{cmd: cmd, stdin: stdin, out: bufio.NewScanner(stdout)}
	if !p.out.Scan() || p.out.Text() != "ready" {
		stdin.Close()
		cmd.Wait()
		return nil, fmt.Errorf("attack process did not start: %q", p.out.Text())
	}
	return p, nil
}

func (p *attackProc) pid() int { return p.cmd.Process.Pid }

// stop ends the attack and returns its counts.
func (p *attackProc) stop() (attackStats, error) {
	var st attackStats
	p.stdin.Close()
	var err error
	if p.out.Scan() {
		err = json.Unmarshal(p.out.Bytes(), &st)
	} else {
		err = errors.New("attack process ended without its counts")
	}
	return st, errors.Join(err, p.cmd.Wait())
}
