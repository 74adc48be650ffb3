package admin

import (
	"github.com/shadowplane/shadowplane/admin/api"
	"github.com/shadowplane/shadowplane/analysis"
	"github.com/shadowplane/shadowplane/internal/redact"
	"github.com/shadowplane/shadowplane/policy"
)

// redactedExperiment is st as the API serves it. A policy may put
// credentials in the metrics URLs (a Prometheus server, scrape targets)
// and the webhook URLs, and the texts the runner writes (reasons, metric
// errors, control results) may quote those URLs back; all of them go
// through package redact. The runner's state is not changed: the
// conversion copies it, and the copy is redacted in place.
func redactedExperiment(st analysis.State) api.Experiment {
	e := experimentOf(st)
	redactSpec(&e.Spec)
	e.Reason = redact.Text(e.Reason)
	e.Winner = redact.Text(e.Winner)
	if e.Held != nil {
		e.Held.Reason = redact.Text(e.Held.Reason)
	}
	for i := range e.History {
		rec := &e.History[i]
		rec.Reason = redact.Text(rec.Reason)
		redactObservations(rec.Observations)
	}
	for i := range e.Events {
		ev := &e.Events[i]
		ev.Reason = redact.Text(ev.Reason)
		ev.Result = redact.Text(ev.Result)
		ev.By = redact.Text(ev.By)
	}
	return e
}

// redactSpec hides the credentials an experiment's spec may hold:
// passwords and tokens in metrics URLs (their paths stay: /metrics tells
// an operator which endpoint is read), and everything of a webhook URL
// but its scheme and host, as a hook's path is often its secret.
func redactSpec(spec *api.ExperimentSpec) {
	m := &spec.Metrics
	m.Prometheus = redact.URL(m.Prometheus)
	for version, urls := range m.Targets {
		// A new slice, not the old one redacted: a version listed
		// without URLs has always shown as [], not null.
		clean := make([]string, len(urls))
		for j, u := range urls {
			clean[j] = redact.URL(u)
		}
		m.Targets[version] = clean
	}
	for i := range spec.Webhooks {
		spec.Webhooks[i].URL = policy.RedactWebhookURL(spec.Webhooks[i].URL)
	}
}

// redactObservations redacts the errors' texts: a failed query's error
// quotes the URL it asked.
func redactObservations(obs api.Observations) {
	for _, byMetric := range obs {
		for name, o := range byMetric {
			if o.Error != "" {
				o.Error = redact.Text(o.Error)
				byMetric[name] = o
			}
		}
	}
}
