//go:build unix

package compose

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestTrafficScriptSyntax parses traffic.sh with every POSIX shell at
// hand (the curl image runs it with busybox sh).
func TestTrafficScriptSyntax(t *testing.T) {
	ran := false
	for _, sh := range [][]string{{"sh"}, {"dash"}, {"busybox", "sh"}} {
		if _, err := exec.LookPath(sh[0]); err != nil {
			continue
		}
		ran = true
		out, err := exec.Command(sh[0], append(sh[1:], "-n", "traffic.sh")...).CombinedOutput()
		if err != nil {
			t.Errorf("%s -n traffic.sh: %v\n%s", strings.Join(sh, " "), err, out)
		}
	}
	if !ran {
		t.Skip("no POSIX shell on PATH")
	}
}

// TestTrafficScriptReports runs traffic.sh against a stand-in for Envoy
// that answers as the sample app does behind a wakanda split, and checks
// the summary line a user reads in `docker compose logs`.
func TestTrafficScriptReports(t *testing.T) {
	for _, tool := range []string{"sh", "curl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("no %s on PATH", tool)
		}
	}
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Host != "example.com" {
			http.Error(w, "no route", http.StatusNotFound)
			return
		}
		if r.Header.Get("country") != "wakanda" {
			fmt.Fprintln(w, "version=v1")
			return
		}
		if n.Add(1)%2 == 0 {
			w.WriteHeader(http.StatusInternalServerError)
			fmt.Fprintln(w, "injected error version=v2")
			return
		}
		fmt.Fprintln(w, "version=v1")
	}))
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", "traffic.sh", "wakanda:0.01", "-:0.01")
	cmd.Env = append(os.Environ(), "TARGET="+srv.URL+"/", "REPORT_EVERY=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// SIGTERM, as docker compose stop sends: the script stops its loops.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 5 * time.Second
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }()

	line := regexp.MustCompile(`^\[(country: wakanda|no country)\] (\d+) requests in \d+s: v1 (\d+) \(\d+%\), v2 (\d+) \(\d+%\), other (\d+), 5xx (\d+), no answer (\d+)$`)
	// A report covers one second, so on a busy machine it may hold a
	// single wakanda request, answered by v1: read until both loops have
	// reported and some report shows v2, rather than expect every report
	// to hold both versions.
	seen := map[string]bool{}
	sawV2 := false
	sc := bufio.NewScanner(stdout)
	for (len(seen) < 2 || !sawV2) && sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(l, "sending requests") {
			continue
		}
		m := line.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("unexpected line %q", l)
		}
		total, v1, v2, other, errs, none := atoi(m[2]), atoi(m[3]), atoi(m[4]), atoi(m[5]), atoi(m[6]), atoi(m[7])
		if total == 0 || v1+v2+other+none != total || other != 0 || none != 0 {
			t.Errorf("counts do not add up: %q", l)
		}
		switch m[1] {
		case "country: wakanda":
			if errs != v2 {
				t.Errorf("wakanda: want v2's injected errors counted as v2 and as 5xx: %q", l)
			}
			sawV2 = sawV2 || v2 > 0
		case "no country":
			if v2 != 0 || errs != 0 {
				t.Errorf("no country: all v1, no errors: %q", l)
			}
		}
		seen[m[1]] = true
	}
	if len(seen) < 2 || !sawV2 {
		t.Fatalf("saw reports for %v only (v2 seen: %v)", seen, sawV2)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("traffic.sh on SIGTERM: %v, want exit 0", err)
		}
	case <-time.After(5 * time.Second):
		t.Errorf("traffic.sh did not stop on SIGTERM")
	}
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}
