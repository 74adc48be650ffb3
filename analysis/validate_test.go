package analysis

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/shadowplane/shadowplane/policy"
)

// twoStepsIn is a valid state of m's experiment: two iterations passed,
// v2 at 40 after 20.
func twoStepsIn(m *policy.Model) *State {
	st := Start(&m.Experiments[0], &m.Apps[0].Routes[0], t0)
	st.LastGood, st.Route = st.Route, setWeight(st.Route, "v2", "v1", 40)
	st.Iteration, st.Reason, st.WindowStart, st.UpdatedAt = 2, "advanced to 40%", t0, t0
	return st
}

func writeState(t *testing.T, dir, name string, b []byte) string {
	t.Helper()
	path := filepath.Join(dir, name+stateSuffix)
	if err := os.WriteFile(path, b, 0o640); err != nil {
		t.Fatal(err)
	}
	return path
}

func marshal(t *testing.T, st *State) []byte {
	t.Helper()
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// policyWeights is what the segment model's policy itself serves.
func policyWeights(w map[string]uint32) bool { return w["v1"] == 100 && w["v2"] == 0 }

// A state that cannot be its experiment's holds the experiment: it is not
// served, the experiment is not restarted over it, the reason names the
// file and what is wrong, and the file is left as it was.
func TestInvalidStateHoldsTheExperiment(t *testing.T) {
	w := func(v uint32) *uint32 { return &v }
	for _, tc := range []struct {
		name string
		file func(*State) []byte
		want string
	}{
		{"empty object", func(*State) []byte { return []byte("{}") }, "no experiment name"},
		{"another experiment's state", func(st *State) []byte {
			st.Experiment, st.Spec.Name = "other", "other"
			return marshal(t, st)
		}, `holds the state of experiment "other", not of "wakanda"`},
		{"weights sum to 200", func(st *State) []byte {
			st.Route.Split = []policy.Backend{{Variant: "v1", Weight: w(100)}, {Variant: "v2", Weight: w(100)}}
			return marshal(t, st)
		}, "route: weights sum to 200, want 100"},
		{"unknown variant", func(st *State) []byte {
			st.Route.Split = []policy.Backend{{Variant: "v1", Weight: w(80)}, {Variant: "v3", Weight: w(20)}}
			return marshal(t, st)
		}, `route: variant "v3" is not a variant of app "sample-app"`},
		{"weight over 100", func(st *State) []byte {
			st.LastGood.Split = []policy.Backend{{Variant: "v1", Weight: w(150)}, {Variant: "v2", Weight: w(0)}}
			return marshal(t, st)
		}, `lastGood: variant "v1" has weight 150, more than 100`},
		{"no stage", func(st *State) []byte {
			st.Stage = ""
			return marshal(t, st)
		}, `stage "" is not one of`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				m := segmentModel(time.Second)
				dir := t.TempDir()
				content := tc.file(twoStepsIn(m))
				path := writeState(t, dir, "wakanda", content)
				pub := &recorder{}
				r := newTestRunner(t, dir, constant(healthy(5000)), pub)

				if w := wakanda(r.Effective(m)); !policyWeights(w) {
					t.Fatalf("first snapshot serves %v, want the policy's weights", w)
				}
				check := func(when string) {
					t.Helper()
					sts := r.States()
					if len(sts) != 1 {
						t.Fatalf("%s: states %+v, want the held experiment alone", when, sts)
					}
					st := sts[0]
					if st.Experiment != "wakanda" || st.Stage != Paused || st.Iteration != 0 || len(st.Route.Split) != 0 ||
						!strings.Contains(st.Reason, path+": "+tc.want) || !strings.Contains(st.Reason, "policy's weights") {
						t.Fatalf("%s: %s %s iteration %d weights %v: %q; want wakanda held (Paused) on the policy's weights, the reason naming %s and %q",
							when, st.Experiment, st.Stage, st.Iteration, st.Route.Weights(), st.Reason, path, tc.want)
					}
					if b, err := os.ReadFile(path); err != nil || !bytes.Equal(b, content) {
						t.Fatalf("%s: the invalid file was changed (%v):\n%s", when, err, b)
					}
				}
				check("loaded")

				if err := r.SetModel(t.Context(), m); err != nil {
					t.Fatal(err)
				}
				time.Sleep(10 * time.Second)
				synctest.Wait()
				check("after 10 intervals")
				pub.mu.Lock()
				defer pub.mu.Unlock()
				for _, w := range pub.served {
					if !policyWeights(w) {
						t.Fatalf("served %v while held, want the policy's weights only", w)
					}
				}
			})
		})
	}
}

// A held experiment leaves the hold when its file is removed or when it is
// edited into a new experiment, and not for a lesser edit; removed from the
// policy, its file is left.
func TestHeldExperimentLeavesTheHold(t *testing.T) {
	sum200 := func(m *policy.Model) []byte {
		st := twoStepsIn(m)
		*st.Route.Split[1].Weight = 100
		return marshal(t, st)
	}
	running := func(t *testing.T, r *Runner, dir string) {
		t.Helper()
		synctest.Wait()
		st := r.States()[0]
		if st.Stage != Running || st.Iteration != 0 || st.Route.Weights()["v2"] != 20 {
			t.Fatalf("%s iteration %d weights %v (%s), want started afresh at the first step", st.Stage, st.Iteration, st.Route.Weights(), st.Reason)
		}
		store, _ := NewStore(dir)
		if states, invalid, err := store.LoadAll(); err != nil || len(invalid) != 0 || states["wakanda"] == nil {
			t.Fatalf("after the restart the file loads as %v %v %v, want the new valid state", states, invalid, err)
		}
	}

	t.Run("file removed", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			m := segmentModel(time.Second)
			dir := t.TempDir()
			path := writeState(t, dir, "wakanda", sum200(m))
			r := newTestRunner(t, dir, constant(healthy(10)), &recorder{})
			r.SetModel(t.Context(), m)
			edited := segmentModel(time.Second)
			edited.Experiments[0].Objectives[0].UpperLimit = f(40)
			r.SetModel(t.Context(), edited)
			synctest.Wait()
			if st := r.States()[0]; st.Stage != Paused || !strings.Contains(st.Reason, "held") {
				t.Fatalf("an objectives edit ended the hold: %s %q", st.Stage, st.Reason)
			}
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
			r.SetModel(t.Context(), edited)
			running(t, r, dir)
		})
	})
	t.Run("new experiment", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			m := segmentModel(time.Second)
			dir := t.TempDir()
			writeState(t, dir, "wakanda", sum200(m))
			r := newTestRunner(t, dir, constant(healthy(10)), &recorder{})
			r.SetModel(t.Context(), m)
			edited := segmentModel(time.Second)
			edited.Experiments[0].Steps.StepWeight = 10
			r.SetModel(t.Context(), edited)
			synctest.Wait()
			if st := r.States()[0]; st.Stage != Paused || !strings.Contains(st.Reason, "held") {
				t.Fatalf("a steps edit ended the hold: %s %q", st.Stage, st.Reason)
			}
			// A new identity: an A/B test of the same versions.
			edited.Experiments[0].Testing, edited.Experiments[0].Deployment = policy.AB, policy.FixedSplit
			r.SetModel(t.Context(), edited)
			synctest.Wait()
			st := r.States()[0]
			if st.Stage != Running || st.Iteration != 0 || strings.Contains(st.Reason, "held") {
				t.Fatalf("%s iteration %d (%s), want a new experiment", st.Stage, st.Iteration, st.Reason)
			}
			store, _ := NewStore(dir)
			if states, invalid, err := store.LoadAll(); err != nil || len(invalid) != 0 || states["wakanda"].Spec.Testing != policy.AB {
				t.Fatalf("after the restart the file loads as %v %v %v, want the new experiment's state", states, invalid, err)
			}
		})
	})
	t.Run("removed from the policy", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			m := segmentModel(time.Second)
			dir := t.TempDir()
			content := sum200(m)
			path := writeState(t, dir, "wakanda", content)
			r := newTestRunner(t, dir, constant(healthy(10)), &recorder{})
			r.SetModel(t.Context(), m)
			r.SetModel(t.Context(), &policy.Model{Apps: m.Apps})
			if sts := r.States(); len(sts) != 0 {
				t.Fatalf("states %v, want none", sts)
			}
			if b, err := os.ReadFile(path); err != nil || !bytes.Equal(b, content) {
				t.Fatalf("the invalid file was changed (%v)", err)
			}
		})
	})
}

// A valid state is resumed exactly as saved: the first snapshot serves
// its weights, and it goes on from its iteration.
func TestValidStateResumesExactly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := segmentModel(time.Second)
		m.Experiments[0].Iterations = 10
		dir := t.TempDir()
		saved := twoStepsIn(m)
		writeState(t, dir, "wakanda", marshal(t, saved))
		r := newTestRunner(t, dir, constant(healthy(10)), &recorder{})
		if w := wakanda(r.Effective(m)); w["v2"] != 40 || w["v1"] != 60 {
			t.Fatalf("first snapshot serves %v, want the saved v1 60 / v2 40", w)
		}
		st := r.States()[0]
		if got, want := marshal(t, &st), marshal(t, saved); !bytes.Equal(got, want) {
			t.Fatalf("loaded\n%s\nwant the saved\n%s", got, want)
		}
		r.SetModel(t.Context(), m)
		synctest.Wait()
		if st := r.States()[0]; st.Stage != Running || st.Iteration != 2 || st.Route.Weights()["v2"] != 40 {
			t.Fatalf("%s iteration %d weights %v, want running on from iteration 2 at v2 40", st.Stage, st.Iteration, st.Route.Weights())
		}
	})
}

// A state saved before the experiment was made a new one (edited while
// the control plane was stopped) is not served, even in the first
// snapshot: the experiment restarts, as an edit while running restarts it.
func TestStateOfAnEditedIdentityIsNotServed(t *testing.T) {
	m := segmentModel(time.Hour)
	dir := t.TempDir()
	writeState(t, dir, "wakanda", marshal(t, twoStepsIn(m)))
	edited := segmentModel(time.Hour)
	edited.Experiments[0].Testing, edited.Experiments[0].Deployment = policy.AB, policy.FixedSplit
	r := newTestRunner(t, dir, constant(healthy(10)), &recorder{})
	if w := wakanda(r.Effective(edited)); !policyWeights(w) {
		t.Fatalf("first snapshot serves %v, want the policy's weights (the saved state is of another experiment now)", w)
	}
	if err := r.SetModel(context.Background(), edited); err != nil {
		t.Fatal(err)
	}
	st := r.States()[0]
	if st.Iteration != 0 || st.Stage != Running || !strings.Contains(st.Reason, filepath.Join(dir, "wakanda.state.json")+` was saved for app "sample-app" route "wakanda", Canary Progressive`) ||
		!strings.Contains(st.Reason, "now says "+`app "sample-app" route "wakanda", AB FixedSplit, baseline "v1", candidates ["v2"]: a new experiment`) {
		t.Fatalf("%s iteration %d (%s), want restarted, saying why", st.Stage, st.Iteration, st.Reason)
	}
}

// A file that is not JSON, or is cut short, still stops the start with an
// error naming it.
func TestUnreadableStateStopsTheStart(t *testing.T) {
	m := segmentModel(time.Second)
	for name, b := range map[string][]byte{
		"garbage":   []byte("\x00\x01not json"),
		"truncated": marshal(t, twoStepsIn(m))[:40],
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := writeState(t, dir, "wakanda", b)
			store, err := NewStore(dir)
			if err != nil {
				t.Fatal(err)
			}
			_, err = NewRunner(RunnerConfig{Store: store, Observer: constant(healthy(10)), Publisher: &recorder{}})
			if err == nil || !strings.Contains(err.Error(), path) {
				t.Fatalf("NewRunner: %v, want an error naming %s", err, path)
			}
		})
	}
}
