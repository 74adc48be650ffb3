package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/shadowplane/shadowplane/analysis"
	"github.com/shadowplane/shadowplane/policy"
)

// queueKey names one webhook of one experiment.
type queueKey struct{ experiment, webhook string }

// delivery is one payload for one webhook.
type delivery struct {
	hook    policy.Webhook
	payload Payload
}

// queue is one webhook's pending deliveries, oldest first. A worker runs
// while it is not empty.
type queue struct {
	items   []delivery
	dropped []string // events dropped since the worker last recorded
	running bool
}

// pushLocked queues d, dropping the oldest delivery when the queue is full,
// and starts the queue's worker if it is not running. Called with n.mu.
func (n *Notifier) pushLocked(d delivery) {
	k := queueKey{d.payload.Experiment, d.hook.Name}
	q := n.queues[k]
	if q == nil {
		q = &queue{}
		n.queues[k] = q
	}
	if len(q.items) >= n.opts.QueueSize {
		old := q.items[0]
		q.items = q.items[1:]
		q.dropped = append(q.dropped, old.payload.Event)
		n.opts.Log.Warn("webhook queue full: dropped the oldest event", "experiment", k.experiment, "webhook", k.webhook, "event", old.payload.Event)
	}
	q.items = append(q.items, d)
	if !q.running {
		q.running = true
		n.wg.Add(1)
		go n.work(k, q)
	}
}

// work delivers q's items one at a time until it is empty or the Notifier
// closes.
func (n *Notifier) work(k queueKey, q *queue) {
	defer n.wg.Done()
	for {
		n.mu.Lock()
		if len(q.items) == 0 || n.ctx.Err() != nil {
			q.running = false
			q.items = nil
			n.mu.Unlock()
			return
		}
		d := q.items[0]
		q.items = q.items[1:]
		dropped := q.dropped
		q.dropped = nil
		n.mu.Unlock()

		if len(dropped) > 0 {
			n.record(k.experiment, analysis.HistoryEntry{Action: "webhook:" + k.webhook,
				Result: fmt.Sprintf("dropped %d events (%s): queue full", len(dropped), strings.Join(dropped, ", "))})
		}
		n.deliver(d)
	}
}

// deliver posts d with retries, then records and logs the result.
func (n *Notifier) deliver(d delivery) {
	data, err := body(d.hook.Format, d.payload)
	if err != nil {
		n.finish(d, 0, 0, fmt.Errorf("encoding the payload: %w", err))
		return
	}
	attempts, code, err := n.post(n.ctx, d.hook, data)
	if n.ctx.Err() != nil {
		return // closing: nothing to record
	}
	n.finish(d, attempts, code, err)
}

// post sends data to hook until it answers 2xx, it has tried
// hook.Attempts() times, it answers 4xx other than 408 and 429, or ctx
// ends. It returns how many attempts it made, the last status code (0
// for none) and the last error.
func (n *Notifier) post(ctx context.Context, hook policy.Webhook, data []byte) (int, int, error) {
	for attempt := 1; ; attempt++ {
		code, retry, err := n.attempt(ctx, hook, data)
		if err == nil || !retry || attempt >= hook.Attempts() || ctx.Err() != nil {
			return attempt, code, err
		}
		select {
		case <-n.opts.After(n.backoff(attempt)):
		case <-ctx.Done():
			return attempt, code, err
		}
	}
}

// backoff is the wait before attempt+1: full jitter over an exponential
// bound, Backoff × 2^(attempt-1), at most MaxBackoff.
func (n *Notifier) backoff(attempt int) time.Duration {
	bound := n.opts.MaxBackoff
	if attempt-1 < 30 {
		if b := n.opts.Backoff << (attempt - 1); b > 0 && b < bound {
			bound = b
		}
	}
	return time.Duration(n.opts.Jitter() * float64(bound))
}

// statusError is a webhook's answer other than 2xx.
type statusError struct {
	code   int
	status string
	body   string
}

func (e *statusError) Error() string {
	if e.body == "" {
		return e.status
	}
	return e.status + ": " + e.body
}

// attempt posts data once, bounded by hook.Timeout. retry says whether
// trying again may help: a transport error, a timeout, 408, 429 or 5xx.
func (n *Notifier) attempt(ctx context.Context, hook policy.Webhook, data []byte) (code int, retry bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, hook.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, hook.URL, bytes.NewReader(data))
	if err != nil {
		return 0, false, errors.New("the URL cannot be posted to") // never quote it
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "shadowplane-webhook")
	resp, err := n.opts.Client.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil {
			return 0, true, fmt.Errorf("no answer within %v", hook.Timeout)
		}
		return 0, true, transportError(err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	c := resp.StatusCode
	if c/100 == 2 {
		return c, false, nil
	}
	return c, c == http.StatusRequestTimeout || c == http.StatusTooManyRequests || c >= 500,
		&statusError{code: c, status: resp.Status, body: strings.TrimSpace(string(msg))}
}

// transportError is err without the URL a *url.Error quotes: the URL may
// carry a secret.
func transportError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// finish records and logs a delivery's result.
func (n *Notifier) finish(d delivery, attempts, code int, err error) {
	k := d.payload.Experiment
	action := "webhook:" + d.hook.Name
	var result string
	if err == nil {
		result = fmt.Sprintf("%s → %d after %s", d.payload.Event, code, plural(attempts, "attempt"))
		n.opts.Log.Info("webhook delivered", "experiment", k, "webhook", d.hook.Name, "event", d.payload.Event, "status", code, "attempts", attempts)
	} else {
		result = fmt.Sprintf("%s → failed after %s: %v", d.payload.Event, plural(attempts, "attempt"), err)
		n.opts.Log.Warn("webhook failed", "experiment", k, "webhook", d.hook.Name, "event", d.payload.Event, "attempts", attempts, "error", err)
	}
	n.record(k, analysis.HistoryEntry{Action: action, Result: result})
}

func (n *Notifier) record(experiment string, e analysis.HistoryEntry) {
	if e.Time.IsZero() {
		e.Time = n.opts.Now()
	}
	if err := n.opts.Record(experiment, e); err != nil {
		n.opts.Log.Debug("webhook result not recorded", "experiment", experiment, "action", e.Action, "result", e.Result, "error", err)
	}
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
