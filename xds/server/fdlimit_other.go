//go:build !unix

package server

import "errors"

// FileLimit is not known here: callers set ConnLimits themselves.
func FileLimit() (int, error) {
	return 0, errors.New("no RLIMIT_NOFILE on this platform")
}
