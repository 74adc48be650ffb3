package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shadowplane/shadowplane/analysis"
	"github.com/shadowplane/shadowplane/policy"
)

const promotionPolicy = `kind: App
name: web
port: 10000
variants:
  - {name: v1, endpoints: ["127.0.0.1:9001"]}
  - {name: v2, endpoints: ["127.0.0.1:9002"]}
routes:
  - name: default
    split: [{variant: v1, weight: 100}, {variant: v2, weight: 0}]
    mirror: {variant: v2}
---
kind: Experiment
name: canary
app: web
route: default
testing: Canary
baseline: v1
candidates: [v2]
objectives: [{metric: envoy/error-rate, upperLimit: 0.01}]
metrics: {targets: {"*": ["http://127.0.0.1:9901/stats/prometheus"]}}
`

func promotionWeight(n uint32) *uint32 { return &n }

func promotionModel(t *testing.T) *policy.Model {
	t.Helper()
	f, ps := policy.ParseFile("web.yaml", []byte(promotionPolicy))
	if len(ps) > 0 {
		t.Fatal(policy.JoinProblems(ps))
	}
	m, ps := policy.Assemble([]policy.File{f})
	if len(ps) > 0 {
		t.Fatal(policy.JoinProblems(ps))
	}
	return m
}

func promotionState(stage analysis.Stage, winner string, mirrorOff bool, split ...policy.Backend) *analysis.State {
	spec := policy.Experiment{Kind: policy.KindExperiment, Name: "canary", App: "web", Route: "default"}
	r := analysis.Route{Split: split, MirrorOff: mirrorOff}
	return &analysis.State{Experiment: "canary", Spec: spec, Stage: stage, Winner: winner, Route: r, LastGood: r}
}

// An ended experiment whose route the policy does not say is warned
// about; one the policy agrees with, a running one, and a state saved for
// another route are not.
func TestPromotionWarnings(t *testing.T) {
	m := promotionModel(t)
	v1, v2 := policy.Backend{Variant: "v1", Weight: promotionWeight(100)}, policy.Backend{Variant: "v2", Weight: promotionWeight(100)}
	for _, tc := range []struct {
		name  string
		state *analysis.State
		want  string // "" for no warning
	}{
		{name: "promoted", state: promotionState(analysis.Completed, "v2", true, v2),
			want: "web.yaml:12: warning: web/default: experiment canary promoted v2 to 100 and turned the mirror off, but the policy says v1 100 and a mirror to v2: removing the experiment moves traffic back; write the weights with `shadowplane promote canary --write` or edit the route"},
		{name: "promoted, mirror kept", state: promotionState(analysis.Completed, "v2", false, v2),
			want: "experiment canary promoted v2 to 100, but the policy says v1 100: removing"},
		{name: "rolled back to what the policy says", state: promotionState(analysis.RolledBack, "", false, v1)},
		{name: "policy written back, zero weights aside",
			state: promotionState(analysis.Completed, "v1", false, policy.Backend{Variant: "v2", Weight: promotionWeight(0)}, v1)},
		{name: "failed and kept", state: promotionState(analysis.Failed, "", false,
			policy.Backend{Variant: "v1", Weight: promotionWeight(70)}, policy.Backend{Variant: "v2", Weight: promotionWeight(30)}),
			want: "experiment canary ended Failed serving v1 70, v2 30, but the policy says v1 100: removing the experiment moves traffic"},
		{name: "running", state: promotionState(analysis.Running, "", false,
			policy.Backend{Variant: "v1", Weight: promotionWeight(70)}, policy.Backend{Variant: "v2", Weight: promotionWeight(30)})},
		{name: "state of another route", state: func() *analysis.State {
			st := promotionState(analysis.Completed, "v2", true, v2)
			st.Spec.Route = "other"
			return st
		}()},
		{name: "no state"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			states := map[string]*analysis.State{}
			if tc.state != nil {
				states["canary"] = tc.state
			}
			got := promotionWarnings(m, states)
			switch {
			case tc.want == "" && len(got) > 0:
				t.Errorf("got %q, want no warning", got)
			case tc.want != "" && (len(got) != 1 || !strings.Contains(got[0], tc.want)):
				t.Errorf("got %q, want one warning with %q", got, tc.want)
			}
		})
	}
}

// validate --state-dir reads the saved states and warns, exit status 0;
// a missing state directory is no error and is not created.
func TestValidateWarnsPromotionNotWritten(t *testing.T) {
	dir, stateDir := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "web.yaml"), []byte(promotionPolicy), 0o644); err != nil {
		t.Fatal(err)
	}
	store, err := analysis.NewStore(stateDir)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Save(promotionState(analysis.Completed, "v2", true, policy.Backend{Variant: "v2", Weight: promotionWeight(100)})); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runCmd(t, "validate", "--state-dir", stateDir, dir)
	if code != 0 || !strings.Contains(out, "warning: web/default: experiment canary promoted v2 to 100") || !strings.Contains(out, "1 warning(s)") {
		t.Errorf("validate = %d\n%s%s", code, out, errs)
	}

	missing := filepath.Join(t.TempDir(), "state")
	code, out, errs = runCmd(t, "validate", "--state-dir", missing, dir)
	if code != 0 || strings.Contains(out, "promoted") {
		t.Errorf("validate with no state = %d\n%s%s", code, out, errs)
	}
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Errorf("the state directory was created: %v", err)
	}
}
