package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shadowplane/shadowplane/internal/redact"
)

// lineLog is serve's captured stderr; wait blocks until a line matches.
type lineLog struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{} // closed and replaced at every write
}

func newLineLog() *lineLog { return &lineLog{changed: make(chan struct{})} }

func (l *lineLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	close(l.changed)
	l.changed = make(chan struct{})
	return l.buf.Write(p)
}

func (l *lineLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// wait returns the first match of re in the log, waiting for writes; it
// gives up when ctx ends.
func (l *lineLog) wait(ctx context.Context, re *regexp.Regexp) (string, error) {
	for {
		l.mu.Lock()
		m := re.FindString(l.buf.String())
		ch := l.changed
		l.mu.Unlock()
		if m != "" {
			return m, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return "", fmt.Errorf("no log line matching %s", re)
		}
	}
}

// closedPort is a loopback address nothing listens on: fetches from it
// fail at once, and their errors quote the URL asked.
func closedPort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// TestServeShowsNoSecret plants a distinct secret in every place a
// policy can hold a credential — a Prometheus URL's user info and query,
// scrape targets' user info and query, webhook URLs' user info, query
// and secret path — runs serve with the experiments failing to reach
// them, and looks for the secrets in every GET answer of the admin API,
// in `shadowplane status` and in the log.
func TestServeShowsNoSecret(t *testing.T) {
	if testing.Short() {
		t.Skip("runs serve for a few seconds")
	}
	dead := closedPort(t)
	secrets := map[string]string{
		"prometheus password": "PromPassW0rd-1",
		"prometheus user":     "PromUserTok-2",
		"prometheus query":    "PromQueryTok-3",
		"target password":     "TargetPassW0rd-4",
		"target query":        "TargetQueryTok-5",
		"webhook password":    "HookPassW0rd-6",
		"webhook query":       "HookQueryTok-7",
		"slack path":          "SlackPathTok-8",
	}
	dir := t.TempDir()
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("app.yaml", `kind: App
name: web
hosts: [web.example]
port: 10000
variants:
  - {name: v1, endpoints: ["127.0.0.1:9001"]}
  - {name: v2, endpoints: ["127.0.0.1:9002"]}
routes:
  - name: default
    split: [{variant: v1, weight: 100}, {variant: v2, weight: 0}]
---
kind: App
name: api
hosts: [api.example]
port: 10000
variants:
  - {name: v1, endpoints: ["127.0.0.1:9003"]}
  - {name: v2, endpoints: ["127.0.0.1:9004"]}
routes:
  - name: default
    split: [{variant: v1, weight: 100}, {variant: v2, weight: 0}]
`)
	write("experiments.yaml", fmt.Sprintf(`kind: Experiment
name: scraped
app: web
route: default
testing: Canary
baseline: v1
candidates: [v2]
objectives: [{metric: envoy/error-rate, upperLimit: 0.01}]
interval: 100ms
metrics:
  targets:
    "*": ["http://scraper:%[2]s@%[1]s/stats/prometheus?key=%[3]s"]
webhooks:
  - name: audit
    url: http://auditor:%[4]s@%[1]s/hook?token=%[5]s
    retries: 0
  - name: chat
    url: https://hooks.slack.com/services/T000/B000/%[6]s
    events: [aborted]
    format: slack
---
kind: Experiment
name: queried
app: api
route: default
testing: Canary
baseline: v1
candidates: [v2]
objectives: [{metric: envoy/error-rate, upperLimit: 0.01}]
interval: 100ms
metrics:
  provider: prometheus
  prometheus: http://%[7]s:%[8]s@%[1]s/prom?token=%[9]s
`, dead, secrets["target password"], secrets["target query"], secrets["webhook password"], secrets["webhook query"],
		secrets["slack path"], secrets["prometheus user"], secrets["prometheus password"], secrets["prometheus query"]))

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	logs := newLineLog()
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--policies", dir, "--state-dir", t.TempDir(),
			"--xds-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0", "--log-level", "debug"}, io.Discard, logs)
	}()
	urlLine, err := logs.wait(ctx, regexp.MustCompile(`admin API listening: url=\S+`))
	if err != nil {
		t.Fatalf("%v:\n%s", err, logs)
	}
	base := strings.TrimPrefix(urlLine, "admin API listening: url=")

	// The failures that quote the URLs: a scrape target refused.
	if _, err := logs.wait(ctx, regexp.MustCompile(`metrics target failing.*`)); err != nil {
		t.Fatalf("%v:\n%s", err, logs)
	}
	var bodies = map[string]string{}
	get := func(path string) string {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		bodies[path] = string(b)
		return string(b)
	}
	// The runner logs a look after storing its state: once the
	// Prometheus experiment has looked, its failed query, whose error
	// quotes the URL, is in the answer.
	if _, err := logs.wait(ctx, regexp.MustCompile(`experiment look: experiment=queried .*`)); err != nil {
		t.Fatalf("%v:\n%s", err, logs)
	}
	if !strings.Contains(get("/api/v1/experiments"), "/prom/api/v1/query") {
		t.Fatalf("no failed query recorded:\n%s", bodies["/api/v1/experiments"])
	}
	for _, p := range []string{"/healthz", "/readyz", "/metrics", "/api/v1/proxies", "/api/v1/policies",
		"/ui/", "/debug/config_dump?node=n&cluster=web"} {
		get(p)
	}
	var status bytes.Buffer
	if code := run(ctx, []string{"status", "--admin", base}, &status, io.Discard); code != 0 {
		t.Fatalf("status exit %d", code)
	}
	bodies["shadowplane status"] = status.String()

	cancel()
	<-done
	bodies["log"] = logs.String()

	for where, text := range bodies {
		for what, s := range secrets {
			if strings.Contains(text, s) {
				t.Errorf("%s shows the %s:\n%s", where, what, excerpt(text, s))
			}
		}
	}
	// The places were shown, redacted: otherwise the test proves nothing.
	exp := bodies["/api/v1/experiments"]
	for _, want := range []string{"http://redacted@" + dead + "/stats/prometheus?key=redacted", "https://hooks.slack.com/…", "http://" + dead + "/…", "http://redacted@" + dead + "/prom?token=redacted"} {
		if !strings.Contains(exp, want) {
			t.Errorf("/api/v1/experiments does not show %s", want)
		}
	}
	if !strings.Contains(bodies["log"], "url=http://redacted@"+dead+"/stats/prometheus?key=redacted") {
		t.Errorf("the log does not name the failing target, redacted:\n%s", bodies["log"])
	}
}

// excerpt is the text around s.
func excerpt(text, s string) string {
	i := strings.Index(text, s)
	lo, hi := max(0, i-200), min(len(text), i+len(s)+200)
	return text[lo:hi]
}

// TestJSONLogRedacted: serve's JSON log goes through the same redaction,
// and its lines stay JSON: a URL quoted in an error is escaped there, and
// the escape must survive.
func TestJSONLogRedacted(t *testing.T) {
	var b bytes.Buffer
	log := newLogger(redact.Writer(&b), "info", true)
	log.Warn("metrics source down", "error", fmt.Errorf(`Post "http://reader:S3CRET@prom:9090/api/v1/query?token=S3CRET": connection refused`))
	line := strings.TrimSpace(b.String())
	var v map[string]any
	if err := json.Unmarshal([]byte(line), &v); err != nil {
		t.Fatalf("the redacted line is not JSON: %v\n%s", err, line)
	}
	if strings.Contains(line, "S3CRET") || !strings.Contains(v["error"].(string), `"http://redacted@prom:9090/api/v1/query?token=redacted"`) {
		t.Errorf("logged %s", line)
	}
}
