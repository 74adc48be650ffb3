package policy

import (
	"net/url"
	"time"
)

// Webhook events: the changes of an experiment a notify webhook can be
// told of.
const (
	// EventStarted: the experiment started (or started again by retry).
	EventStarted = "started"
	// EventStep: a step moved the route's weights.
	EventStep = "step"
	// EventHeld: the experiment stopped at a gate: an approval gate
	// (WaitingApproval) or a confirm webhook that did not answer 2xx.
	EventHeld = "held"
	// EventPaused: the experiment paused for a person.
	EventPaused = "paused"
	// EventPromoted: the winner was promoted.
	EventPromoted = "promoted"
	// EventCompleted: the experiment passed and left the route without a
	// promotion (onSuccess keep or rollback).
	EventCompleted = "completed"
	// EventRolledBack: the experiment failed and rolled back.
	EventRolledBack = "rolledBack"
	// EventAborted: a person aborted the experiment; it rolled back.
	EventAborted = "aborted"
	// EventFailed: the experiment failed and kept the route (onFailure:
	// keep), or a proxy rejected a step (Halted).
	EventFailed = "failed"
)

// WebhookEvents are every event a notify webhook may name, in the order
// of an experiment's life.
var WebhookEvents = []string{EventStarted, EventStep, EventHeld, EventPaused, EventPromoted, EventCompleted, EventRolledBack, EventAborted, EventFailed}

// Webhook types.
const (
	// WebhookNotify is told of events; its answer changes nothing.
	WebhookNotify = "notify"
	// WebhookConfirmStep is asked before each step moves the weights: an
	// answer other than 2xx holds the step until the next look.
	WebhookConfirmStep = "confirm-step"
	// WebhookConfirmPromotion is asked before the winner is promoted: an
	// answer other than 2xx holds the promotion until the next look.
	WebhookConfirmPromotion = "confirm-promotion"
)

// Webhook formats.
const (
	// FormatJSON posts the payload documented in docs/webhooks.md.
	FormatJSON = "json"
	// FormatSlack posts a Slack-compatible incoming-webhook message,
	// {"text": "..."}.
	FormatSlack = "slack"
)

// Webhook limits and defaults.
const (
	DefaultWebhookTimeout = 5 * time.Second
	MaxWebhookTimeout     = 60 * time.Second
	DefaultWebhookRetries = 3
	MaxWebhookRetries     = 10
)

// Webhook is an HTTP endpoint told of an experiment's events (type
// notify), or asked before a step or a promotion (confirm-step,
// confirm-promotion). Its URL may carry credentials (user:pass@, or a
// secret path as Slack's do): it is never logged or shown; see
// RedactWebhookURL.
type Webhook struct {
	// Name identifies the webhook in the experiment's history and logs.
	Name string `yaml:"name" json:"name"`
	// URL is where the payload is posted: http or https.
	URL string `yaml:"url" json:"url"`
	// Events are the events a notify webhook is told of. Default: all.
	Events []string `yaml:"events,omitempty" json:"events,omitempty"`
	// Type is notify, confirm-step or confirm-promotion. Default notify.
	Type string `yaml:"type,omitempty" json:"type,omitempty"`
	// Format is json or slack. Default json.
	Format string `yaml:"format,omitempty" json:"format,omitempty"`
	// Timeout bounds each attempt. Default 5s, at most 60s.
	Timeout time.Duration `yaml:"timeout,omitempty" json:"timeout,omitempty"`
	// Retries is how many times a failed attempt is tried again. Default
	// 3, at most 10; 0 tries once.
	Retries *int `yaml:"retries,omitempty" json:"retries,omitempty"`
}

// Wants reports whether a notify webhook is told of event.
func (w *Webhook) Wants(event string) bool {
	if w.Type != "" && w.Type != WebhookNotify {
		return false
	}
	if len(w.Events) == 0 {
		return true
	}
	for _, e := range w.Events {
		if e == event {
			return true
		}
	}
	return false
}

// Attempts is how many times a delivery is tried: once, and Retries more.
func (w *Webhook) Attempts() int {
	if w.Retries == nil {
		return 1 + DefaultWebhookRetries
	}
	return 1 + *w.Retries
}

// defaults fills in the webhook's type, format, timeout and retries.
func (w *Webhook) defaults() {
	if w.Type == "" {
		w.Type = WebhookNotify
	}
	if w.Format == "" {
		w.Format = FormatJSON
	}
	if w.Timeout == 0 {
		w.Timeout = DefaultWebhookTimeout
	}
	if w.Retries == nil {
		n := DefaultWebhookRetries
		w.Retries = &n
	}
}

// RedactWebhookURL is a webhook URL fit to log or show: its scheme and
// host only. The user info may hold a password and the path a secret
// (a Slack incoming webhook's), so both are hidden; a URL that does not
// parse is hidden whole.
func RedactWebhookURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return "(webhook URL hidden)"
	}
	out := u.Scheme + "://" + u.Host
	if u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		out += "/…"
	}
	return out
}
