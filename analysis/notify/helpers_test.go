package notify

import (
	"bytes"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/shadowplane/shadowplane/analysis"
	"github.com/shadowplane/shadowplane/policy"
)

var t0 = time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)

func ptr[T any](v T) *T { return &v }

// experiment is a Canary of v2 against v1 with hooks, defaults filled in.
func experiment(hooks ...policy.Webhook) policy.Experiment {
	e := policy.Experiment{
		Kind: policy.KindExperiment, Name: "canary", App: "web", Route: "default",
		Testing: policy.Canary, Baseline: "v1", Candidates: []string{"v2"},
		Objectives: []policy.Objective{{Metric: "app/error-rate", UpperLimit: ptr(0.01)}},
		Webhooks:   hooks,
	}
	e.Defaults()
	return e
}

// hook is a notify webhook to url with retries retries and timeout.
func hook(name, url string, retries int, timeout time.Duration) policy.Webhook {
	return policy.Webhook{Name: name, URL: url, Retries: ptr(retries), Timeout: timeout}
}

// state is spec's state at stage with v2 at weight v2 percent.
func state(spec policy.Experiment, stage analysis.Stage, v2 uint32, history int) *analysis.State {
	return &analysis.State{
		Experiment: spec.Name,
		Spec:       spec,
		Stage:      stage,
		StartedAt:  t0,
		Route: analysis.Route{Split: []policy.Backend{
			{Variant: "v1", Weight: ptr(100 - v2)},
			{Variant: "v2", Weight: ptr(v2)},
		}},
		History: make([]analysis.Record, history),
		Reason:  "reason " + string(stage),
	}
}

// recorder collects what a Notifier records.
type recorder struct{ ch chan analysis.HistoryEntry }

func newRecorder() *recorder { return &recorder{ch: make(chan analysis.HistoryEntry, 64)} }

func (r *recorder) record(experiment string, e analysis.HistoryEntry) error {
	if experiment != "canary" {
		panic("recorded for " + experiment)
	}
	r.ch <- e
	return nil
}

// next is the next record; it fails the test after a long while, as a
// guard against a hang, not as synchronisation.
func (r *recorder) next(t *testing.T) analysis.HistoryEntry {
	t.Helper()
	select {
	case e := <-r.ch:
		return e
	case <-time.After(30 * time.Second):
		t.Fatal("nothing recorded")
		return analysis.HistoryEntry{}
	}
}

// request is what a receiver got.
type request struct {
	contentType string
	body        []byte
}

// receiver serves answer(i) to the i-th request (from 0) and sends each
// request's body on got.
type receiver struct {
	got    chan request
	mu     sync.Mutex
	n      int
	answer func(i int, w http.ResponseWriter, r *http.Request)
}

func newReceiver(answer func(i int, w http.ResponseWriter, r *http.Request)) *receiver {
	return &receiver{got: make(chan request, 64), answer: answer}
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	i := rc.n
	rc.n++
	rc.mu.Unlock()
	rc.got <- request{r.Header.Get("Content-Type"), b}
	rc.answer(i, w, r)
}

func (rc *receiver) next(t *testing.T) request {
	t.Helper()
	select {
	case r := <-rc.got:
		return r
	case <-time.After(30 * time.Second):
		t.Fatal("nothing received")
		return request{}
	}
}

// syncBuffer is a log output safe for the workers' concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// newNotifier is a Notifier recording to rec and logging to log, whose
// backoffs do not wait: each is sent on waits instead.
func newNotifier(t *testing.T, rec *recorder, log *syncBuffer, waits chan time.Duration) *Notifier {
	t.Helper()
	if log == nil {
		log = &syncBuffer{}
	}
	n := New(Options{
		Log:    hclog.New(&hclog.LoggerOptions{Output: log, Level: hclog.Debug}),
		Record: rec.record,
		Now:    func() time.Time { return t0 },
		After: func(d time.Duration) <-chan time.Time {
			if waits != nil {
				waits <- d
			}
			ch := make(chan time.Time, 1)
			ch <- t0
			return ch
		},
		Jitter: func() float64 { return 0.5 },
	})
	t.Cleanup(n.Close)
	return n
}
