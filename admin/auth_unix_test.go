//go:build unix

package admin

import (
	"io/fs"
	"os"
	"syscall"
	"testing"
	"time"
)

// statInfo is what os.Stat returns for a file of the given owner, group
// and mode: the kubelet's Secret files cannot be made without root.
type statInfo struct {
	mode     fs.FileMode
	uid, gid uint32
}

func (s statInfo) Name() string       { return "token" }
func (s statInfo) Size() int64        { return 32 }
func (s statInfo) Mode() fs.FileMode  { return s.mode }
func (s statInfo) ModTime() time.Time { return time.Time{} }
func (s statInfo) IsDir() bool        { return false }
func (s statInfo) Sys() any           { return &syscall.Stat_t{Uid: s.uid, Gid: s.gid} }

var _ os.FileInfo = statInfo{}

// TestPodSecret: a Secret as the kubelet mounts it for a pod with
// fsGroup 65532 (root's, group 65532, 0440) is the token of a process
// of group 65532, and nothing looser is.
func TestPodSecret(t *testing.T) {
	const uid, gid = 65532, 65532
	for _, c := range []struct {
		name string
		fi   statInfo
		euid int
		want bool
	}{
		{"kubelet secret, fsGroup", statInfo{0o440, 0, gid}, uid, true},
		{"another group", statInfo{0o440, 0, 100}, uid, false},
		{"group may write", statInfo{0o460, 0, gid}, uid, false},
		{"others may read", statInfo{0o444, 0, gid}, uid, false},
		{"not root's", statInfo{0o440, 1000, gid}, uid, false},
		{"process is root", statInfo{0o440, 0, gid}, 0, false},
	} {
		if got := podSecretFor(c.fi, c.euid, gid); got != c.want {
			t.Errorf("%s: podSecretFor = %v, want %v", c.name, got, c.want)
		}
	}
}
