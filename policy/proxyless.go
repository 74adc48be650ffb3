package policy

import (
	"fmt"
	"strings"
)

// Warnings are things in f that are valid but probably not what the author
// meant; they never stop a file from being served. Today: route matches
// that proxyless gRPC clients cannot satisfy. gRPC-Go, grpc-js and gRPC
// C-core all skip such a route silently (measured; see docs/policy.md), so
// an app that both Envoy and gRPC clients select would route the two
// differently without a word.
func (f File) Warnings() []Problem {
	var ws []Problem
	for i, app := range f.Apps {
		var ix *lineIndex
		if i < len(f.lines) {
			ix = f.lines[i]
		}
		for r, route := range app.Routes {
			path := index("routes", r)
			for _, w := range proxylessIgnored(route.Match) {
				ws = append(ws, Problem{
					File:    f.Path,
					Line:    ix.line(join(join(path, "match"), w.field)),
					Message: fmt.Sprintf("app %q route %q: %s; proxyless gRPC clients never match this route (Envoy does)", app.Name, route.Name, w.why),
				})
			}
		}
	}
	return ws
}

type ignoredMatch struct{ field, why string }

// proxylessIgnored lists the parts of m a proxyless gRPC client cannot
// match: gRPC does not expose :method (always POST) or :authority to route
// matching, and it never matches on binary (-bin) headers (gRFC A28).
func proxylessIgnored(m Match) []ignoredMatch {
	var out []ignoredMatch
	if len(m.Methods) > 0 {
		out = append(out, ignoredMatch{"methods", "it matches on methods"})
	}
	for i, h := range m.Headers {
		name := strings.ToLower(h.Name)
		switch {
		case name == ":authority" || name == ":method":
			out = append(out, ignoredMatch{index("headers", i), fmt.Sprintf("it matches on the %s header", name)})
		case strings.HasSuffix(name, "-bin"):
			out = append(out, ignoredMatch{index("headers", i), fmt.Sprintf("it matches on the binary header %s", h.Name)})
		}
	}
	return out
}
