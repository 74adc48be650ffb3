// Package notify tells webhooks of experiments' events and asks confirm
// webhooks at the runner's gates. Observe (the runner's OnChange) derives
// events from state changes and queues their delivery without waiting;
// each webhook has its own bounded queue and worker, which posts with the
// webhook's timeout and retries with exponential backoff and full jitter,
// then records the result in the experiment's history. Gate (the
// runner's Gate) posts to the confirm webhooks and waits for their answer.
//
// A webhook URL may carry a secret (user:pass@, a Slack webhook's path):
// logs and records name the webhook and never show its URL.
package notify

import (
	"context"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/shadowplane/shadowplane/analysis"
	"github.com/shadowplane/shadowplane/policy"
)

// Options wire a Notifier. Every field may be left out.
type Options struct {
	// Client posts the payloads. Default: a client of its own, without a
	// timeout (each attempt is bounded by the webhook's).
	Client *http.Client
	Log    hclog.Logger
	// Record is told of each delivery's result, and of events dropped
	// from a full queue, to keep them in the experiment's history (the
	// Runner's Record). It is never called from Observe, so it may take
	// the runner's lock.
	Record func(experiment string, e analysis.HistoryEntry) error
	// Now is the clock of payloads and records. Default time.Now.
	Now func() time.Time
	// After waits between attempts. Default time.After.
	After func(time.Duration) <-chan time.Time
	// Jitter returns a number in [0, 1) that scales each backoff (full
	// jitter). Default math/rand/v2.
	Jitter func() float64
	// Backoff is the first retry's most wait; it doubles with each
	// retry, up to MaxBackoff. Defaults 1s and 30s.
	Backoff, MaxBackoff time.Duration
	// QueueSize bounds each webhook's queue; when full, the oldest event
	// is dropped. Default 64.
	QueueSize int
	// Active, when set and false, makes Observe only remember states and
	// send nothing: on a replica that follows under leader election, so
	// that only the leader notifies. It is called under the runner's
	// lock and must not take it. Nil is always active.
	Active func() bool
}

// Notifier turns experiments' state changes into webhook deliveries, and
// answers the runner's gates from confirm webhooks. It is safe for
// concurrent use. Close stops its workers.
type Notifier struct {
	opts Options

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	seen   map[string]*seen
	queues map[queueKey]*queue
	// held are the gates a confirm webhook holds now, per experiment,
	// with the error last recorded.
	held   map[string]map[analysis.GateKind]string
	closed bool
}

// New returns a Notifier with opts' defaults filled in.
func New(opts Options) *Notifier {
	if opts.Client == nil {
		opts.Client = &http.Client{}
	}
	if opts.Log == nil {
		opts.Log = hclog.NewNullLogger()
	}
	if opts.Record == nil {
		opts.Record = func(string, analysis.HistoryEntry) error { return nil }
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.After == nil {
		opts.After = time.After
	}
	if opts.Jitter == nil {
		opts.Jitter = rand.Float64
	}
	if opts.Backoff <= 0 {
		opts.Backoff = time.Second
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = 30 * time.Second
	}
	if opts.QueueSize <= 0 {
		opts.QueueSize = 64
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Notifier{
		opts:   opts,
		ctx:    ctx,
		cancel: cancel,
		seen:   map[string]*seen{},
		queues: map[queueKey]*queue{},
		held:   map[string]map[analysis.GateKind]string{},
	}
}

// Observe is told of a state of an experiment (RunnerConfig.OnChange): it
// derives the events from the last state it saw of the experiment and
// queues one delivery per event and notify webhook that wants it. It
// never waits on a webhook, nor calls Record: the runner calls it under
// its lock.
func (n *Notifier) Observe(st *analysis.State) {
	if st == nil {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return
	}
	prev := n.seen[st.Experiment]
	n.seen[st.Experiment] = seenOf(st)
	if prev != nil && prev.stage != st.Stage {
		delete(n.held, st.Experiment)
	}
	evs := events(prev, st)
	if len(evs) == 0 || (n.opts.Active != nil && !n.opts.Active()) {
		return
	}
	now := n.opts.Now()
	for _, ev := range evs {
		n.enqueueLocked(NewPayload(ev, st, now), st.Spec.Webhooks)
	}
}

// Forget drops what the Notifier keeps of an experiment that was removed.
// Deliveries already queued go on.
func (n *Notifier) Forget(experiment string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.seen, experiment)
	delete(n.held, experiment)
}

// Close stops the workers: deliveries under way are cancelled, and queued
// ones dropped. Observe does nothing after Close.
func (n *Notifier) Close() {
	n.mu.Lock()
	n.closed = true
	n.mu.Unlock()
	n.cancel()
	n.wg.Wait()
}

// enqueueLocked queues p for each notify webhook of hooks that wants its
// event. Called with n.mu.
func (n *Notifier) enqueueLocked(p Payload, hooks []policy.Webhook) {
	for _, h := range hooks {
		if !h.Wants(p.Event) {
			continue
		}
		n.pushLocked(delivery{hook: h, payload: p})
	}
}
