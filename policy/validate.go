package policy

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
)

// Validate reports every problem of the app, joined; each is a FieldError
// naming the field it concerns. It expects Defaults to have run: without
// them, fields that have defaults are reported as missing.
//
// Validate checks one app. Rules across apps (a name or host claimed
// twice) are checked by ParseFile within a file and by Assemble across
// files.
func (a *App) Validate() error {
	fe := a.validate()
	errs := make([]error, len(fe))
	for i, e := range fe {
		errs[i] = e
	}
	return errors.Join(errs...)
}

func (a *App) validate() fieldErrors {
	var fe fieldErrors
	if a.APIVersion != "" && a.APIVersion != APIVersion {
		fe.add("apiVersion", "%q is not supported: use %q or leave it out", a.APIVersion, APIVersion)
	}
	// A document without kind is refused before it is decoded; an App
	// built in code may leave Kind empty.
	if a.Kind != "" && a.Kind != KindApp {
		fe.add("kind", "%q is not supported: want %s", a.Kind, KindApp)
	}
	checkName(&fe, "name", "app name", a.Name)
	a.validateHosts(&fe)
	if a.Port < 0 || a.Port > 65535 {
		fe.add("port", "%d is not a port: use 1 to 65535, or 0 for an app served only to proxyless gRPC clients", a.Port)
	}
	validateSelector(&fe, "proxies", a.Proxies)
	a.validateVariants(&fe)
	a.validateRoutes(&fe)
	return fe
}

// dnsLabel is RFC 1123's label. App and variant names become parts of
// Envoy cluster names and stats, and route names parts of runtime keys, so
// they avoid '.', '_' and upper case.
var dnsLabel = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)

func checkName(fe *fieldErrors, path, what, name string) {
	switch {
	case name == "":
		fe.add(path, "%s is required", what)
	case !dnsLabel.MatchString(name):
		fe.add(path, "%q is not a valid %s: use a DNS label (lower-case letters, digits and '-', at most 63 characters, starting and ending with a letter or digit)", name, what)
	}
}

func (a *App) validateHosts(fe *fieldErrors) {
	if len(a.Hosts) == 0 {
		fe.add("hosts", "at least one host is required")
	}
	seen := map[string]int{}
	for i, h := range a.Hosts {
		p := index("hosts", i)
		switch {
		case h == "":
			fe.add(p, "host must not be empty")
		case !validHost(h):
			fe.add(p, "%q is not a valid host: use a lower-case DNS name, optionally starting with \"*.\"", h)
		}
		if first, dup := seen[h]; dup {
			fe.add(p, "host %q is listed twice (first at hosts[%d])", h, first)
		} else {
			seen[h] = i
		}
	}
}

// validHost accepts a DNS name, optionally starting with the wildcard
// "*." that Envoy matches against any prefix.
func validHost(h string) bool {
	return validHostname(strings.TrimPrefix(h, "*."))
}

func validHostname(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for label := range strings.SplitSeq(h, ".") {
		if !dnsLabel.MatchString(label) {
			return false
		}
	}
	return true
}

func validateSelector(fe *fieldErrors, path string, s Selector) {
	for i, c := range s.Clusters {
		if strings.TrimSpace(c) == "" {
			fe.add(index(join(path, "clusters"), i), "must not be empty")
		}
	}
	for i, id := range s.IDs {
		if strings.TrimSpace(id) == "" {
			fe.add(index(join(path, "ids"), i), "must not be empty")
		}
	}
	validateIdentities(fe, path, s)
}

func (a *App) validateVariants(fe *fieldErrors) {
	if len(a.Variants) == 0 {
		fe.add("variants", "at least one variant is required")
	}
	seen := map[string]int{}
	for i, v := range a.Variants {
		p := index("variants", i)
		checkName(fe, join(p, "name"), "variant name", v.Name)
		if first, dup := seen[v.Name]; dup && v.Name != "" {
			fe.add(join(p, "name"), "variant %q is declared twice (first at variants[%d])", v.Name, first)
		} else {
			seen[v.Name] = i
		}
		if sources := countSet(len(v.Endpoints) > 0, v.DNS != "", v.Service != nil); sources > 1 {
			fe.add(p, "set one of endpoints, dns or service, not %d", sources)
		}
		if v.Service != nil {
			validateService(fe, join(p, "service"), v.Service)
		}
		endpoints := map[string]int{}
		for j, ep := range v.Endpoints {
			if err := checkEndpoint(ep); err != nil {
				fe.add(index(join(p, "endpoints"), j), "%v", err)
			}
			if first, dup := endpoints[ep]; dup {
				fe.add(index(join(p, "endpoints"), j), "endpoint %q is listed twice (first at endpoints[%d])", ep, first)
			} else {
				endpoints[ep] = j
			}
		}
		if v.DNS != "" {
			if err := checkHostPort(v.DNS); err != nil {
				fe.add(join(p, "dns"), "%v", err)
			}
		}
	}
}

// checkHostPort accepts "host:port" where host is an IP address ("[::1]"
// for IPv6) or a DNS name and port is a number from 1 to 65535.
func checkHostPort(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("%q is not host:port", s)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("%q: port %q is not a number from 1 to 65535", s, port)
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return nil
	}
	if !validHostname(strings.ToLower(host)) {
		return fmt.Errorf("%q: %q is neither an IP address nor a host name", s, host)
	}
	return nil
}

// checkEndpoint accepts "ip:port": endpoints are served over EDS, where
// Envoy and gRPC take addresses, not names to resolve.
func checkEndpoint(s string) error {
	if err := checkHostPort(s); err != nil {
		return err
	}
	host, _, _ := net.SplitHostPort(s)
	if _, err := netip.ParseAddr(host); err != nil {
		return fmt.Errorf("%q: endpoints are IP addresses (proxies receive them over EDS); for a host name, use dns: %q instead", s, s)
	}
	return nil
}

func (a *App) validateRoutes(fe *fieldErrors) {
	if len(a.Routes) == 0 {
		fe.add("routes", "at least one route is required")
	}
	seen := map[string]int{}
	variants := a.variantSet()
	for i := range a.Routes {
		r := &a.Routes[i]
		p := index("routes", i)
		checkName(fe, join(p, "name"), "route name", r.Name)
		if first, dup := seen[r.Name]; dup && r.Name != "" {
			fe.add(join(p, "name"), "route %q is declared twice (first at routes[%d])", r.Name, first)
		} else {
			seen[r.Name] = i
		}
		validateMatch(fe, join(p, "match"), r.Match)
		a.validateSplit(fe, variants, join(p, "split"), r.Split)
		if r.Mirror != nil {
			a.validateMirror(fe, variants, join(p, "mirror"), r)
		}
		if r.Timeout < 0 {
			fe.add(join(p, "timeout"), "must not be negative, got %v", r.Timeout)
		}
		if r.Retries != nil {
			validateRetries(fe, join(p, "retries"), *r.Retries)
		}
	}
	a.validateReachable(fe)
}

// validateReachable reports routes that can never match because a route
// before them matches every request they would: the same match, or a
// match of everything. (Routes are tried in order; the first match wins.)
func (a *App) validateReachable(fe *fieldErrors) {
	// The first route that matches everything, and the first route of
	// each match: one pass, not a comparison of every pair of routes.
	all := -1
	first := make(map[string]int, len(a.Routes))
	for i, r := range a.Routes {
		key := matchKey(r.Match)
		same, ok := first[key]
		switch {
		case all >= 0 && (!ok || all <= same):
			fe.add(join(index("routes", i), "match"), "route %q is unreachable: route %q before it matches every request", r.Name, a.Routes[all].Name)
		case ok:
			fe.add(join(index("routes", i), "match"), "route %q is unreachable: route %q before it has the same match", r.Name, a.Routes[same].Name)
		}
		if !ok {
			first[key] = i
		}
		if key == "" && all < 0 {
			all = i
		}
	}
}
