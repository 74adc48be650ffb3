package admin

import (
	"net/url"

	"github.com/shadowplane/shadowplane/analysis"
)

// redacted returns states fit to show: the metrics URLs in each spec (a
// Prometheus server, scrape targets) lose any password they carry, as
// user:pass@ in the URL. The states themselves are not changed.
func redacted(states []analysis.State) []analysis.State {
	out := make([]analysis.State, len(states))
	for i, st := range states {
		m := st.Spec.Metrics
		m.Prometheus = redactURL(m.Prometheus)
		if m.Targets != nil {
			targets := make(map[string][]string, len(m.Targets))
			for version, urls := range m.Targets {
				clean := make([]string, len(urls))
				for j, u := range urls {
					clean[j] = redactURL(u)
				}
				targets[version] = clean
			}
			m.Targets = targets
		}
		st.Spec.Metrics = m
		out[i] = st
	}
	return out
}

// redactURL hides the password of a URL's user info. A string that does
// not parse is shown as a placeholder: it may be a URL with a password
// that only fails to parse.
func redactURL(s string) string {
	if s == "" {
		return s
	}
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL hidden)"
	}
	return u.Redacted()
}
