package main

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shadowplane/shadowplane/admin"
	"github.com/shadowplane/shadowplane/analysis"
)

// fakeControls answers every control with a state in the stage the
// action leads to, and refuses resume as not applicable.
type fakeControls struct {
	mu    sync.Mutex
	calls []string
}

func (f *fakeControls) Control(_ context.Context, name string, a analysis.Action, opts analysis.ControlOptions) (analysis.State, error) {
	f.mu.Lock()
	f.calls = append(f.calls, fmt.Sprintf("%s %s by=%s reason=%q write=%v", a, name, opts.By, opts.Reason, opts.Write))
	f.mu.Unlock()
	switch {
	case name != "checkout":
		return analysis.State{}, fmt.Errorf("%w: %q", analysis.ErrUnknownExperiment, name)
	case a == analysis.ActionResume:
		return analysis.State{}, fmt.Errorf("%w: resume: experiment is Running, not paused", analysis.ErrNotApplicable)
	case a == analysis.ActionPromote:
		return analysis.State{Experiment: name, Stage: analysis.Completed, Reason: "promoted by " + opts.By + ": v2 gets 100%"}, nil
	}
	return analysis.State{Experiment: name, Stage: analysis.Paused, Reason: "paused by " + opts.By + ": " + opts.Reason}, nil
}

func (f *fakeControls) recorded() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func writeToken(t *testing.T, content string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestControlCommands(t *testing.T) {
	tok, _ := admin.NewToken("tok3n")
	fake := &fakeControls{}
	srv := httptest.NewServer(admin.NewHandler(admin.Config{Controls: fake, Token: tok, Gatherer: prometheus.NewRegistry(), Ready: func() bool { return true }}))
	defer srv.Close()
	good := writeToken(t, "tok3n\n", 0o600)
	wrong := writeToken(t, "nope", 0o600)
	t.Setenv("USER", "dana")

	code, out, errs := runCmd(t, "pause", "checkout", "--reason", "p95 odd", "--admin", srv.URL, "--token-file", good)
	if code != 0 || out != "checkout: Paused\nreason: paused by dana: p95 odd\n" {
		t.Errorf("pause = %d %q %q", code, out, errs)
	}
	// The token file from the environment; flags before the name.
	t.Setenv(tokenFileEnv, good)
	code, out, errs = runCmd(t, "promote", "--write", "--admin", srv.URL+"/", "checkout")
	if code != 0 || !strings.Contains(out, "checkout: Completed") {
		t.Errorf("promote --write = %d %q %q", code, out, errs)
	}
	want := []string{`pause checkout by=dana reason="p95 odd" write=false`, `promote checkout by=dana reason="" write=true`}
	if got := fake.recorded(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("controls got %q, want %q", got, want)
	}

	for _, tc := range []struct {
		name string
		args []string
		code int
		says string
	}{
		{"wrong token", []string{"abort", "checkout", "--admin", srv.URL, "--token-file", wrong}, 1, "not authorized (HTTP 401)"},
		{"missing token file", []string{"abort", "checkout", "--admin", srv.URL, "--token-file", filepath.Join(t.TempDir(), "none")}, 1, "no such file"},
		{"unknown experiment", []string{"abort", "nope", "--admin", srv.URL}, 1, "no such experiment (HTTP 404)"},
		{"not applicable", []string{"resume", "checkout", "--admin", srv.URL}, 1, "not applicable now (HTTP 409): action does not apply to the experiment's stage: resume: experiment is Running, not paused"},
		{"no experiment", []string{"pause", "--admin", srv.URL}, 2, "usage: shadowplane pause EXPERIMENT"},
		{"write with pause", []string{"pause", "checkout", "--write"}, 2, "flag provided but not defined: -write"},
		{"two experiments", []string{"abort", "a", "b"}, 2, "usage: shadowplane abort"},
		{"no server", []string{"abort", "checkout", "--admin", "http://127.0.0.1:1"}, 1, "is shadowplane serve running?"},
	} {
		code, out, errs := runCmd(t, tc.args...)
		if code != tc.code || !strings.Contains(errs, tc.says) || out != "" {
			t.Errorf("%s: %v = %d %q %q, want %d saying %q", tc.name, tc.args, code, out, errs, tc.code, tc.says)
		}
	}
	t.Setenv(tokenFileEnv, "")
	if code, _, errs := runCmd(t, "pause", "checkout", "--admin", srv.URL); code != 1 || !strings.Contains(errs, tokenFileEnv) {
		t.Errorf("no token file at all = %d %q, want 1 naming %s", code, errs, tokenFileEnv)
	}
	if n := len(fake.recorded()); n != 4 { // the two above, the unknown experiment and the resume
		t.Errorf("%d calls reached the controls, want 4", n)
	}
}

// serve refuses to start with an admin address off loopback and no
// token, or with a token file that others may read; it says why.
func TestServeRefusesWithoutAProperToken(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		says string
	}{
		{"off loopback, no token", []string{"--admin-addr", "0.0.0.0:0"}, "--admin-token-file"},
		{"world-readable token", []string{"--admin-token-file", writeToken(t, "x", 0o644)}, "chmod 600"},
		{"empty token", []string{"--admin-token-file", writeToken(t, "", 0o600)}, "is empty"},
		{"missing token", []string{"--admin-token-file", filepath.Join(t.TempDir(), "none")}, "no such file"},
	} {
		args := append([]string{"serve", "--policies", "../../examples/canary-segment", "--state-dir", t.TempDir(),
			"--xds-addr", "127.0.0.1:0"}, tc.args...)
		if !strings.Contains(strings.Join(tc.args, " "), "--admin-addr") {
			args = append(args, "--admin-addr", "127.0.0.1:0")
		}
		code, _, errs := runCmd(t, args...)
		if code != 1 || !strings.Contains(errs, tc.says) {
			t.Errorf("%s: serve = %d %q, want 1 saying %q", tc.name, code, errs, tc.says)
		}
		if strings.Contains(errs, "listening") {
			t.Errorf("%s: serve started listening before refusing: %s", tc.name, errs)
		}
	}
}
