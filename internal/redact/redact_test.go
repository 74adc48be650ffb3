package redact

import (
	"bytes"
	"strings"
	"testing"
)

func TestURL(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", ""},
		{"http://prometheus:9090", "http://prometheus:9090"},
		{"http://10.0.0.1:9901/stats/prometheus", "http://10.0.0.1:9901/stats/prometheus"},
		{"http://user:S3CRET@prom:9090/", "http://redacted@prom:9090/"},
		{"https://TOKEN@prom/", "https://redacted@prom/"},
		{"http://prom/api?token=S3CRET&x=1", "http://prom/api?token=redacted&x=redacted"},
		{"http://prom/#S3CRET", "http://prom/#redacted"},
		{"https://hooks.slack.com/services/T000/B000/S3CRET", "https://hooks.slack.com/services/redacted"},
		{"http://a b@:x%zz", "(unparsable URL hidden)"},
	} {
		if got := URL(c.in); got != c.want {
			t.Errorf("URL(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestText(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"plain words, no secret", "plain words, no secret"},
		{`Get "http://u:S3CRET@prom:9090/api/v1/query?token=S3CRET": dial tcp: refused`,
			`Get "http://redacted@prom:9090/api/v1/query?token=redacted": dial tcp: refused`},
		{"posted to https://hooks.slack.com/services/T/B/S3CRET.", "posted to https://hooks.slack.com/services/redacted."},
		{"Authorization: Bearer S3CRETS3CRET", "Authorization: Bearer redacted"},
		{"paused by token: looks odd", "paused by token: looks odd"},
		{"token file /etc/token is empty", "token file /etc/token is empty"},
		{"basic authentication failed", "basic authentication failed"},
		{"Authorization: Basic dXNlcjpwYXNz", "Authorization: Basic redacted"},
		{"sent Bearer S3CRETS3CRET", "sent Bearer redacted"},
		{`{"password":"S3CRET","n":1}`, `{"password":"redacted","n":1}`},
		{"api_key=S3CRET other", "api_key=redacted other"},
		{`{"error":"Post \"http://u:S3CRET@prom/q?token=S3CRET\": refused"}`, `{"error":"Post \"http://redacted@prom/q?token=redacted\": refused"}`},
	} {
		if got := Text(c.in); got != c.want {
			t.Errorf("Text(%q)\n = %q\nwant %q", c.in, got, c.want)
		}
	}
}

func TestWriter(t *testing.T) {
	var b bytes.Buffer
	w := Writer(&b)
	line := "scrape failed url=http://x:S3CRET@host/metrics\n"
	n, err := w.Write([]byte(line))
	if err != nil || n != len(line) {
		t.Fatalf("Write = %d, %v; want %d, nil", n, err, len(line))
	}
	if strings.Contains(b.String(), "S3CRET") || !strings.Contains(b.String(), "http://redacted@host/metrics") {
		t.Errorf("wrote %q", b.String())
	}
}
