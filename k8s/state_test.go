package k8s

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/shadowplane/shadowplane/analysis"
	"github.com/shadowplane/shadowplane/policy"
	"github.com/shadowplane/shadowplane/test/kube"
)

// testState is a valid state of experiment name, at iteration.
func testState(name string, iteration int) *analysis.State {
	w := func(v uint32) *uint32 { return &v }
	split := []policy.Backend{{Variant: "v1", Weight: w(uint32(100 - 20*iteration))}, {Variant: "v2", Weight: w(uint32(20 * iteration))}}
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	return &analysis.State{
		Experiment: name, Stage: analysis.Running, Iteration: iteration,
		Spec:  policy.Experiment{Name: name, App: "sample-app", Route: "wakanda", Testing: policy.Canary, Deployment: policy.Progressive, Baseline: "v1", Candidates: []string{"v2"}},
		Route: analysis.Route{Split: split}, LastGood: analysis.Route{Split: split},
		Reason: "testing", StartedAt: at, UpdatedAt: at, WindowStart: at,
	}
}

func mustJSON(t *testing.T, st *analysis.State) string {
	t.Helper()
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func getStateConfigMap(t *testing.T, client kubernetes.Interface, ns, name string) *corev1.ConfigMap {
	t.Helper()
	cm, err := client.CoreV1().ConfigMaps(ns).Get(t.Context(), StateConfigMap(name), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return cm
}

func newStateStore(t *testing.T, client kubernetes.Interface, ns string, onConflict func(string)) *StateStore {
	t.Helper()
	s := NewStateStore(client, ns, 0)
	if onConflict != nil {
		s.OnConflict(onConflict)
	}
	return s
}

// A state is saved as the file store writes it, in its own labelled
// ConfigMap; it loads back the same; deleting it twice is no error.
func TestStateStoreSavesLoadsAndDeletes(t *testing.T) {
	c := kube.Start(t)
	ns := c.Namespace(t)
	s := newStateStore(t, c.Client, ns, nil)
	if states, invalid, err := s.LoadAll(); err != nil || len(states)+len(invalid) != 0 {
		t.Fatalf("empty namespace: %v %v %v", states, invalid, err)
	}
	for i := range 3 {
		if err := s.Save(testState("wakanda", i)); err != nil {
			t.Fatalf("save %d: %v", i, err)
		}
	}
	cm := getStateConfigMap(t, c.Client, ns, "wakanda")
	if cm.Labels[StateLabel] != "true" || cm.Data[StateKey] != mustJSON(t, testState("wakanda", 2)) {
		t.Fatalf("ConfigMap %s: labels %v, data\n%s\nwant labelled %s=true with the last state's JSON", cm.Name, cm.Labels, cm.Data[StateKey], StateLabel)
	}
	states, invalid, err := newStateStore(t, c.Client, ns, nil).LoadAll()
	if err != nil || len(invalid) != 0 || len(states) != 1 {
		t.Fatalf("LoadAll: %v %v %v", states, invalid, err)
	}
	if got := mustJSON(t, states["wakanda"]); got != mustJSON(t, testState("wakanda", 2)) {
		t.Fatalf("loaded\n%s\nwant the saved state", got)
	}
	if !s.Exists("wakanda") || s.Exists("other") {
		t.Fatal("Exists is wrong")
	}
	if got, want := s.Where("wakanda"), "ConfigMap "+ns+"/shadowplane-experiment-wakanda key state.json"; got != want {
		t.Errorf("Where: %q, want %q", got, want)
	}
	for range 2 {
		if err := s.Delete("wakanda"); err != nil {
			t.Fatal(err)
		}
	}
	if s.Exists("wakanda") {
		t.Fatal("still there after Delete")
	}
	// Deleted, it is created again by the next save.
	if err := s.Save(testState("wakanda", 0)); err != nil {
		t.Fatal(err)
	}
}

// Two leaders for a moment (a split brain): the one whose view is stale
// cannot overwrite the other's state, nor create one it has not read, nor
// delete it: its write fails, and its experiment holds.
func TestStateStoreNeverOverwritesAnotherWriter(t *testing.T) {
	c := kube.Start(t)
	ns := c.Namespace(t)
	var conflicts []string
	onConflict := func(name string) { conflicts = append(conflicts, name) }
	a, b, late := newStateStore(t, c.Client, ns, onConflict), newStateStore(t, c.Client, ns, onConflict), newStateStore(t, c.Client, ns, onConflict)
	if err := a.Save(testState("wakanda", 1)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.LoadAll(); err != nil {
		t.Fatal(err)
	}
	if err := a.Save(testState("wakanda", 2)); err != nil {
		t.Fatal(err)
	}
	err := b.Save(testState("wakanda", 3))
	if err == nil || !strings.Contains(err.Error(), "written by someone else") {
		t.Fatalf("stale save: %v, want a conflict", err)
	}
	if err := late.Save(testState("wakanda", 4)); err == nil || !strings.Contains(err.Error(), "created by someone else") {
		t.Fatalf("save without a read: %v, want refused", err)
	}
	if err := b.Delete("wakanda"); err == nil {
		t.Fatal("stale delete: no error")
	}
	if got := getStateConfigMap(t, c.Client, ns, "wakanda").Data[StateKey]; got != mustJSON(t, testState("wakanda", 2)) {
		t.Fatalf("the ConfigMap holds\n%s\nwant a's last save", got)
	}
	if len(conflicts) != 3 {
		t.Errorf("OnConflict told of %v, want the three refused writes", conflicts)
	}
	// Once it has read the states again (as a new leader does), b writes.
	if _, _, err := b.LoadAll(); err != nil {
		t.Fatal(err)
	}
	if err := b.Save(testState("wakanda", 3)); err != nil {
		t.Fatal(err)
	}
	if err := a.Save(testState("wakanda", 4)); err == nil {
		t.Fatal("the deposed writer overwrote the new one's state")
	}
}

// badStates are ConfigMaps whose state cannot be used, each with what
// LoadAll must say of it.
func badStates(t *testing.T) map[string]struct {
	data map[string]string
	want string
} {
	return map[string]struct {
		data map[string]string
		want string
	}{
		"garbage":   {map[string]string{StateKey: "\x01not json"}, "invalid character"},
		"truncated": {map[string]string{StateKey: mustJSON(t, testState("truncated", 1))[:40]}, "unexpected end of JSON input"},
		"empty":     {map[string]string{StateKey: "{}"}, "no experiment name"},
		"nokey":     {map[string]string{"other.json": "{}"}, "no such key"},
		"copied":    {map[string]string{StateKey: mustJSON(t, testState("wakanda", 1))}, `holds the state of experiment "wakanda", not of "copied"`},
	}
}

func createConfigMap(t *testing.T, client kubernetes.Interface, ns, name string, labels, data map[string]string) {
	t.Helper()
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}, Data: data}
	if _, err := client.CoreV1().ConfigMaps(ns).Create(t.Context(), cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

var stateLabels = map[string]string{StateLabel: "true"}

// A ConfigMap that is not a usable state is reported invalid, naming it
// and the fault, and does not stop the others from loading; unlabelled
// ConfigMaps are not read.
func TestStateStoreReportsInvalidStates(t *testing.T) {
	c := kube.Start(t)
	ns := c.Namespace(t)
	for name, bad := range badStates(t) {
		createConfigMap(t, c.Client, ns, StateConfigMap(name), stateLabels, bad.data)
	}
	createConfigMap(t, c.Client, ns, StateConfigMap("unlabelled"), nil, map[string]string{StateKey: "garbage"})
	createConfigMap(t, c.Client, ns, "not-a-state", stateLabels, map[string]string{StateKey: "garbage"})
	s := newStateStore(t, c.Client, ns, nil)
	if err := s.Save(testState("wakanda", 1)); err != nil {
		t.Fatal(err)
	}
	states, invalid, err := s.LoadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(states) != 1 || states["wakanda"] == nil {
		t.Errorf("states %v, want wakanda's alone", states)
	}
	bad := badStates(t)
	if len(invalid) != len(bad) {
		t.Errorf("invalid %v, want one for each of %d bad ConfigMaps", invalid, len(bad))
	}
	for name, b := range bad {
		err := invalid[name]
		if err == nil || !strings.Contains(err.Error(), s.Where(name)+": ") || !strings.Contains(err.Error(), b.want) {
			t.Errorf("%s: %v, want an error naming %s and saying %q", name, err, s.Where(name), b.want)
		}
	}
}

// calls collects a StateWatcher's calls.
type calls chan [2]any

func (c calls) record(states map[string]*analysis.State, invalid map[string]error) {
	c <- [2]any{states, invalid}
}

// waitFor reads calls until one satisfies ok. The API server is another
// process: there is no event to wait on but the calls, so a deadline
// bounds the wait.
func (c calls) waitFor(t *testing.T, what string, ok func(map[string]*analysis.State, map[string]error) bool) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case call := <-c:
			if ok(call[0].(map[string]*analysis.State), call[1].(map[string]error)) {
				return
			}
		case <-deadline:
			t.Fatalf("no call with %s within 30s", what)
		}
	}
}

// The watcher gives followers the full set of states after each change,
// parsed as LoadAll parses them.
func TestStateWatcherFollowsTheStates(t *testing.T) {
	c := kube.Start(t)
	ns := c.Namespace(t)
	s := newStateStore(t, c.Client, ns, nil)
	if err := s.Save(testState("before", 1)); err != nil {
		t.Fatal(err)
	}
	got := make(calls, 100)
	w, err := NewStateWatcher(c.Client, ns, got.record)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() { done <- w.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()

	got.waitFor(t, "the state saved before the start", func(st map[string]*analysis.State, inv map[string]error) bool {
		return len(st) == 1 && st["before"] != nil && st["before"].Iteration == 1 && len(inv) == 0
	})
	if err := s.Save(testState("wakanda", 1)); err != nil {
		t.Fatal(err)
	}
	if err := s.Save(testState("wakanda", 2)); err != nil {
		t.Fatal(err)
	}
	got.waitFor(t, "wakanda at iteration 2", func(st map[string]*analysis.State, _ map[string]error) bool {
		return st["wakanda"] != nil && st["wakanda"].Iteration == 2 && st["before"] != nil
	})
	createConfigMap(t, c.Client, ns, StateConfigMap("garbage"), stateLabels, map[string]string{StateKey: "garbage"})
	got.waitFor(t, "the garbage state invalid", func(st map[string]*analysis.State, inv map[string]error) bool {
		return inv["garbage"] != nil && strings.Contains(inv["garbage"].Error(), s.Where("garbage")) && len(st) == 2
	})
	if err := s.Delete("before"); err != nil {
		t.Fatal(err)
	}
	got.waitFor(t, "the deleted state gone", func(st map[string]*analysis.State, _ map[string]error) bool {
		return st["before"] == nil && st["wakanda"] != nil
	})
}

// Many changes at once become few calls, the last with every change.
func TestStateWatcherCoalesces(t *testing.T) {
	c := kube.Start(t)
	ns := c.Namespace(t)
	s := newStateStore(t, c.Client, ns, nil)
	got := make(calls, 1000)
	entered, block := make(chan struct{}), make(chan struct{})
	var count atomic.Int32
	w, err := NewStateWatcher(c.Client, ns, func(st map[string]*analysis.State, inv map[string]error) {
		if count.Add(1) == 1 {
			close(entered)
			<-block // changes pile up meanwhile
		}
		got.record(st, inv)
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() { done <- w.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	select {
	case <-entered: // the first call, of the empty namespace, is under way
	case <-time.After(testTimeout):
		t.Fatal("no first call")
	}
	const n = 20
	last := fmt.Sprint("save ", n-1)
	for i := range n {
		st := testState("wakanda", 1)
		st.Reason = fmt.Sprint("save ", i)
		if err := s.Save(st); err != nil {
			t.Fatal(err)
		}
	}
	// Release the first call once the informer has every change: the
	// API server is another process, so this polls, with a deadline.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if st, _ := w.States(); st["wakanda"] != nil && st["wakanda"].Reason == last {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the informer never saw the last save")
		}
	}
	close(block)
	got.waitFor(t, "the last save", func(st map[string]*analysis.State, _ map[string]error) bool {
		return st["wakanda"] != nil && st["wakanda"].Reason == last
	})
	if calls := count.Load(); calls > 3 {
		t.Errorf("%d calls for %d changes: not coalesced", calls, n)
	} else {
		t.Logf("%d changes, %d calls", n, calls)
	}
}
