//go:build unix

package server

import (
	"math"
	"syscall"
)

// FileLimit returns the process's limit on open files, RLIMIT_NOFILE, after
// raising the soft limit to the hard one. Go's runtime raises it already
// at start (since Go 1.19, on Linux and the BSDs) and lowers it again only
// for child processes; asking again costs nothing and covers the platforms
// where it does not.
func FileLimit() (int, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, err
	}
	if lim.Cur < lim.Max {
		raised := lim
		raised.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised); err == nil {
			lim = raised
		}
	}
	if lim.Cur > math.MaxInt32 {
		return math.MaxInt32, nil // RLIM_INFINITY
	}
	return int(lim.Cur), nil
}
