package hostile

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shadowplane/shadowplane/admin/api"
	"github.com/shadowplane/shadowplane/test/serveproc"
)

// Bounds of every case: generous beside what the fixed code needs on 2
// busy cores (validate of 10,000 files: under 10 s; the duplicate-hosts
// file: about 500 MB), far below what the issue measured before the
// fixes (389 s for 10,000 files, 2.75 GB for the duplicate hosts).
const (
	processDeadline = 90 * time.Second
	maxValidateRSS  = 1 << 30
	maxServeRSS     = 3 << 29 // 1.5 GiB
)

// validateRun is what one `shadowplane validate` did.
type validateRun struct {
	out     string // stdout and stderr
	code    int    // exit status
	peakRSS int64  // bytes
}

// runValidate runs `shadowplane validate args...` to its end, within
// processDeadline, and checks its peak memory.
func runValidate(t *testing.T, args ...string) validateRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), processDeadline)
	defer cancel()
	cmd := exec.CommandContext(ctx, Binary, append([]string{"validate", "--state-dir", t.TempDir()}, args...)...)
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("validate %v did not end within %s", args, processDeadline)
	}
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("validate %v: %v", args, err)
	}
	r := validateRun{out: string(out), code: cmd.ProcessState.ExitCode()}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		r.peakRSS = ru.Maxrss * 1024 // kilobytes on Linux
	}
	if r.peakRSS > maxValidateRSS {
		t.Errorf("validate %v: peak memory %d MB, over the bound of %d MB", args, r.peakRSS>>20, maxValidateRSS>>20)
	}
	return r
}

// serving is a `shadowplane serve` whose log tells the test when the
// policies change: reloaded is signalled after each reload's status is
// published (serve logs the reload, or a rejected file, after that).
type serving struct {
	*serveproc.Proc
	reloaded chan struct{}
}

// startServe runs `shadowplane serve` on dir until the test ends.
func startServe(t *testing.T, dir string, extra ...string) *serving {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	reloaded := make(chan struct{}, 1)
	logf := func(line string) {
		t.Log("shadowplane: " + shortLine(line))
		if strings.Contains(line, "policy reloaded") || strings.Contains(line, "policy file rejected") {
			select {
			case reloaded <- struct{}{}:
			default: // one pending signal is enough: the waiter reads the status anew
			}
		}
	}
	p, err := serveproc.Start(ctx, Binary, dir, logf, extra...)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if peak, err := peakRSS(p.PID()); err == nil && peak > maxServeRSS {
			t.Errorf("serve: peak memory %d MB, over the bound of %d MB", peak>>20, maxServeRSS>>20)
		}
		cancel()
		p.Wait()
	})
	return &serving{Proc: p, reloaded: reloaded}
}

// shortLine keeps test logs readable when a log line is long (which
// serve's should not be: policy bounds its messages).
func shortLine(s string) string {
	if len(s) > 2000 {
		return s[:2000] + fmt.Sprintf("… (%d bytes)", len(s))
	}
	return s
}

// peakRSS is a running process's peak resident memory (VmHWM).
func peakRSS(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb * 1024, err
		}
	}
	return 0, errors.New("no VmHWM in /proc/PID/status")
}

// get fetches an admin API path, within a deadline, and returns the body.
func get(t *testing.T, p *serveproc.Proc, path string) []byte {
	t.Helper()
	client := &http.Client{Timeout: processDeadline}
	resp, err := client.Get(p.Admin + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s = %d %v: %.300s", path, resp.StatusCode, err, body)
	}
	return body
}

// getPolicies reads /api/v1/policies, and the size of its answer.
func getPolicies(t *testing.T, p *serveproc.Proc) (api.PolicyList, int) {
	t.Helper()
	body := get(t, p, "/api/v1/policies?limit=1000")
	var ps api.PolicyList
	if err := json.Unmarshal(body, &ps); err != nil {
		t.Fatalf("/api/v1/policies: %v", err)
	}
	return ps, len(body)
}

// waitPolicies reads /api/v1/policies until cond holds, again after each
// reload serve logs, within processDeadline: a wait for a result, not a
// timed assertion.
func waitPolicies(t *testing.T, p *serving, what string, cond func(api.PolicyList) bool) api.PolicyList {
	t.Helper()
	deadline := time.NewTimer(processDeadline)
	defer deadline.Stop()
	for {
		ps, _ := getPolicies(t, p.Proc)
		if cond(ps) {
			return ps
		}
		select {
		case <-p.reloaded:
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s: %+v", what, ps)
		}
	}
}
