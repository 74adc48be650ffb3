package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/shadowplane/shadowplane/admin/api"
	"github.com/shadowplane/shadowplane/test/grpcxds"
)

// receiver is a webhook endpoint that keeps the events it was posted.
type receiver struct {
	mu     sync.Mutex
	events []string
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var p struct{ Event string }
	if err := json.NewDecoder(r.Body).Decode(&p); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	rc.mu.Lock()
	rc.events = append(rc.events, p.Event)
	rc.mu.Unlock()
}

func (rc *receiver) got() []string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.events)
}

// A canary with webhooks that hang, answer 500 or are down, beside one
// that works and a confirm-step gate that refuses at first: the gate holds
// the step until it answers 2xx, the broken webhooks never hold a
// decision (the canary is promoted while one of them still hangs), and
// each failure is in the experiment's events.
func TestWebhooksNeverHoldDecisions(t *testing.T) {
	v1 := startSample(t, "v1", "--latency", "2ms")
	v2 := startSample(t, "v2", "--latency", "2ms")

	ok := &receiver{}
	okSrv := httptest.NewServer(ok)
	defer okSrv.Close()
	release := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer hang.Close()
	defer close(release) // before hang.Close, which waits for its handlers
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "receiver broken", http.StatusInternalServerError)
	}))
	defer broken.Close()
	down := freePort(t) // nothing listens there
	var confirm atomic.Bool
	var asked atomic.Int32
	gate := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked.Add(1)
		if !confirm.Load() {
			http.Error(w, "load test still running", http.StatusConflict)
		}
	}))
	defer gate.Close()

	hooks := fmt.Sprintf(`webhooks:
  - {name: audit, url: %q}
  - {name: hangs, url: %q, timeout: 1s, retries: 1}
  - {name: broken, url: %q, timeout: 1s, retries: 1}
  - {name: down, url: "http://%s/hook", timeout: 1s, retries: 1}
  - {name: board, url: %q, type: confirm-step, timeout: 1s}
`, okSrv.URL, hang.URL, broken.URL, down, gate.URL)
	dir := writePolicy(t, canaryPolicy(v1, v2, 4, 25)+hooks)
	r := newRestartable(t, dir)
	drive(t, grpcxds.Dial(t, r.cp.xds, "webhook-client", "clients", "greeter.test"))

	held := r.cp.waitExperiment(t, "greeter-canary", func(st api.Experiment) bool {
		return strings.Contains(st.Reason, "held by the confirm-step gate")
	})
	// The first step (25%) is taken at the start; the gate holds the next.
	if w := held.Route.Weights()["v2"]; w != 25 {
		t.Fatalf("the gate refused, yet v2 is at %d%%, want the first step's 25%%", w)
	}
	if !strings.Contains(held.Reason, "409") {
		t.Errorf("held reason %q: want the gate's answer", held.Reason)
	}
	confirm.Store(true)
	done := r.cp.waitExperiment(t, "greeter-canary", ended)
	if done.Stage != api.Completed || done.Route.Weights()["v2"] != 100 {
		t.Fatalf("ended %s with %v: %s", done.Stage, done.Route.Weights(), done.Reason)
	}
	if asked.Load() < 2 {
		t.Errorf("the gate was asked %d times, want at least twice (refused, then confirmed)", asked.Load())
	}

	// Every notification reaches the working receiver, in order.
	r.cp.waitFor(t, "the promotion delivered", func() bool { return slices.Contains(ok.got(), "promoted") })
	events := ok.got()
	if events[0] != "started" || !slices.Contains(events, "step") || events[len(events)-1] != "promoted" {
		t.Errorf("the audit webhook got %v, want started, steps, promoted", events)
	}
	// The failures are visible in the experiment's events.
	for _, name := range []string{"hangs", "broken", "down"} {
		r.cp.waitFor(t, "webhook "+name+"'s failure recorded", func() bool {
			st := r.cp.experiment(t, "greeter-canary")
			return slices.ContainsFunc(st.Events, func(e api.Event) bool {
				return e.Action == "webhook:"+name && strings.Contains(e.Result, "failed after 2 attempts")
			})
		})
	}
}
