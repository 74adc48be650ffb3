package notify

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shadowplane/shadowplane/analysis"
	"github.com/shadowplane/shadowplane/policy"
)

func confirm(name, url string, gate analysis.GateKind, timeout time.Duration) policy.Webhook {
	h := hook(name, url, 0, timeout)
	h.Type = string(gate)
	return h
}

// Every confirm webhook answering 2xx confirms the gate; only the gate's
// own webhooks are asked, with its event.
func TestGateConfirmed(t *testing.T) {
	yes := newReceiver(ok)
	srv := httptest.NewServer(yes)
	defer srv.Close()
	other := newReceiver(ok)
	otherSrv := httptest.NewServer(other)
	defer otherSrv.Close()
	rec := newRecorder()
	n := newNotifier(t, rec, nil, nil)
	spec := experiment(confirm("board", srv.URL, analysis.GateStep, time.Second),
		confirm("release", otherSrv.URL, analysis.GatePromotion, time.Second))

	if err := n.Gate(context.Background(), *state(spec, analysis.Running, 10, 1), analysis.GateStep); err != nil {
		t.Fatalf("gate: %v", err)
	}
	var p Payload
	if err := json.Unmarshal(yes.next(t).body, &p); err != nil {
		t.Fatal(err)
	}
	if p.Event != "confirm-step" || p.Experiment != "canary" || p.Weights["v2"] != 10 {
		t.Errorf("payload %+v", p)
	}
	if len(other.got) != 0 {
		t.Error("the confirm-promotion webhook was asked at the step gate")
	}
	if len(rec.ch) != 0 {
		t.Errorf("recorded %+v for a gate that never held", <-rec.ch)
	}
}

// A 409 holds the step: the error names the webhook and its answer; the
// hold is recorded and told to notify webhooks once, and its end recorded.
func TestGateHeldByAnswer(t *testing.T) {
	var answer atomic.Int32
	answer.Store(http.StatusConflict)
	gate := newReceiver(func(_ int, w http.ResponseWriter, _ *http.Request) {
		if code := int(answer.Load()); code != http.StatusOK {
			http.Error(w, "load test still running", code)
		}
	})
	srv := httptest.NewServer(gate)
	defer srv.Close()
	notified := newReceiver(ok)
	nsrv := httptest.NewServer(notified)
	defer nsrv.Close()
	rec := newRecorder()
	n := newNotifier(t, rec, nil, nil)
	audit := hook("audit", nsrv.URL, 0, time.Second)
	audit.Events = []string{policy.EventHeld}
	spec := experiment(confirm("loadcheck", srv.URL, analysis.GateStep, time.Second), audit)
	st := *state(spec, analysis.Running, 10, 1)

	err := n.Gate(context.Background(), st, analysis.GateStep)
	if err == nil || !strings.Contains(err.Error(), `webhook "loadcheck" answered 409 Conflict: load test still running`) {
		t.Fatalf("gate error %v", err)
	}
	gate.next(t)
	if e := rec.next(t); e.Action != "gate:confirm-step" || !strings.Contains(e.Result, "held: webhook \"loadcheck\" answered 409") {
		t.Errorf("recorded %+v", e)
	}
	var p Payload
	if err := json.Unmarshal(notified.next(t).body, &p); err != nil {
		t.Fatal(err)
	}
	if p.Event != "held" || !strings.Contains(p.Reason, "held by the confirm-step gate") {
		t.Errorf("held payload %+v", p)
	}
	if e := rec.next(t); e.Result != "held → 200 after 1 attempt" {
		t.Errorf("recorded %+v", e)
	}

	// Asked again, same answer: held, but nothing new told or recorded.
	if err := n.Gate(context.Background(), st, analysis.GateStep); err == nil {
		t.Fatal("gate passed on 409")
	}
	gate.next(t)
	answer.Store(http.StatusOK)
	if err := n.Gate(context.Background(), st, analysis.GateStep); err != nil {
		t.Fatalf("gate: %v", err)
	}
	gate.next(t)
	if e := rec.next(t); e.Action != "gate:confirm-step" || e.Result != "confirmed" {
		t.Errorf("recorded %+v", e)
	}
	if len(notified.got) != 0 {
		t.Errorf("held told again: %s", (<-notified.got).body)
	}
}

// A confirm webhook that hangs is cut by its timeout, or by ctx first.
func TestGateHang(t *testing.T) {
	release := make(chan struct{})
	hang := newReceiver(func(_ int, _ http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	srv := httptest.NewServer(hang)
	defer srv.Close()
	defer close(release)
	n := newNotifier(t, newRecorder(), nil, nil)

	st := *state(experiment(confirm("board", srv.URL, analysis.GatePromotion, 100*time.Millisecond)), analysis.Running, 90, 3)
	err := n.Gate(context.Background(), st, analysis.GatePromotion)
	if err == nil || !strings.Contains(err.Error(), `webhook "board": no answer within 100ms`) {
		t.Errorf("gate error %v", err)
	}

	st = *state(experiment(confirm("board", srv.URL, analysis.GatePromotion, time.Minute)), analysis.Running, 90, 3)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- n.Gate(ctx, st, analysis.GatePromotion) }()
	hang.next(t)
	hang.next(t) // the second ask is in the receiver now
	cancel()
	if err := <-done; err == nil || !errors.Is(err, context.Canceled) && !strings.Contains(err.Error(), "canceled") {
		t.Errorf("gate error after ctx ended: %v", err)
	}
}
