package notify

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shadowplane/shadowplane/analysis"
	"github.com/shadowplane/shadowplane/policy"
)

func ok(int, http.ResponseWriter, *http.Request) {}

// A started and a step event reach a json webhook with the payload's
// fields, and each result is recorded.
func TestDeliversPayload(t *testing.T) {
	rc := newReceiver(ok)
	srv := httptest.NewServer(rc)
	defer srv.Close()
	rec := newRecorder()
	n := newNotifier(t, rec, nil, nil)
	spec := experiment(hook("audit", srv.URL, 3, 5*time.Second))

	n.Observe(state(spec, analysis.Running, 0, 0))
	first := rc.next(t)
	if first.contentType != "application/json" {
		t.Errorf("content type %q", first.contentType)
	}
	var p Payload
	if err := json.Unmarshal(first.body, &p); err != nil {
		t.Fatal(err)
	}
	if p.Version != "v1" || p.Event != "started" || p.Experiment != "canary" || p.App != "web" || p.Route != "default" ||
		p.Testing != "Canary" || p.Stage != "Running" || !p.Time.Equal(t0) || p.Reason != "reason Running" ||
		p.Weights["v1"] != 100 || p.Weights["v2"] != 0 {
		t.Errorf("payload %+v", p)
	}
	if len(p.Objectives) != 1 || p.Objectives[0].Metric != "app/error-rate" || p.Objectives[0].Op != "<=" ||
		p.Objectives[0].Limit != 0.01 || p.Objectives[0].Verdict != "pending" || p.Objectives[0].Value != nil {
		t.Errorf("objectives before a judgement %+v", p.Objectives)
	}
	if e := rec.next(t); e.Action != "webhook:audit" || e.Result != "started → 200 after 1 attempt" {
		t.Errorf("recorded %+v", e)
	}

	st := state(spec, analysis.Running, 10, 1)
	st.History[0] = analysis.Record{Verdicts: []analysis.Verdict{{Version: "v2", Metric: "app/error-rate",
		Checks: []analysis.Check{{Quantity: "error rate", Op: "<=", Limit: 1, Unit: "%", Estimate: 0.2, Outcome: analysis.Pass}}}}}
	n.Observe(st)
	if err := json.Unmarshal(rc.next(t).body, &p); err != nil {
		t.Fatal(err)
	}
	if p.Event != "step" || p.Weights["v2"] != 10 || len(p.Objectives) != 1 || p.Objectives[0].Value == nil ||
		*p.Objectives[0].Value != 0.2 || p.Objectives[0].Version != "v2" || p.Objectives[0].Verdict != "pass" {
		t.Errorf("step payload %+v", p)
	}
	if e := rec.next(t); e.Result != "step → 200 after 1 attempt" {
		t.Errorf("recorded %+v", e)
	}

	// The same state again, or another look that moved nothing: no event.
	n.Observe(st)
	n.Observe(state(spec, analysis.Running, 10, 2))
	select {
	case r := <-rc.got:
		t.Errorf("delivered without a change: %s", r.body)
	default:
	}
}

// A receiver that answers 500 twice then 200 gets the event on the third
// attempt, after two jittered, doubling backoffs.
func TestRetriesThenDelivers(t *testing.T) {
	rc := newReceiver(func(i int, w http.ResponseWriter, _ *http.Request) {
		if i < 2 {
			w.WriteHeader(http.StatusInternalServerError)
		}
	})
	srv := httptest.NewServer(rc)
	defer srv.Close()
	rec := newRecorder()
	waits := make(chan time.Duration, 8)
	n := newNotifier(t, rec, nil, waits)
	n.Observe(state(experiment(hook("audit", srv.URL, 3, 5*time.Second)), analysis.Running, 0, 0))

	if e := rec.next(t); e.Action != "webhook:audit" || e.Result != "started → 200 after 3 attempts" {
		t.Errorf("recorded %+v", e)
	}
	// Full jitter (0.5 here) of 1s, then of 2s.
	for _, want := range []time.Duration{500 * time.Millisecond, time.Second} {
		if got := <-waits; got != want {
			t.Errorf("backoff %v, want %v", got, want)
		}
	}
	if len(rc.got) != 3 {
		t.Errorf("%d requests, want 3", len(rc.got))
	}
}

// A receiver that hangs: Observe returns at once while it hangs, the
// timeout cuts the attempt, the failure is recorded, and the next event
// goes through once the receiver answers again.
func TestHangingReceiverNeverBlocksObserve(t *testing.T) {
	release := make(chan struct{})
	rc := newReceiver(func(i int, _ http.ResponseWriter, r *http.Request) {
		if i == 0 {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}
	})
	srv := httptest.NewServer(rc)
	defer srv.Close()
	defer close(release)
	rec := newRecorder()
	n := newNotifier(t, rec, nil, nil)
	spec := experiment(hook("slow", srv.URL, 0, 200*time.Millisecond))

	n.Observe(state(spec, analysis.Running, 0, 0))
	rc.next(t) // the receiver now holds the first delivery
	// Observe returns while the receiver hangs: were it to wait, this
	// test would never get past it, since nothing unblocks the receiver
	// but the timeout, which Observe does not know of.
	n.Observe(state(spec, analysis.Running, 10, 1))
	n.Observe(state(spec, analysis.Paused, 10, 1))

	if e := rec.next(t); e.Result != "started → failed after 1 attempt: no answer within 200ms" {
		t.Errorf("recorded %+v", e)
	}
	if e := rec.next(t); e.Result != "step → 200 after 1 attempt" {
		t.Errorf("recorded %+v", e)
	}
	if e := rec.next(t); e.Result != "paused → 200 after 1 attempt" {
		t.Errorf("recorded %+v", e)
	}
}

// A receiver that is down fails after every retry; the failure is
// recorded and logged, and neither shows the URL's password.
func TestDownReceiverFails(t *testing.T) {
	srv := httptest.NewServer(newReceiver(ok))
	url := strings.Replace(srv.URL, "http://", "http://alice:hunter2@", 1)
	srv.Close()
	rec := newRecorder()
	log := &syncBuffer{}
	waits := make(chan time.Duration, 8)
	n := newNotifier(t, rec, log, waits)
	n.Observe(state(experiment(hook("down", url, 2, time.Second)), analysis.Running, 0, 0))

	e := rec.next(t)
	if e.Action != "webhook:down" || !strings.HasPrefix(e.Result, "started → failed after 3 attempts: ") || !strings.Contains(e.Result, "refused") {
		t.Errorf("recorded %+v", e)
	}
	if len(waits) != 2 {
		t.Errorf("%d backoffs, want 2", len(waits))
	}
	n.Close() // flushes nothing more; the log is complete
	out := log.String()
	if !strings.Contains(out, "webhook failed") || !strings.Contains(out, "webhook=down") {
		t.Errorf("log:\n%s", out)
	}
	for _, s := range []string{out, e.Result} {
		if strings.Contains(s, "hunter2") {
			t.Errorf("shows the password: %s", s)
		}
	}
}

// A slack webhook gets a one-line incoming-webhook message.
func TestSlackFormat(t *testing.T) {
	rc := newReceiver(ok)
	srv := httptest.NewServer(rc)
	defer srv.Close()
	rec := newRecorder()
	n := newNotifier(t, rec, nil, nil)
	h := hook("chat", srv.URL, 0, time.Second)
	h.Format = policy.FormatSlack
	h.Events = []string{policy.EventPromoted}
	spec := experiment(h)

	n.Observe(state(spec, analysis.Running, 90, 3)) // first seen, under way: no event
	n.Observe(state(spec, analysis.Running, 90, 4)) // nothing moved
	done := state(spec, analysis.Completed, 100, 5)
	done.Winner, done.Reason = "v2", "every objective passed"
	n.Observe(done)

	var msg map[string]string
	if err := json.Unmarshal(rc.next(t).body, &msg); err != nil {
		t.Fatal(err)
	}
	want := "shadowplane: experiment canary (web/default) promoted: Completed, weights v1 0% v2 100% — every objective passed"
	if len(msg) != 1 || msg["text"] != want {
		t.Errorf("slack message %q, want {text: %q}", msg, want)
	}
	if e := rec.next(t); e.Result != "promoted → 200 after 1 attempt" {
		t.Errorf("recorded %+v", e)
	}
}

// A full queue drops its oldest event, and the drop is recorded.
func TestFullQueueDropsOldest(t *testing.T) {
	release := make(chan struct{})
	rc := newReceiver(func(i int, _ http.ResponseWriter, _ *http.Request) {
		if i == 0 {
			<-release
		}
	})
	srv := httptest.NewServer(rc)
	defer srv.Close()
	rec := newRecorder()
	log := &syncBuffer{}
	n := newNotifier(t, rec, log, nil)
	n.opts.QueueSize = 1
	spec := experiment(hook("audit", srv.URL, 0, 30*time.Second))

	n.Observe(state(spec, analysis.Running, 0, 0))
	rc.next(t)                                      // started is in flight
	n.Observe(state(spec, analysis.Running, 10, 1)) // step queued
	n.Observe(state(spec, analysis.Paused, 10, 1))  // paused pushes step out
	close(release)

	for _, want := range []string{"started → 200 after 1 attempt", "dropped 1 events (step): queue full", "paused → 200 after 1 attempt"} {
		if e := rec.next(t); e.Result != want {
			t.Errorf("recorded %q, want %q", e.Result, want)
		}
	}
	if !strings.Contains(log.String(), "webhook queue full") {
		t.Errorf("log:\n%s", log.String())
	}
}

func TestEvents(t *testing.T) {
	spec := experiment()
	at := func(stage analysis.Stage, v2 uint32, history int) *analysis.State {
		return state(spec, stage, v2, history)
	}
	aborted := at(analysis.RolledBack, 0, 2)
	aborted.Events = []analysis.HistoryEntry{{Action: "abort", By: "alice"}}
	promoted := at(analysis.Completed, 100, 3)
	promoted.Winner = "v2"
	kept := at(analysis.Completed, 50, 3)
	kept.Winner = "v2"
	retried := at(analysis.Running, 0, 0)
	retried.StartedAt = t0.Add(time.Hour)
	tests := []struct {
		name       string
		prev, next *analysis.State
		want       string
	}{
		{"fresh start", nil, at(analysis.Running, 0, 0), "started"},
		{"restart under way", nil, at(analysis.Running, 10, 3), ""},
		{"restart ended", nil, at(analysis.RolledBack, 0, 3), ""},
		{"step", at(analysis.Running, 10, 1), at(analysis.Running, 20, 2), "step"},
		{"look without a step", at(analysis.Running, 10, 1), at(analysis.Running, 10, 2), ""},
		{"paused", at(analysis.Running, 10, 1), at(analysis.Paused, 10, 1), "paused"},
		{"resumed", at(analysis.Paused, 10, 1), at(analysis.Running, 10, 1), ""},
		{"approval gate", at(analysis.Running, 10, 1), at(analysis.WaitingApproval, 10, 2), "held"},
		{"approved step", at(analysis.WaitingApproval, 10, 2), at(analysis.Running, 20, 2), "step"},
		{"promoted", at(analysis.Running, 90, 2), promoted, "promoted"},
		{"completed keep", at(analysis.Running, 50, 2), kept, "completed"},
		{"rolled back", at(analysis.Running, 10, 1), at(analysis.RolledBack, 0, 2), "rolledBack"},
		{"aborted", at(analysis.Running, 10, 1), aborted, "aborted"},
		{"failed keep", at(analysis.Running, 10, 1), at(analysis.Failed, 10, 2), "failed"},
		{"halted", at(analysis.Running, 20, 1), at(analysis.Halted, 10, 1), "failed"},
		{"retry", at(analysis.RolledBack, 0, 2), retried, "started"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := strings.Join(Events(tt.prev, tt.next), ",")
			if got != tt.want {
				t.Errorf("events %q, want %q", got, tt.want)
			}
		})
	}
}

// A Notifier that is not active (a follower) remembers states but sends
// nothing; once active, it goes on from what it remembers.
func TestInactiveSendsNothing(t *testing.T) {
	rc := newReceiver(ok)
	srv := httptest.NewServer(rc)
	defer srv.Close()
	rec := newRecorder()
	n := newNotifier(t, rec, nil, nil)
	var active atomic.Bool
	n.opts.Active = active.Load
	spec := experiment(hook("audit", srv.URL, 0, time.Second))

	n.Observe(state(spec, analysis.Running, 0, 0))
	n.Observe(state(spec, analysis.Running, 10, 1))
	active.Store(true)
	n.Observe(state(spec, analysis.Running, 20, 2))
	var p Payload
	if err := json.Unmarshal(rc.next(t).body, &p); err != nil {
		t.Fatal(err)
	}
	if p.Event != "step" || p.Weights["v2"] != 20 {
		t.Errorf("first payload once active %+v", p)
	}
	if e := rec.next(t); e.Result != "step → 200 after 1 attempt" {
		t.Errorf("recorded %+v", e)
	}
}
