package policy

import (
	"strings"
	"testing"
)

func TestWarningsForMatchesProxylessClientsIgnore(t *testing.T) {
	src := `kind: App
name: web
port: 10000
variants:
  - name: v1
    endpoints: ["127.0.0.1:9001"]
routes:
  - name: writes
    match:
      methods: [PUT]
    split:
      - variant: v1
  - name: by-host
    match:
      headers:
        - name: x-user
          exact: alice
        - name: :authority
          exact: web.example
        - name: trace-bin
          present: true
    split:
      - variant: v1
  - name: default
    split:
      - variant: v1
`
	f, problems := ParseFile("web.yaml", []byte(src))
	if len(problems) > 0 {
		t.Fatalf("problems: %v", problems)
	}
	var got []string
	for _, w := range f.Warnings() {
		got = append(got, w.Error())
	}
	want := []string{
		`web.yaml:10: app "web" route "writes": it matches on methods`,
		`web.yaml:18: app "web" route "by-host": it matches on the :authority header`,
		`web.yaml:20: app "web" route "by-host": it matches on the binary header trace-bin`,
	}
	if len(got) != len(want) {
		t.Fatalf("warnings:\n%s\nwant %d", strings.Join(got, "\n"), len(want))
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) || !strings.Contains(got[i], "proxyless gRPC clients never match") {
			t.Errorf("warning %d = %q, want prefix %q", i, got[i], want[i])
		}
	}

	clean, problems := ParseFile("ok.yaml", []byte(`kind: App
name: web
port: 10000
variants:
  - name: v1
    endpoints: ["127.0.0.1:9001"]
routes:
  - match:
      path: {prefix: /w}
      headers:
        - name: x-user
          exact: alice
    split:
      - variant: v1
`))
	if len(problems) > 0 {
		t.Fatalf("problems: %v", problems)
	}
	if ws := clean.Warnings(); len(ws) != 0 {
		t.Errorf("a file with only path and ordinary header matches warned: %v", ws)
	}
}
