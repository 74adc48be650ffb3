package admin

import (
	"bytes"
	"context"
	"flag"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"

	"github.com/shadowplane/shadowplane/analysis"
	"github.com/shadowplane/shadowplane/analysis/metrics"
	"github.com/shadowplane/shadowplane/policy"
	"github.com/shadowplane/shadowplane/policy/files"
	"github.com/shadowplane/shadowplane/xds/server"
)

var update = flag.Bool("update", false, "rewrite testdata/api from the admin API's current answers")

// The answers of the admin API are a contract with the web view
// (ui/assets/app.js), `shadowplane status`, the control commands and
// whatever operators script against them. TestAPIContract pins them:
// each case is one request against fully populated internal values
// (every field set, and the zero and empty shapes that omitempty and
// null depend on), and its answer must equal testdata/api/<case>.json
// byte for byte. A change to the API shows as a diff of those files;
// `go test ./admin -run TestAPIContract -update` rewrites them once the
// change is meant.
var contractCases = []struct {
	name   string
	empty  bool // against a handler with no proxies, files or experiments
	method string
	path   string
	code   int
}{
	{name: "experiments", method: "GET", path: "/api/v1/experiments", code: 200},
	{name: "experiments-page", method: "GET", path: "/api/v1/experiments?limit=1", code: 200},
	{name: "experiments-empty", empty: true, method: "GET", path: "/api/v1/experiments", code: 200},
	{name: "policies", method: "GET", path: "/api/v1/policies", code: 200},
	{name: "policies-page", method: "GET", path: "/api/v1/policies?limit=1", code: 200},
	{name: "policies-empty", empty: true, method: "GET", path: "/api/v1/policies", code: 200},
	{name: "proxies", method: "GET", path: "/api/v1/proxies", code: 200},
	{name: "proxies-page", method: "GET", path: "/api/v1/proxies?limit=1", code: 200},
	{name: "proxies-empty", empty: true, method: "GET", path: "/api/v1/proxies", code: 200},
	{name: "control", method: "POST", path: "/api/v1/experiments/checkout-canary/pause", code: 200},
	{name: "control-unknown", method: "POST", path: "/api/v1/experiments/nope/pause", code: 404},
	{name: "control-bad-action", method: "POST", path: "/api/v1/experiments/checkout-canary/explode", code: 400},
	{name: "bad-limit", method: "GET", path: "/api/v1/proxies?limit=0", code: 400},
}

func TestAPIContract(t *testing.T) {
	full, empty := contractHandler(t, false), contractHandler(t, true)
	want := map[string]bool{}
	for _, c := range contractCases {
		t.Run(c.name, func(t *testing.T) {
			h := full
			if c.empty {
				h = empty
			}
			var body *strings.Reader
			if c.method == "POST" {
				body = strings.NewReader(`{"reason": "looking into p95"}`)
			} else {
				body = strings.NewReader("")
			}
			r := httptest.NewRequest(c.method, "http://127.0.0.1:19000"+c.path, body)
			if c.method == "POST" {
				r.Header.Set("Content-Type", "application/json")
				r.Header.Set("Authorization", "Bearer "+testToken)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != c.code {
				t.Fatalf("%s %s: %d, want %d: %s", c.method, c.path, w.Code, c.code, w.Body)
			}
			if ct := w.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q, want application/json", ct)
			}
			for _, secret := range []string{"s3cret", "hunter2", "XXXXSECRET", "pw0rd"} {
				if strings.Contains(w.Body.String(), secret) {
					t.Errorf("the answer shows the secret %q", secret)
				}
			}
			golden := filepath.Join("testdata", "api", c.name+".json")
			want[golden] = true
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, w.Body.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			exp, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (go test ./admin -run TestAPIContract -update writes it)", err)
			}
			if !bytes.Equal(w.Body.Bytes(), exp) {
				t.Errorf("%s %s answers differently from %s (the API contract); if the change is meant, rerun with -update and review the diff.\ngot:\n%s", c.method, c.path, golden, w.Body)
			}
		})
	}
	// A golden file no case writes is a contract nobody checks.
	have, _ := filepath.Glob(filepath.Join("testdata", "api", "*.json"))
	for _, f := range have {
		if want[f] {
			continue
		}
		if *update {
			os.Remove(f)
			continue
		}
		t.Errorf("%s belongs to no case of TestAPIContract", f)
	}
}

// contractHandler is the API over the contract fixtures, or over nothing.
func contractHandler(t *testing.T, empty bool) http.Handler {
	t.Helper()
	tok, err := NewToken(testToken)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Token: tok, Ready: func() bool { return true }}
	if empty {
		cfg.Proxies = fixedProxyList(nil)
		cfg.Policies = fixedPolicies{}
		return NewHandler(cfg)
	}
	cfg.Proxies = fixedProxyList(contractProxies())
	cfg.Policies = fixedPolicies{status: contractFiles(), stats: contractStats()}
	cfg.Experiments = fixedExperiments(contractStates())
	cfg.Leadership = fixedLeadership{}
	cfg.Controls = contractControls{}
	return NewHandler(cfg)
}

type fixedProxyList []server.Proxy

func (p fixedProxyList) Proxies() []server.Proxy      { return p }
func (fixedProxyList) Node(string) (*core.Node, bool) { return nil, false }

type fixedPolicies struct {
	status []files.FileStatus
	stats  files.WatcherStats
}

func (p fixedPolicies) Status() []files.FileStatus { return p.status }
func (p fixedPolicies) Stats() files.WatcherStats  { return p.stats }

type fixedLeadership struct{}

func (fixedLeadership) Identity() string { return "shadowplane-0" }
func (fixedLeadership) Leader() string   { return "shadowplane-1" }
func (fixedLeadership) IsLeader() bool   { return false }

// contractControls answers every control on checkout-canary with its
// full state, and refuses the others as unknown.
type contractControls struct{}

func (contractControls) Control(_ context.Context, name string, _ analysis.Action, _ analysis.ControlOptions) (analysis.State, error) {
	if name != "checkout-canary" {
		return analysis.State{}, analysis.ErrUnknownExperiment
	}
	return contractStates()[1], nil
}

// Fixed instants: one in UTC with nanoseconds, one in another zone, so
// that the format of times is pinned.
var (
	at0 = time.Date(2025, 3, 4, 5, 6, 7, 891011121, time.UTC)
	at1 = time.Date(2025, 3, 4, 6, 7, 8, 0, time.FixedZone("CET", 3600))
)

func u32p(n uint32) *uint32   { return &n }
func f64p(f float64) *float64 { return &f }
func intp(n int) *int         { return &n }

// contractStates are three experiments: one with nothing set (nil slices
// and maps, zero times), one with every field set, credentials in every
// place one can hide, and one with empty but non-nil slices and maps.
func contractStates() []analysis.State {
	split := []policy.Backend{{Variant: "v1", Weight: u32p(60)}, {Variant: "v2", Weight: u32p(40)}, {Variant: "v3"}}
	obs := analysis.Observations{
		"v1": {
			"error-rate": {Value: 0.004, Samples: 1200, Type: metrics.Ratio, Scale: 1, Unit: "ratio", Events: 4.8},
			"latency-p95": {Value: 0.25, Samples: 1200, Type: metrics.Quantile, Quantile: 0.95, Scale: 1000, Unit: "ms", Sum: 300.5,
				Buckets: []metrics.Bucket{{UpperBound: 0.1, Count: 600}, {UpperBound: 0.25, Count: 1150}, {UpperBound: math.Inf(1), Count: 1200}}},
		},
		"v2": {
			"error-rate":  {Error: "query http://scraper:hunter2@prom:9090/api/v1/query failed: timeout"},
			"latency-p95": {Error: "no requests yet", NoData: true},
			"conversions": {Value: 17, Samples: 300, Type: metrics.Count},
		},
		"v3": nil,
	}
	verdicts := []analysis.Verdict{
		{Version: "v2", Metric: "latency-p95", Objective: 1, Value: 0.3, Samples: 900, Outcome: analysis.Pending, Leaning: true,
			Checks: []analysis.Check{
				{Quantity: "latency-p95 ÷ v1's", Unit: "×", Op: "<=", Limit: 1.2, Estimate: 1.1, Samples: 900,
					Low: f64p(0.9), High: f64p(1.3), Outcome: analysis.Pending, Need: f64p(2500), Note: "a limit inside a histogram bucket"},
				{Quantity: "latency-p95", Op: ">=", Limit: 0.5, Estimate: 0.6, Samples: 900, Outcome: analysis.Pass},
			},
			Why: "not shown within 1.2× yet"},
		{Version: "v1", Metric: "error-rate", Objective: 0, Value: 0.004, Samples: 1200, Outcome: analysis.Pass, Pass: true,
			Checks: []analysis.Check{}, Why: "shown under 1%"},
		{Version: "v3", Metric: "error-rate", Outcome: analysis.Fail},
	}
	full := analysis.State{
		Experiment: "checkout-canary",
		Spec: policy.Experiment{
			APIVersion: "shadowplane.io/v1alpha1", Kind: policy.KindExperiment, Name: "checkout-canary",
			App: "checkout", Route: "default", Testing: policy.Canary, Deployment: policy.Progressive,
			Baseline: "v1", Candidates: []string{"v2", "v3"},
			Steps: policy.Steps{MaxWeight: 90, StepWeight: 10},
			Objectives: []policy.Objective{
				{Metric: "error-rate", UpperLimit: f64p(0.01)},
				{Metric: "latency-p95", UpperLimit: f64p(1.2), LowerLimit: f64p(0.5), RelativeTo: "baseline"},
			},
			Reward:   &policy.Reward{Metric: "conversions", PreferHigher: true},
			Interval: 10 * time.Second, Iterations: 10, MinSamples: 20, Alpha: 0.05, FailureLimit: 2,
			MaxStepDuration: 30 * time.Minute, OnInconclusive: policy.Pause, MaxNoData: 3, OnNoData: policy.Hold,
			OnSuccess: policy.Promote, OnFailure: policy.Rollback,
			Approval:  &policy.Approval{BeforePromotion: true, BeforeWeight: 50},
			WriteBack: true,
			Metrics: policy.MetricsSource{
				Provider:   policy.ProviderPrometheus,
				Prometheus: "https://reader:s3cret@prom.example:9090/prom?token=pw0rd#frag",
				Targets: map[string][]string{
					"v1": {"http://scraper:hunter2@v1:8080/metrics", "http://v1b:8080/metrics"},
					"*":  {"http://envoy:9901/stats/prometheus"},
					"v2": {},
					"v3": nil,
				},
			},
			Webhooks: []policy.Webhook{
				{Name: "slack", URL: "https://hooks.slack.com/services/T000/B000/XXXXSECRET", Events: []string{"started", "promoted"},
					Type: "notify", Format: "slack", Timeout: 5 * time.Second, Retries: intp(3)},
				{Name: "gate", URL: "https://ci.example/hooks/confirm?key=pw0rd"},
			},
			Source: policy.Source{File: "policies/checkout.yaml", Line: 42},
		},
		Stage:     analysis.WaitingApproval,
		Iteration: 4, NoData: 1, Failures: 2,
		Route:       analysis.Route{Split: split, MirrorOff: true},
		LastGood:    analysis.Route{Split: []policy.Backend{{Variant: "v1", Weight: u32p(70)}, {Variant: "v2", Weight: u32p(30)}}},
		Winner:      "v2 (see http://u:hunter2@grafana.example/d/1)",
		Reason:      "waiting for approval (beforeWeight 50); metrics at https://reader:s3cret@prom.example:9090/ said so",
		WindowStart: at0, StartedAt: at1, UpdatedAt: at0.Add(time.Minute),
		History: []analysis.Record{
			{Iteration: 4, At: at0, WindowStart: at1, Observations: obs, Verdicts: verdicts, Action: analysis.Advance,
				Reason:  "all objectives within limits; read from http://scraper:hunter2@v1:8080/metrics",
				Weights: map[string]uint32{"v1": 60, "v2": 40, "v3": 0}, MirrorOff: true},
			{Iteration: 4, At: at1, Action: analysis.Hold, Reason: "metrics down"},
			{Observations: analysis.Observations{}, Verdicts: []analysis.Verdict{}, Weights: map[string]uint32{}},
		},
		Events: []analysis.HistoryEntry{
			{Time: at0, Action: string(analysis.ActionPause), By: "alice via http://alice:pw0rd@sso", Reason: "looking at https://reader:s3cret@prom.example:9090/", Result: "ok: http://x:hunter2@y/"},
			{Time: at1, Action: "webhook:started"},
		},
		Gate: "beforeWeight 50",
		Held: &analysis.HeldDecision{Action: analysis.Advance, Stage: analysis.Running, Iteration: 5,
			Route: analysis.Route{Split: split, MirrorOff: true}, Winner: "v2", Reason: "step to 50 % (http://u:hunter2@h/)"},
		Approved: []string{"beforePromotion", "beforeWeight 30"},
		Warning:  "removing the experiment leaves its route at 60/40",
	}
	emptyish := analysis.State{
		Experiment: "empty-canary",
		Spec: policy.Experiment{Name: "empty-canary", Candidates: []string{}, Objectives: []policy.Objective{},
			Webhooks: []policy.Webhook{}, Metrics: policy.MetricsSource{Targets: map[string][]string{}}},
		Stage:    analysis.Running,
		Route:    analysis.Route{Split: []policy.Backend{}},
		History:  []analysis.Record{},
		Events:   []analysis.HistoryEntry{},
		Held:     &analysis.HeldDecision{},
		Approved: []string{},
	}
	return []analysis.State{{Experiment: "bare"}, full, emptyish}
}

// contractFiles are a rejected file served from a version saved before a
// restart, with every field set; a good one with nothing else set; and a
// rejected one with empty lists.
func contractFiles() []files.FileStatus {
	return []files.FileStatus{
		{Path: "policies/checkout.yaml", Stale: true, Restored: true,
			Problems: []policy.Problem{{File: "policies/checkout.yaml", Line: 7, Message: "routes[0].split: weights sum to 90"}, {File: "policies/checkout.yaml", Message: "whole file"}},
			Warnings: []policy.Problem{{File: "policies/checkout.yaml", Line: 3, Message: "unused variant v3"}},
			LoadedAt: at1, Apps: []string{"checkout", "cart"}, Experiments: []string{"checkout-canary"}},
		{Path: "policies/good.yaml", OK: true},
		{Path: "policies/rejected.yaml", Problems: []policy.Problem{}, Warnings: []policy.Problem{}, Apps: []string{}, Experiments: []string{}},
	}
}

func contractStats() files.WatcherStats {
	return files.WatcherStats{Reloads: 12, ReloadErrors: 3, LastReloadDuration: 1500 * time.Microsecond, LastReload: at0, DirError: "open policies: permission denied"}
}

// contractProxies are an Envoy with every field set, a bare one, and a
// gRPC client with an empty type map.
func contractProxies() []server.Proxy {
	return []server.Proxy{
		{StreamID: 12, NodeID: "edge-1", Cluster: "edge", UserAgent: "envoy/1.31.0", Kind: "envoy", Group: "edge/envoy",
			Protocol: "sotw", Identity: "spiffe://example.org/edge", ConnectedAt: at0,
			Types: map[string]*server.TypeStatus{
				"clusters": {SentVersion: "v7", SentNonce: "n7", SentAt: at0, AckedVersion: "v6", AckedAt: at1, Pushes: 7,
					LastNack: &server.Nack{Version: "v7", Nonce: "n7", Error: "cluster foo: bad weight", At: at0.Add(time.Second)},
					Nacks:    2, Names: []string{"a", "b"}, None: true},
				"endpoints": {},
			}},
		{StreamID: 3},
		{StreamID: 7, NodeID: "grpc-1", Kind: "grpc", Protocol: "delta", Types: map[string]*server.TypeStatus{}},
	}
}
