//go:build unix

package server

import (
	"syscall"
	"testing"
)

func TestFileLimitRaisesSoftToHard(t *testing.T) {
	n, err := FileLimit()
	if err != nil {
		t.Fatal(err)
	}
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	if lim.Cur != lim.Max || uint64(n) != min(lim.Cur, 1<<31-1) {
		t.Fatalf("FileLimit() = %d with soft %d, hard %d: want soft raised to hard and returned", n, lim.Cur, lim.Max)
	}
}
