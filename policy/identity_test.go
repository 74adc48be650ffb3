package policy

import (
	"strings"
	"testing"
)

func TestIdentitiesAreReportedAtTheirLine(t *testing.T) {
	src := `kind: App
name: web
port: 10000
proxies:
  clusters: [front-proxy]
  identities:
    - "spiffe://example.org/ns/default/sa/front-proxy"
    - "spiffe://example.org/ns/[/sa/x"
    - ""
variants: [{name: v1, endpoints: ["127.0.0.1:9001"]}]
routes: [{name: default, split: [{variant: v1}]}]
---
kind: App
name: api
proxies:
  identities: ["spiffe://example.org/ns/default/sa/api"]
variants: [{name: v1, endpoints: ["127.0.0.1:9002"]}]
routes: [{name: default, split: [{variant: v1}]}]
`
	_, problems := ParseFile("apps.yaml", []byte(src))
	want := []string{
		"apps.yaml:8: proxies.identities[1]: \"spiffe://example.org/ns/[/sa/x\" is not a valid pattern",
		"apps.yaml:9: proxies.identities[2]: must not be empty",
		"apps.yaml:16: proxies.identities: binds nothing",
	}
	if len(problems) != len(want) {
		t.Fatalf("got %d problems, want %d: %v", len(problems), len(want), problems)
	}
	for i, w := range want {
		if got := problems[i].Error(); !strings.Contains(got, w) {
			t.Errorf("problem %d = %q, want it to contain %q", i, got, w)
		}
	}
}

func TestSelectorAllowsIdentity(t *testing.T) {
	s := Selector{Clusters: []string{"front-proxy"}, Identities: []string{
		"spiffe://example.org/ns/prod/sa/*",
		"front.example.org",
	}}
	for id, want := range map[string]bool{
		"spiffe://example.org/ns/prod/sa/front": true,
		"front.example.org":                     true,
		// * stays within one segment.
		"spiffe://example.org/ns/prod/sa/front/extra": false,
		"spiffe://example.org/ns/dev/sa/front":        false,
		"spiffe://other.org/ns/prod/sa/front":         false,
		// A certificate with no usable SAN has no identity.
		"": false,
	} {
		if got := s.AllowsIdentity(id); got != want {
			t.Errorf("AllowsIdentity(%q) = %v, want %v", id, got, want)
		}
	}
	if !(Selector{Clusters: []string{"c"}}).AllowsIdentity("anyone") {
		t.Error("a selector without identities refused an identity")
	}
}
