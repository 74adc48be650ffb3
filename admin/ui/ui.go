// Package ui serves shadowplane's operator web page: the connected proxies
// with their ACK/NACK state, the policy files with their problems, and each
// experiment's weights, objectives and decisions, refreshed live from the
// admin JSON API.
//
// The page is static: an HTML file, a stylesheet and one small script,
// embedded in the binary. It makes no request but to its own origin, draws
// its charts as SVG itself, and works offline (docs/decisions/0006).
package ui

import (
	"embed"
	"io/fs"
	"net/http"
	"strings"
)

// Prefix is the path the page is served under.
const Prefix = "/ui/"

// ContentSecurityPolicy is set on every response: nothing but the page's
// own origin may be loaded or contacted, no inline script or style runs,
// and no other site may frame the page.
const ContentSecurityPolicy = "default-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

//go:embed assets
var assets embed.FS

// Handler serves the page at Prefix ("/ui/") and its assets below it.
// Mount it on a mux as `mux.Handle("GET /ui/", ui.Handler())`.
func Handler() http.Handler {
	sub, err := fs.Sub(assets, "assets")
	if err != nil {
		// The directory is embedded at build time; fs.Sub fails only
		// on an invalid name.
		panic(err)
	}
	files := http.StripPrefix(strings.TrimSuffix(Prefix, "/"), http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", ContentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		// The assets change with the binary; always revalidate.
		h.Set("Cache-Control", "no-cache")
		if !strings.HasPrefix(r.URL.Path, Prefix) {
			http.NotFound(w, r)
			return
		}
		files.ServeHTTP(w, r)
	})
}
