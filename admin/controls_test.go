package admin

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shadowplane/shadowplane/admin/api"
	"github.com/shadowplane/shadowplane/analysis"
)

// recordingControls is a Controls that records its calls and answers
// with err, or a state in stage Paused.
type recordingControls struct {
	mu    sync.Mutex
	calls []controlCall
	err   error
}

type controlCall struct {
	name   string
	action analysis.Action
	opts   analysis.ControlOptions
}

func (c *recordingControls) Control(_ context.Context, name string, a analysis.Action, opts analysis.ControlOptions) (analysis.State, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls = append(c.calls, controlCall{name, a, opts})
	if c.err != nil {
		return analysis.State{}, c.err
	}
	st := analysis.State{Experiment: name, Stage: analysis.Paused, Reason: "paused by " + opts.By + ": " + opts.Reason}
	st.Spec.Metrics.Prometheus = "http://user:hunter2@prom:9090"
	return st, nil
}

func (c *recordingControls) recorded() []controlCall {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]controlCall(nil), c.calls...)
}

const testToken = "correct horse battery staple"

func newControlAPI(t *testing.T, withToken bool) (*httptest.Server, *recordingControls) {
	t.Helper()
	rc := &recordingControls{}
	cfg := Config{Controls: rc, Gatherer: prometheus.NewRegistry(), Ready: func() bool { return true }}
	if withToken {
		tok, err := NewToken(testToken)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Token = tok
	}
	srv := httptest.NewServer(NewHandler(cfg))
	t.Cleanup(srv.Close)
	return srv, rc
}

// do sends a request and returns its status and the error message or body.
func do(t *testing.T, method, u string, body io.Reader, header map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		if strings.EqualFold(k, "Host") {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func bearer(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }

func TestControlNeedsTheToken(t *testing.T) {
	srv, rc := newControlAPI(t, true)
	u := srv.URL + "/api/v1/experiments/checkout-canary/pause"
	body := `{"reason": "looking into p95"}`
	json := map[string]string{"Content-Type": "application/json"}
	with := func(h map[string]string) map[string]string {
		out := map[string]string{}
		for k, v := range json {
			out[k] = v
		}
		for k, v := range h {
			out[k] = v
		}
		return out
	}

	if code, msg := do(t, "POST", u, strings.NewReader(body), json); code != 401 || !strings.Contains(msg, "Authorization") {
		t.Errorf("no token: %d %s, want 401 saying what to send", code, msg)
	}
	if code, msg := do(t, "POST", u, strings.NewReader(body), with(bearer("wrong"))); code != 401 || strings.Contains(msg, testToken) {
		t.Errorf("wrong token: %d %s, want 401", code, msg)
	}
	if code, _ := do(t, "POST", u, strings.NewReader(body), with(map[string]string{"Authorization": "Basic " + testToken})); code != 401 {
		t.Errorf("token under another scheme: %d, want 401", code)
	}
	if n := len(rc.recorded()); n != 0 {
		t.Fatalf("unauthenticated requests reached the controls %d times", n)
	}

	code, resp := do(t, "POST", u, strings.NewReader(body), with(bearer(testToken)))
	if code != 200 {
		t.Fatalf("right token: %d %s, want 200", code, resp)
	}
	var st analysis.State
	if err := unmarshal(resp, &st); err != nil || st.Stage != analysis.Paused || st.Experiment != "checkout-canary" {
		t.Errorf("answer %s (%v): want the new state", resp, err)
	}
	if strings.Contains(resp, "hunter2") {
		t.Errorf("the answer shows a metrics password: %s", resp)
	}
	h := with(bearer(testToken))
	h[ActorHeader] = "alice\tbob\xff" + strings.Repeat("x", 100)
	if code, resp := do(t, "POST", srv.URL+"/api/v1/experiments/search-ab/promote", strings.NewReader(`{"write": true}`), h); code != 200 {
		t.Fatalf("promote --write: %d %s", code, resp)
	}
	if code, resp := do(t, "POST", srv.URL+"/api/v1/experiments/search-ab/abort", nil, bearer(testToken)); code != 200 {
		t.Fatalf("abort with no body: %d %s", code, resp)
	}
	want := []controlCall{
		{"checkout-canary", "pause", analysis.ControlOptions{By: "token", Reason: "looking into p95"}},
		{"search-ab", "promote", analysis.ControlOptions{By: "alice bob?" + strings.Repeat("x", 54), Write: true}},
		{"search-ab", "abort", analysis.ControlOptions{By: "token"}},
	}
	if got := rc.recorded(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("controls got\n%+v\nwant\n%+v", got, want)
	}
}

func unmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }

func TestControlWithoutTokenConfigured(t *testing.T) {
	srv, rc := newControlAPI(t, false)
	code, msg := do(t, "POST", srv.URL+"/api/v1/experiments/x/pause", nil, bearer("anything"))
	if code != 403 || !strings.Contains(msg, "--admin-token-file") {
		t.Errorf("no token configured: %d %s, want 403 naming --admin-token-file", code, msg)
	}
	if len(rc.recorded()) != 0 {
		t.Error("the controls were called")
	}
	// Reading stays open.
	if code, _ := do(t, "GET", srv.URL+"/api/v1/experiments", nil, nil); code != 200 {
		t.Errorf("GET /api/v1/experiments = %d without a token, want 200", code)
	}
}

func TestGetCannotControl(t *testing.T) {
	srv, rc := newControlAPI(t, true)
	for _, method := range []string{"GET", "HEAD", "PUT", "DELETE", "PATCH"} {
		for _, a := range ControlActions {
			code, _ := do(t, method, srv.URL+"/api/v1/experiments/x/"+string(a), nil, bearer(testToken))
			if code != http.StatusMethodNotAllowed {
				t.Errorf("%s %s = %d, want 405", method, a, code)
			}
		}
	}
	if code, _ := do(t, "GET", srv.URL+"/api/v1/experiments/x/pause?reason=x", nil, bearer(testToken)); code != 405 {
		t.Errorf("GET with a query = %d, want 405", code)
	}
	if n := len(rc.recorded()); n != 0 {
		t.Errorf("other methods than POST reached the controls %d times", n)
	}
}

func TestControlRefusesCrossSite(t *testing.T) {
	srv, rc := newControlAPI(t, true)
	u := srv.URL + "/api/v1/experiments/x/abort"
	host := strings.TrimPrefix(srv.URL, "http://")
	for _, tc := range []struct {
		name string
		h    map[string]string
	}{
		{"Origin of another site", map[string]string{"Origin": "http://evil.example"}},
		{"Origin on another port", map[string]string{"Origin": "http://127.0.0.1:1"}},
		{"opaque Origin", map[string]string{"Origin": "null"}},
		{"Sec-Fetch-Site cross-site", map[string]string{"Sec-Fetch-Site": "cross-site"}},
		{"Sec-Fetch-Site same-site", map[string]string{"Sec-Fetch-Site": "same-site", "Origin": "http://" + host}},
	} {
		h := bearer(testToken)
		for k, v := range tc.h {
			h[k] = v
		}
		h["Content-Type"] = "application/json"
		if code, msg := do(t, "POST", u, strings.NewReader(`{"reason":"x"}`), h); code != 403 || !strings.Contains(msg, "cross-site") {
			t.Errorf("%s: %d %s, want 403 cross-site", tc.name, code, msg)
		}
	}
	// What a cross-site HTML form sends: no Authorization (a form cannot
	// set it), form encoding, the other site's Origin.
	form := url.Values{"reason": {"pwned"}}.Encode()
	formHeader := map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}
	if code, _ := do(t, "POST", u, strings.NewReader(form), formHeader); code != 403 {
		t.Errorf("cross-site form post: %d, want 403", code)
	}
	// Even from an old browser that sends neither header, the form has no
	// token; and with one, a form body is not JSON.
	if code, _ := do(t, "POST", u, strings.NewReader(form), map[string]string{"Content-Type": "application/x-www-form-urlencoded"}); code != 401 {
		t.Errorf("form post without Origin: %d, want 401", code)
	}
	if code, _ := do(t, "POST", u, strings.NewReader(form), map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Authorization": "Bearer " + testToken}); code != http.StatusUnsupportedMediaType {
		t.Errorf("form body with the token: %d, want 415", code)
	}
	if n := len(rc.recorded()); n != 0 {
		t.Fatalf("cross-site requests reached the controls %d times", n)
	}
	// The page's own requests pass.
	same := bearer(testToken)
	same["Origin"], same["Sec-Fetch-Site"] = srv.URL, "same-origin"
	if code, msg := do(t, "POST", u, nil, same); code != 200 {
		t.Errorf("same-origin POST: %d %s, want 200", code, msg)
	}
}

func TestControlStatusCodes(t *testing.T) {
	srv, rc := newControlAPI(t, true)
	post := func(path, body string) (int, string) {
		h := bearer(testToken)
		h["Content-Type"] = "application/json"
		return do(t, "POST", srv.URL+path, strings.NewReader(body), h)
	}
	for _, tc := range []struct {
		name, path, body string
		err              error
		code             int
		says             string
	}{
		{"unknown action", "/api/v1/experiments/x/delete", "", nil, 400, "unknown action"},
		{"bad JSON", "/api/v1/experiments/x/pause", "{", nil, 400, "bad body"},
		{"unknown field", "/api/v1/experiments/x/pause", `{"reason":"x","force":true}`, nil, 400, "force"},
		{"two values", "/api/v1/experiments/x/pause", `{} {}`, nil, 400, "more than one"},
		{"write with pause", "/api/v1/experiments/x/pause", `{"write":true}`, nil, 400, "promote only"},
		{"too long reason", "/api/v1/experiments/x/pause", `{"reason":"` + strings.Repeat("a", 1001) + `"}`, nil, 400, "reason over"},
		{"too large body", "/api/v1/experiments/x/pause", `{"reason":"` + strings.Repeat("a", 70<<10) + `"}`, nil, 413, "64 KiB"},
		{"unknown experiment", "/api/v1/experiments/x/pause", "", fmt.Errorf("%w: x", analysis.ErrUnknownExperiment), 404, "x"},
		{"not applicable", "/api/v1/experiments/x/resume", "", fmt.Errorf("%w: x is running, not paused", analysis.ErrNotApplicable), 409, "not paused"},
		{"not the leader", "/api/v1/experiments/x/pause", "", fmt.Errorf("%w: replica-b leads", analysis.ErrNotLeader), 503, "replica-b"},
		{"other failure", "/api/v1/experiments/x/pause", "", fmt.Errorf("disk full"), 500, "disk full"},
	} {
		rc.err = tc.err
		before := len(rc.recorded())
		code, msg := post(tc.path, tc.body)
		if code != tc.code || !strings.Contains(msg, tc.says) {
			t.Errorf("%s: %d %.200s, want %d saying %q", tc.name, code, msg, tc.code, tc.says)
		}
		if called := len(rc.recorded()) > before; called != (tc.err != nil) {
			t.Errorf("%s: controls called %v", tc.name, called)
		}
	}
}

func TestClientControl(t *testing.T) {
	srv, rc := newControlAPI(t, true)
	st, err := Control(t.Context(), srv.Client(), srv.URL, testToken, "a b/c", "pause", api.ControlRequest{Reason: "why"}, "carol")
	if err != nil || st.Stage != api.Paused {
		t.Fatalf("Control = %v, %v", st.Stage, err)
	}
	if got := rc.recorded(); len(got) != 1 || got[0].name != "a b/c" || got[0].opts.By != "carol" || got[0].opts.Reason != "why" {
		t.Errorf("controls got %+v", got)
	}
	_, err = Control(t.Context(), srv.Client(), srv.URL, "wrong", "x", "pause", api.ControlRequest{}, "")
	ce, ok := err.(*ControlError)
	if !ok || ce.Status != 401 || !strings.Contains(err.Error(), "token") {
		t.Errorf("wrong token: %v, want a 401 ControlError", err)
	}
}
