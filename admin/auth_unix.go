//go:build unix

package admin

import (
	"os"
	"syscall"
)

// podSecret reports whether fi is a file as the kubelet mounts a Secret
// for a pod with an fsGroup: owned by root, of the process's own group,
// readable by that group and no one else, writable by no one but root.
// The group is the pod's, so this is as private as 0400 of our own user
// would be; the kubelet cannot make the file ours (it adds group read
// to any defaultMode, and the owner stays root).
func podSecret(fi os.FileInfo) bool { return podSecretFor(fi, os.Geteuid(), os.Getegid()) }

// podSecretFor is podSecret for a process of user euid and group egid.
// Root needs no exception: its own files can be 0400.
func podSecretFor(fi os.FileInfo, euid, egid int) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || euid == 0 {
		return false
	}
	perm := fi.Mode().Perm()
	return st.Uid == 0 && int(st.Gid) == egid && perm&0o037 == 0 && perm&0o007 == 0
}

// inodeOf is fi's inode number, which a symlink swap changes.
func inodeOf(fi os.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Ino)
	}
	return 0
}
