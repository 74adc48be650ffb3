package admin

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
)

// Token is the credential the admin API's state-changing endpoints ask
// for, as "Authorization: Bearer TOKEN". Only its SHA-256 is kept, so
// comparing it takes the same time whatever the length of a guess.
type Token struct{ sum [sha256.Size]byte }

// String hides the token from logs and %v.
func (Token) String() string { return "(admin token)" }

// NewToken returns the token s; it must not be empty.
func NewToken(s string) (*Token, error) {
	if s == "" {
		return nil, errors.New("the admin token is empty")
	}
	return &Token{sum: sha256.Sum256([]byte(s))}, nil
}

// LoadToken reads the admin token from path: its content, without
// surrounding white space. The file must exist, must not be empty, and
// must be readable by its owner only (mode 0600 or 0400), as a token
// anyone on the host can read protects nothing. One exception: a
// Kubernetes Secret mounted with the pod's fsGroup, which the kubelet
// makes root's, of the pod's group, mode 0440 (podSecret).
func LoadToken(path string) (*Token, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("admin token file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("admin token file %s is not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 && !podSecret(fi) {
		return nil, fmt.Errorf("admin token file %s has mode %04o: other users may read it; chmod 600 %s", path, perm, path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("admin token file: %w", err)
	}
	tok, err := NewToken(strings.TrimSpace(string(data)))
	if err != nil {
		return nil, fmt.Errorf("admin token file %s is empty", path)
	}
	return tok, nil
}

// matches reports whether header is "Bearer " and the token, in
// constant time.
func (t *Token) matches(header string) bool {
	scheme, cred, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	got := sha256.Sum256([]byte(strings.TrimSpace(cred)))
	return subtle.ConstantTimeCompare(got[:], t.sum[:]) == 1
}

// CheckExposure refuses an admin address off loopback without a token:
// anyone who can reach it could then steer experiments.
func CheckExposure(addr string, tok TokenSource) error {
	if (tok != nil && tok.Current() != nil) || IsLoopback(addr) {
		return nil
	}
	return fmt.Errorf("admin address %s is not loopback: start serve with --admin-token-file so that only holders of the token can change experiments", addr)
}

// IsLoopback reports whether addr (host:port) listens on loopback only
// ("localhost" or a loopback IP). serve asks it of its xDS address too.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// crossSite reports why a state-changing request comes from another
// site, or "". A browser sends Sec-Fetch-Site with every request and
// Origin with every POST; a page of another site cannot forge either.
// Tools such as curl send neither and are let through (they need the
// token anyway).
func crossSite(r *http.Request) string {
	if s := r.Header.Get("Sec-Fetch-Site"); s != "" && s != "same-origin" && s != "none" {
		return "Sec-Fetch-Site " + quoteHost(s)
	}
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		if err != nil || o == "null" || !strings.EqualFold(u.Host, r.Host) {
			return "Origin " + quoteHost(o) + " is not this API's " + quoteHost(r.Host)
		}
	}
	return ""
}

// requireToken guards a state-changing handler: same-site requests only,
// carrying the token in force. Without a token configured nothing may
// change.
func requireToken(src TokenSource, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if why := crossSite(r); why != "" {
			writeError(w, http.StatusForbidden, "cross-site request refused: "+why)
			return
		}
		var tok *Token
		if src != nil {
			if tok = src.Current(); tok == nil {
				writeError(w, http.StatusForbidden, "changes are refused: the admin token file is not usable now (readable by others?); serve's log says why")
				return
			}
		}
		if tok == nil {
			writeError(w, http.StatusForbidden, "changes through the admin API are off: start shadowplane serve with --admin-token-file FILE")
			return
		}
		if !tok.matches(r.Header.Get("Authorization")) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="shadowplane"`)
			if r.Header.Get("Authorization") == "" {
				writeError(w, http.StatusUnauthorized, "missing Authorization: Bearer TOKEN (the content of serve's --admin-token-file)")
			} else {
				writeError(w, http.StatusUnauthorized, "wrong admin token")
			}
			return
		}
		next.ServeHTTP(w, r)
	})
}
