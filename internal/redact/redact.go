// Package redact hides credentials in what shadowplane shows and logs.
// Policies may put secrets in URLs (user:pass@, ?token=, a Slack hook's
// path) and error messages quote those URLs back; the admin API and the
// log are read by more people than the policy directory, so every URL
// they print goes through here first.
package redact

import (
	"io"
	"net/url"
	"regexp"
	"strings"
)

// Hidden replaces a secret.
const Hidden = "redacted"

// secretPathHosts are hosts whose URL path is itself the credential
// (incoming webhooks): the path is hidden after its first segment.
var secretPathHosts = []string{"hooks.slack.com", "discord.com", "discordapp.com", "webhook.office.com", "chat.googleapis.com"}

// URL returns s with its user info, its query values and its fragment
// hidden, and the path too on hosts whose paths are secrets. The user
// name goes with the password: tokens are often sent as the user name
// (https://TOKEN@host). A string that does not parse is hidden whole, as
// it may be a URL with a password that only fails to parse.
func URL(s string) string {
	if s == "" {
		return s
	}
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL hidden)"
	}
	if u.User != nil {
		u.User = url.User(Hidden)
	}
	if u.RawQuery != "" {
		q := u.Query()
		for k := range q {
			q[k] = []string{Hidden}
		}
		u.RawQuery = q.Encode()
	}
	if u.Fragment != "" || u.RawFragment != "" {
		u.Fragment, u.RawFragment = Hidden, ""
	}
	if u.Opaque != "" {
		u.Opaque = Hidden
	}
	if secretPath(u.Hostname()) && u.Path != "" && u.Path != "/" {
		first, _, _ := strings.Cut(strings.TrimPrefix(u.Path, "/"), "/")
		u.Path, u.RawPath = "/"+first+"/"+Hidden, ""
	}
	return u.String()
}

func secretPath(host string) bool {
	host = strings.ToLower(host)
	for _, h := range secretPathHosts {
		if host == h || strings.HasSuffix(host, "."+h) {
			return true
		}
	}
	return false
}

var (
	// urlPattern finds URLs in free text (error messages, log lines):
	// a scheme, then anything up to white space, a quote or a backslash
	// (a quote escaped in a JSON log line must stay escaped).
	urlPattern = regexp.MustCompile("[a-zA-Z][a-zA-Z0-9+.-]*://[^\\s\"'<>`\\\\]+")
	// bearerPattern finds credentials of an Authorization header: a
	// bearer token anywhere, basic credentials after the header's name
	// ("basic" alone is a common word).
	bearerPattern = regexp.MustCompile(`(?i)\b(bearer|authorization:\s*basic)(\s+)[A-Za-z0-9._~+/=-]{8,}`)
	// keyValuePattern finds token-like keys given a value as key=value
	// (a query, a log field) or as a JSON member ("key": "value"). Not
	// "key: value", which is also how a sentence reads ("paused by
	// token: looks odd").
	keyValuePattern = regexp.MustCompile(`(?i)\b(` + secretKeys + `)(=)([^\s"&,;\\]+)`)
	jsonPattern     = regexp.MustCompile(`(?i)"(` + secretKeys + `)("\s*:\s*")([^"]*)`)
)

// secretKeys are the names whose values are credentials.
const secretKeys = `(?:access_|api_|api-|auth_|client_|refresh_|private_)?(?:token|apikey|api_key|api-key|password|passwd|secret|authorization)`

// Text hides the credentials in free text: every URL in it as URL does,
// Authorization values ("Bearer X") and the values of token-like keys
// (token=X, "password": "X", secret=X...).
func Text(s string) string {
	if !strings.Contains(s, "://") && !maybeKeyed(s) {
		return s
	}
	s = urlPattern.ReplaceAllStringFunc(s, func(m string) string {
		// A URL quoted at the end of a sentence keeps its full stop.
		trail := ""
		for strings.HasSuffix(m, ".") || strings.HasSuffix(m, ",") || strings.HasSuffix(m, ")") || strings.HasSuffix(m, ";") {
			trail = m[len(m)-1:] + trail
			m = m[:len(m)-1]
		}
		return URL(m) + trail
	})
	s = bearerPattern.ReplaceAllString(s, "${1}${2}"+Hidden)
	s = keyValuePattern.ReplaceAllString(s, "${1}${2}"+Hidden)
	return jsonPattern.ReplaceAllString(s, `"${1}${2}`+Hidden)
}

// maybeKeyed is a cheap test before the patterns run.
func maybeKeyed(s string) bool {
	l := strings.ToLower(s)
	for _, k := range []string{"token", "key", "password", "passwd", "secret", "authorization", "bearer", "basic"} {
		if strings.Contains(l, k) {
			return true
		}
	}
	return false
}

// Writer returns a writer that hides credentials (Text) in what is
// written to w. Loggers write one entry per Write, so an entry is never
// split across two calls; the length reported is that of p, as callers
// expect.
func Writer(w io.Writer) io.Writer { return &writer{w: w} }

type writer struct{ w io.Writer }

func (r *writer) Write(p []byte) (int, error) {
	s := string(p)
	if t := Text(s); t != s {
		if _, err := io.WriteString(r.w, t); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	return r.w.Write(p)
}
