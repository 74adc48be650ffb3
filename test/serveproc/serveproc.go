// Package serveproc runs `shadowplane serve` as a child process on
// loopback ports of its own choosing and reads back where it listens, for
// end-to-end tests and load harnesses.
package serveproc

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Proc is a running `shadowplane serve`.
type Proc struct {
	XDS      string // host:port of the ADS server
	Admin    string // base URL of the admin API
	cmd      *exec.Cmd
	done     chan struct{}
	stateDir string
}

var (
	xdsLine   = regexp.MustCompile(`xDS .*listening: addr=(\S+)`)
	adminLine = regexp.MustCompile(`admin API listening: url=(\S+)`)
)

// Start runs binary serve --policies dir with extra flags, on free loopback
// ports, passing every log line to logf. It returns once both servers
// listen. The process ends with ctx. Unless extra sets --state-dir, the
// experiment state goes to a temporary directory removed by Wait.
func Start(ctx context.Context, binary, dir string, logf func(string), extra ...string) (*Proc, error) {
	args := []string{"serve", "--policies", dir, "--xds-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0"}
	var stateDir string
	if !slices.Contains(extra, "--state-dir") {
		var err error
		if stateDir, err = os.MkdirTemp("", "shadowplane-state"); err != nil {
			return nil, err
		}
		args = append(args, "--state-dir", stateDir)
	}
	args = append(args, extra...)
	cmd := exec.CommandContext(ctx, binary, args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &Proc{cmd: cmd, done: make(chan struct{}), stateDir: stateDir}
	ready := make(chan struct{})
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			if logf != nil {
				logf(line)
			}
			if m := xdsLine.FindStringSubmatch(line); m != nil {
				p.XDS = m[1]
			}
			if m := adminLine.FindStringSubmatch(line); m != nil {
				p.Admin = m[1]
				close(ready)
			}
		}
	}()
	select {
	case <-ready:
		return p, nil
	case <-p.done:
		cmd.Wait()
		return nil, errors.New("shadowplane serve exited before it listened")
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		return nil, errors.New("shadowplane serve did not report its addresses within 30s")
	}
}

// Wait waits for the process to end.
func (p *Proc) Wait() error {
	err := p.cmd.Wait()
	<-p.done
	if p.stateDir != "" {
		os.RemoveAll(p.stateDir)
	}
	return err
}

// PID is the process id.
func (p *Proc) PID() int { return p.cmd.Process.Pid }

// RSS is the process's resident memory in bytes, from /proc.
func (p *Proc) RSS() (int64, error) { return RSS(p.PID()) }

// CPU is the user plus system CPU time the process has used.
func (p *Proc) CPU() (time.Duration, error) { return CPU(p.PID()) }

// RSS is a process's resident memory in bytes, from /proc.
func RSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			return kb * 1024, err
		}
	}
	return 0, errors.New("no VmRSS in /proc status")
}

// CPU is the user plus system CPU time a process has used, from /proc.
func CPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the command name, which is in parentheses.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(f) < 13 {
		return 0, errors.New("short /proc stat")
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	const clockTicks = 100 // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / clockTicks, nil
}

// Syscalls returns the read and write system calls process pid has made
// (syscr and syscw of /proc/PID/io): the per-push cost that CPU profiles
// show as time in the kernel, counted exactly.
func Syscalls(pid int) (reads, writes int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", pid))
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ": ")
		if !ok {
			continue
		}
		n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		switch k {
		case "syscr":
			reads = n
		case "syscw":
			writes = n
		}
	}
	return reads, writes, nil
}
