package policy

import (
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// validateWebhooks checks each webhook on its own and their names
// together. A problem never quotes a URL whole: it may carry a password
// or a secret path.
func (e *Experiment) validateWebhooks(fe *fieldErrors) {
	seen := map[string]bool{}
	for i := range e.Webhooks {
		w := &e.Webhooks[i]
		p := index("webhooks", i)
		checkName(fe, join(p, "name"), "webhook name", w.Name)
		if seen[w.Name] && w.Name != "" {
			fe.add(join(p, "name"), "webhook %q is named twice", w.Name)
		}
		seen[w.Name] = true
		if msg := checkWebhookURL(w.URL); msg != "" {
			fe.add(join(p, "url"), "%s", msg)
		}
		types := []string{WebhookNotify, WebhookConfirmStep, WebhookConfirmPromotion}
		if !slices.Contains(types, w.Type) {
			fe.add(join(p, "type"), "%q: use %s", w.Type, strings.Join(types, ", "))
		}
		if !slices.Contains([]string{FormatJSON, FormatSlack}, w.Format) {
			fe.add(join(p, "format"), "%q: use json or slack", w.Format)
		} else if w.Format == FormatSlack && w.Type != WebhookNotify {
			fe.add(join(p, "format"), "a %s webhook is asked, not told: it needs the json payload", w.Type)
		}
		if len(w.Events) > 0 && w.Type != WebhookNotify {
			fe.add(join(p, "events"), "a %s webhook is asked at its gate, not told of events: leave events out", w.Type)
		}
		for j, ev := range w.Events {
			if !slices.Contains(WebhookEvents, ev) {
				fe.add(index(join(p, "events"), j), "%q is not an event: use %s", ev, strings.Join(WebhookEvents, ", "))
			}
		}
		if w.Timeout <= 0 || w.Timeout > MaxWebhookTimeout {
			fe.add(join(p, "timeout"), "%v: use more than 0 and at most %v", w.Timeout, MaxWebhookTimeout)
		}
		if w.Retries != nil && (*w.Retries < 0 || *w.Retries > MaxWebhookRetries) {
			fe.add(join(p, "retries"), "%d: use 0 to %d", *w.Retries, MaxWebhookRetries)
		}
	}
}

// checkWebhookURL says what is wrong with a webhook URL, quoting at most
// its redacted form.
func checkWebhookURL(s string) string {
	if s == "" {
		return "url is required: the http(s) URL the payload is posted to"
	}
	u, err := url.Parse(s)
	if err != nil {
		return "the URL does not parse (not quoted here: it may hold a secret)"
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "the URL's scheme is " + strconv.Quote(u.Scheme) + ": use http or https"
	}
	if u.Host == "" || u.Hostname() == "" {
		return "the URL has no host"
	}
	return ""
}
