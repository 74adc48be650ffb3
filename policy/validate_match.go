package policy

import (
	"errors"
	"regexp"
	"regexp/syntax"
	"slices"
	"strconv"
	"strings"
)

// httpMethods are the methods a route may match, as Envoy spells them.
var httpMethods = []string{"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE"}

func validateMatch(fe *fieldErrors, path string, m Match) {
	if m.Path != nil {
		validateStringMatch(fe, join(path, "path"), *m.Path, true)
	}
	for i, h := range m.Headers {
		validateHeaderMatch(fe, index(join(path, "headers"), i), h)
	}
	seen := map[string]int{}
	for i, method := range m.Methods {
		p := index(join(path, "methods"), i)
		switch {
		case slices.Contains(httpMethods, method):
		case slices.Contains(httpMethods, strings.ToUpper(method)):
			fe.add(p, "method %q must be upper case: %s", method, strings.ToUpper(method))
		default:
			fe.add(p, "%q is not an HTTP method: use one of %s", method, strings.Join(httpMethods, ", "))
		}
		if first, dup := seen[method]; dup {
			fe.add(p, "method %q is listed twice (first at methods[%d])", method, first)
		} else {
			seen[method] = i
		}
	}
}

// validateStringMatch checks that exactly one way of matching is set. A
// request path always starts with '/', so an exact or prefix path match
// that does not can never match.
func validateStringMatch(fe *fieldErrors, path string, m StringMatch, isPath bool) {
	switch n := countSet(m.Exact != "", m.Prefix != "", m.Regex != ""); {
	case n == 0:
		fe.add(path, "set one of exact, prefix or regex")
	case n > 1:
		fe.add(path, "set only one of exact, prefix or regex")
	}
	if isPath {
		if m.Exact != "" && !strings.HasPrefix(m.Exact, "/") {
			fe.add(join(path, "exact"), "%q must start with \"/\"", m.Exact)
		}
		if m.Prefix != "" && !strings.HasPrefix(m.Prefix, "/") {
			fe.add(join(path, "prefix"), "%q must start with \"/\"", m.Prefix)
		}
	}
	validateRegex(fe, join(path, "regex"), m.Regex)
}

// validateRegex compiles with Go's regexp, which implements the RE2 syntax
// Envoy uses, so a pattern that passes here is accepted by Envoy too.
func validateRegex(fe *fieldErrors, path, re string) {
	if re == "" {
		return
	}
	_, err := regexp.Compile(re)
	var se *syntax.Error
	switch {
	case err == nil:
	case errors.As(err, &se) && se.Expr != re:
		fe.add(path, "%q is not a valid RE2 regular expression: %s: %s", re, se.Code, se.Expr)
	case errors.As(err, &se):
		fe.add(path, "%q is not a valid RE2 regular expression: %s", re, se.Code)
	default:
		fe.add(path, "%q is not a valid RE2 regular expression: %v", re, err)
	}
}

func validateHeaderMatch(fe *fieldErrors, path string, h HeaderMatch) {
	switch {
	case h.Name == "":
		fe.add(join(path, "name"), "header name is required")
	case !validHeaderName(h.Name):
		fe.add(join(path, "name"), "%q is not a valid header name", h.Name)
	}
	switch n := countSet(h.Exact != "", h.Prefix != "", h.Regex != "", h.Present); {
	case n == 0:
		fe.add(path, "set one of exact, prefix, regex or present")
	case n > 1:
		fe.add(path, "set only one of exact, prefix, regex or present")
	}
	validateRegex(fe, join(path, "regex"), h.Regex)
}

// validHeaderName accepts an HTTP token (RFC 9110), or a pseudo-header
// such as ":authority", which Envoy also matches.
func validHeaderName(name string) bool {
	name = strings.TrimPrefix(name, ":")
	if name == "" {
		return false
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("!#$%&'*+-.^_`|~", c)) {
			return false
		}
	}
	return true
}

func countSet(set ...bool) int {
	n := 0
	for _, s := range set {
		if s {
			n++
		}
	}
	return n
}

// matchKey is a canonical form of a match, equal for two matches that
// select the same requests by the same conditions in any order; "" for a
// match of every request. A path prefix of "/" matches every path.
func matchKey(m Match) string {
	var parts []string
	if p := m.Path; p != nil && !(p.Prefix == "/" && p.Exact == "" && p.Regex == "") {
		parts = append(parts, "path "+stringMatchKey(*p))
	}
	var headers []string
	for _, h := range m.Headers {
		k := "header " + strconv.Quote(strings.ToLower(h.Name)) + " " + stringMatchKey(h.StringMatch)
		if h.Present {
			k += " present"
		}
		headers = append(headers, k)
	}
	slices.Sort(headers)
	parts = append(parts, slices.Compact(headers)...)
	if len(m.Methods) > 0 {
		methods := slices.Clone(m.Methods)
		slices.Sort(methods)
		parts = append(parts, "methods "+strings.Join(slices.Compact(methods), ","))
	}
	return strings.Join(parts, "; ")
}

func stringMatchKey(m StringMatch) string {
	return strconv.Quote(m.Exact) + " " + strconv.Quote(m.Prefix) + " " + strconv.Quote(m.Regex)
}
