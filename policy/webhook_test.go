package policy

import (
	"os"
	"strings"
	"testing"
)

// A webhook URL's password or secret path is never quoted in a problem.
func TestWebhookProblemsHideSecrets(t *testing.T) {
	path := "testdata/bad/experiment-webhooks.yaml"
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	_, problems := ParseFile(path, data)
	if len(problems) == 0 {
		t.Fatal("no problems")
	}
	for _, p := range problems {
		if strings.Contains(p.Error(), "hunter2") {
			t.Errorf("problem shows a secret: %v", p)
		}
	}
}

func TestWebhookDefaults(t *testing.T) {
	e := Experiment{Webhooks: []Webhook{{Name: "a", URL: "http://x"}}}
	e.Defaults()
	w := e.Webhooks[0]
	if w.Type != WebhookNotify || w.Format != FormatJSON || w.Timeout != DefaultWebhookTimeout || w.Retries == nil || *w.Retries != DefaultWebhookRetries {
		t.Errorf("defaults: %+v", w)
	}
	if w.Attempts() != 4 || !w.Wants(EventStep) {
		t.Errorf("attempts %d, wants step %v", w.Attempts(), w.Wants(EventStep))
	}
	zero := 0
	only := Webhook{Type: WebhookNotify, Events: []string{EventPromoted}, Retries: &zero}
	if only.Wants(EventStep) || !only.Wants(EventPromoted) || only.Attempts() != 1 {
		t.Errorf("events [promoted], retries 0: wants step %v, attempts %d", only.Wants(EventStep), only.Attempts())
	}
	if (&Webhook{Type: WebhookConfirmStep}).Wants(EventStep) {
		t.Error("a confirm-step webhook is told of events")
	}
}

func TestRedactWebhookURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://hooks.slack.com/services/T0/B0/SECRET": "https://hooks.slack.com/…",
		"http://user:pass@example.com:8080":             "http://example.com:8080/…",
		"http://example.com":                            "http://example.com",
		"http://example.com/?token=SECRET":              "http://example.com/…",
		"http://a:%zz@example.com":                      "(webhook URL hidden)",
	} {
		if got := RedactWebhookURL(in); got != want {
			t.Errorf("RedactWebhookURL(%q) = %q, want %q", in, got, want)
		}
	}
}
