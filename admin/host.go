package admin

import (
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
)

// hostGuard refuses requests whose Host header is a name the operator has
// not listed. A web page can make a browser send requests to 127.0.0.1
// under its own name, by resolving that name to 127.0.0.1 (DNS
// rebinding), and then read the answers as same-origin: the config dump,
// the proxies, the experiments. Such a request carries the page's name in
// Host. An IP literal cannot be rebound, "localhost" is the machine
// itself, and allowed lists the names operators reach the API by (a
// Kubernetes Service, a VM's DNS name).
func hostGuard(allowed []string, next http.Handler) http.Handler {
	names := make([]string, 0, len(allowed))
	for _, a := range allowed {
		names = append(names, strings.ToLower(strings.TrimSuffix(a, ".")))
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !hostAllowed(r.Host, names) {
			writeError(w, http.StatusForbidden, "host "+quoteHost(r.Host)+" is not an address of this admin API; "+
				"use an IP address or localhost, or list the name with --admin-allowed-hosts")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func hostAllowed(hostport string, names []string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.ToLower(strings.TrimSuffix(strings.Trim(host, "[]"), "."))
	if _, err := netip.ParseAddr(host); err == nil {
		return true
	}
	return host == "localhost" || slices.Contains(names, host)
}

// quoteHost bounds and quotes a client-chosen Host for the error message.
func quoteHost(h string) string {
	if len(h) > 100 {
		h = h[:100] + "…"
	}
	return `"` + strings.ToValidUTF8(h, "?") + `"`
}
