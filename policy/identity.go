package policy

import (
	"path"
	"strings"
)

// A selector's identities bind the clusters and ids it lists to the
// identities of client certificates (decision 0019): over mTLS xDS, a
// proxy that claims one of the selector's clusters or ids must present a
// certificate whose identity (its SPIFFE URI SAN, else its first DNS SAN)
// matches one of them, or its stream is refused. Without client
// certificates nothing is bound.
//
// An entry is an exact identity or a path.Match pattern, where '*' stays
// within one '/'-separated segment: "spiffe://example.org/ns/prod/sa/*"
// matches every service account of one namespace and nothing below it.

// MaxIdentityLength bounds one identities entry: a SPIFFE ID is at most
// 2048 bytes (SPIFFE ID specification, section 2.3).
const MaxIdentityLength = 2048

// AllowsIdentity reports whether identity matches one of the selector's
// identities. A selector without identities allows every identity.
func (s Selector) AllowsIdentity(identity string) bool {
	if len(s.Identities) == 0 {
		return true
	}
	for _, p := range s.Identities {
		if IdentityMatches(p, identity) {
			return true
		}
	}
	return false
}

// IdentityMatches reports whether identity matches pattern, an exact
// identity or a path.Match pattern. An empty identity (a certificate with
// neither a SPIFFE URI nor a DNS name) matches nothing.
func IdentityMatches(pattern, identity string) bool {
	if identity == "" {
		return false
	}
	if pattern == identity {
		return true
	}
	ok, err := path.Match(pattern, identity)
	return err == nil && ok
}

func validateIdentities(fe *fieldErrors, p string, s Selector) {
	if len(s.Identities) > 0 && s.Empty() {
		fe.add(join(p, "identities"), "binds nothing: list the clusters or ids these identities may claim (a selector with only identities would select every proxy)")
	}
	for i, id := range s.Identities {
		at := index(join(p, "identities"), i)
		switch {
		case strings.TrimSpace(id) == "":
			fe.add(at, "must not be empty")
		case len(id) > MaxIdentityLength:
			fe.add(at, "is %d bytes long, over %d (the longest SPIFFE ID)", len(id), MaxIdentityLength)
		case strings.ContainsFunc(id, func(r rune) bool { return r < ' ' || r == 0x7f }):
			fe.add(at, "%q contains a control character", id)
		default:
			if _, err := path.Match(id, ""); err != nil {
				fe.add(at, "%q is not a valid pattern (path.Match: %v); write the identity exactly, or use * within one segment", id, err)
			}
		}
	}
}
