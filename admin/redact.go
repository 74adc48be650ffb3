package admin

import (
	"maps"

	"github.com/shadowplane/shadowplane/analysis"
	"github.com/shadowplane/shadowplane/internal/redact"
	"github.com/shadowplane/shadowplane/policy"
)

// redacted returns states fit to show. A policy may put credentials in
// the metrics URLs (a Prometheus server, scrape targets) and the webhook
// URLs, and the texts the runner writes (reasons, metric errors, control
// results) may quote those URLs back; all of them go through package
// redact. The states themselves are not changed: every slice and map
// touched is copied first.
func redacted(states []analysis.State) []analysis.State {
	out := make([]analysis.State, len(states))
	for i, st := range states {
		st.Spec = redactedSpec(st.Spec)
		st.Reason = redact.Text(st.Reason)
		st.Winner = redact.Text(st.Winner)
		if st.Held != nil {
			h := *st.Held
			h.Reason = redact.Text(h.Reason)
			st.Held = &h
		}
		if st.History != nil {
			hist := make([]analysis.Record, len(st.History))
			for j, rec := range st.History {
				rec.Reason = redact.Text(rec.Reason)
				rec.Observations = redactedObservations(rec.Observations)
				hist[j] = rec
			}
			st.History = hist
		}
		if st.Events != nil {
			evs := make([]analysis.HistoryEntry, len(st.Events))
			for j, ev := range st.Events {
				ev.Reason = redact.Text(ev.Reason)
				ev.Result = redact.Text(ev.Result)
				ev.By = redact.Text(ev.By)
				evs[j] = ev
			}
			st.Events = evs
		}
		out[i] = st
	}
	return out
}

// redactedSpec hides the credentials an experiment's spec may hold:
// passwords and tokens in metrics URLs (their paths stay: /metrics tells
// an operator which endpoint is read), and everything of a webhook URL
// but its scheme and host, as a hook's path is often its secret.
func redactedSpec(spec policy.Experiment) policy.Experiment {
	m := spec.Metrics
	m.Prometheus = redact.URL(m.Prometheus)
	if m.Targets != nil {
		targets := make(map[string][]string, len(m.Targets))
		for version, urls := range m.Targets {
			clean := make([]string, len(urls))
			for j, u := range urls {
				clean[j] = redact.URL(u)
			}
			targets[version] = clean
		}
		m.Targets = targets
	}
	spec.Metrics = m
	if spec.Webhooks != nil {
		hooks := make([]policy.Webhook, len(spec.Webhooks))
		for i, h := range spec.Webhooks {
			h.URL = policy.RedactWebhookURL(h.URL)
			hooks[i] = h
		}
		spec.Webhooks = hooks
	}
	return spec
}

// redactedObservations copies obs with the errors' texts redacted: a
// failed query's error quotes the URL it asked.
func redactedObservations(obs analysis.Observations) analysis.Observations {
	if obs == nil {
		return nil
	}
	out := make(analysis.Observations, len(obs))
	for version, byMetric := range obs {
		m := maps.Clone(byMetric)
		for name, o := range m {
			if o.Error != "" {
				o.Error = redact.Text(o.Error)
				m[name] = o
			}
		}
		out[version] = m
	}
	return out
}
