// Package promserver runs a real Prometheus server for tests: the Debian
// package's binary, scraping the given targets, on a free loopback port,
// with its storage in the test's temporary directory.
//
// Without the binary a test is skipped, unless the environment variable CI
// is "true": CI installs it (apt-get install prometheus), so there its
// absence is a failure, not a reason to skip.
package promserver

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
)

// Binary is where Debian's prometheus package installs the server; PATH is
// searched when it is not there.
const Binary = "/usr/bin/prometheus"

// Server is a running Prometheus.
type Server struct {
	// URL is the server's base URL, e.g. http://127.0.0.1:41234.
	URL string

	cmd    *exec.Cmd
	done   chan struct{}
	output *syncBuffer
	stop   sync.Once
}

// Start runs Prometheus scraping targets (full URLs, e.g.
// http://127.0.0.1:8080/metrics) every interval, waits until it is ready
// and every target is up, and returns its base URL. It stops at cleanup.
func Start(t testing.TB, targets []string, interval time.Duration) string {
	return Run(t, targets, interval).URL
}

// Run is Start returning the Server, for tests that stop it early.
func Run(t testing.TB, targets []string, interval time.Duration) *Server {
	t.Helper()
	bin := binary(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "prometheus.yml")
	text, err := config(targets, interval)
	if err != nil {
		t.Fatalf("promserver: %v", err)
	}
	if err := os.WriteFile(cfg, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	// The free port can be taken between probe and bind; try again then.
	var s *Server
	for attempt := 0; ; attempt++ {
		s, err = launch(bin, cfg, filepath.Join(dir, "data"))
		if err == nil || attempt == 2 {
			break
		}
	}
	if err != nil {
		t.Fatalf("promserver: %v", err)
	}
	t.Cleanup(s.Stop)
	if err := s.waitTargetsUp(len(targets), 30*time.Second); err != nil {
		s.Stop()
		t.Fatalf("promserver: %v\n%s", err, s.output)
	}
	return s
}

func binary(t testing.TB) string {
	t.Helper()
	if _, err := os.Stat(Binary); err == nil {
		return Binary
	}
	if p, err := exec.LookPath("prometheus"); err == nil {
		return p
	}
	msg := "prometheus binary not found at " + Binary + " or on PATH: apt-get install -y prometheus"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg + " (CI must install it)")
	}
	t.Skip(msg)
	return ""
}

// config is a prometheus.yml with one job per target.
func config(targets []string, interval time.Duration) (string, error) {
	iv := model.Duration(interval).String()
	var b strings.Builder
	fmt.Fprintf(&b, "global:\n  scrape_interval: %s\n  scrape_timeout: %s\n  evaluation_interval: %s\nscrape_configs:\n", iv, iv, iv)
	for i, target := range targets {
		u, err := url.Parse(target)
		if err != nil || u.Host == "" {
			return "", fmt.Errorf("target %q is not a URL", target)
		}
		path := u.Path
		if path == "" {
			path = "/metrics"
		}
		fmt.Fprintf(&b, "  - job_name: %q\n    scheme: %s\n    metrics_path: %q\n    static_configs:\n      - targets: [%q]\n",
			JobName(i), u.Scheme, path, u.Host)
	}
	return b.String(), nil
}

// JobName is the job label of the i-th target.
func JobName(i int) string { return fmt.Sprintf("target%d", i) }

func launch(bin, cfg, data string) (*Server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := net.JoinHostPort("127.0.0.1", port)
	out := &syncBuffer{}
	cmd := exec.Command(bin,
		"--config.file="+cfg,
		"--storage.tsdb.path="+data,
		"--web.listen-address="+addr,
		"--log.level=warn",
	)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	s := &Server{URL: "http://" + addr, cmd: cmd, done: make(chan struct{}), output: out}
	go func() { cmd.Wait(); close(s.done) }()
	if err := s.waitReady(20 * time.Second); err != nil {
		s.Stop()
		return nil, fmt.Errorf("%w\n%s", err, out)
	}
	return s, nil
}

// Stop kills the server and waits for it to exit. It is safe to call more
// than once.
func (s *Server) Stop() {
	s.stop.Do(func() {
		s.cmd.Process.Kill()
		<-s.done
	})
}

// ScrapedAfter waits until every target has been scraped after the given
// time, and returns the earliest of their latest scrape times: a query at
// that instant sees everything the targets exposed at after.
func (s *Server) ScrapedAfter(t testing.TB, after time.Time) time.Time {
	t.Helper()
	c, err := api.NewClient(api.Config{Address: s.URL})
	if err != nil {
		t.Fatal(err)
	}
	promAPI := v1.NewAPI(c)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		res, _, _, err := promAPI.Query(ctx, "min(timestamp(up))", time.Now())
		cancel()
		if err == nil {
			if vec, ok := res.(model.Vector); ok && len(vec) == 1 {
				// timestamp() is in seconds with millisecond precision.
				ts := time.UnixMilli(int64(math.Round(float64(vec[0].Value) * 1000)))
				if ts.After(after) {
					return ts
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("promserver: no scrape after %s within 30s\n%s", after.Format(time.RFC3339Nano), s.Output())
	return time.Time{}
}

// Output is what the server logged so far.
func (s *Server) Output() string { return s.output.String() }

func (s *Server) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case <-s.done:
			return fmt.Errorf("prometheus exited before it was ready")
		default:
		}
		resp, err := http.Get(s.URL + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("prometheus at %s not ready within %s", s.URL, timeout)
}

// waitTargetsUp waits until n targets have been scraped successfully.
func (s *Server) waitTargetsUp(n int, timeout time.Duration) error {
	c, err := api.NewClient(api.Config{Address: s.URL})
	if err != nil {
		return err
	}
	promAPI := v1.NewAPI(c)
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		res, err := promAPI.Targets(ctx)
		cancel()
		if err == nil {
			up := 0
			last = ""
			for _, at := range res.Active {
				if at.Health == v1.HealthGood {
					up++
				} else {
					last += fmt.Sprintf(" %s: %s %s;", at.ScrapeURL, at.Health, at.LastError)
				}
			}
			if up == n {
				return nil
			}
		} else {
			last = err.Error()
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("targets not up within %s:%s", timeout, last)
}

func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	_, port, err := net.SplitHostPort(l.Addr().String())
	return port, err
}

// syncBuffer collects the server's output from its pipes' goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
