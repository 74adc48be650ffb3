package files

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
)

// MaxFileSize is the largest policy file shadowplane reads, the one limit
// of serve (the files of its directory) and validate (directories and
// files named on the command line) alike. Anything larger is a mistake —
// a log written to the wrong place — not policy.
const MaxFileSize = 4 << 20

// ReadFile reads a policy file as serve does: only a regular file (or a
// symbolic link to one, as Kubernetes mounts ConfigMap keys) of at most
// MaxFileSize bytes. It never blocks on a FIFO or reads a device, however
// the file is swapped while it is read, and reads at most MaxFileSize+1
// bytes of anything. A file it refuses gives an error whose message is
// the whole problem, such as "not a regular file (named pipe); policy
// files must be regular files" or "4.2 MiB is over the 4 MiB limit for a
// policy file"; other errors are those of the os package.
func ReadFile(path string) ([]byte, error) {
	return readRegular(path, MaxFileSize, "policy file")
}

// readPolicyFile is ReadFile that also returns the FileInfo of the file
// read, taken on the open file before reading it (nil on error): the
// watcher compares it with the previous read's to tell a file rewritten in
// place from one renamed or created anew.
func readPolicyFile(path string) ([]byte, fs.FileInfo, error) {
	return readRegularInfo(path, MaxFileSize, "policy file")
}

// refusedError is a file that readRegular would not read: its message is
// the problem, to be shown as is (not as "cannot read file").
type refusedError struct{ msg string }

func (e *refusedError) Error() string { return e.msg }

// isRefused reports whether err says a file was refused for its type or
// size, and returns the message.
func isRefused(err error) (string, bool) {
	var r *refusedError
	if errors.As(err, &r) {
		return r.msg, true
	}
	return "", false
}

// readRegular reads a regular file of at most limit bytes; what names the
// kind of file in messages ("policy file").
//
// The type is checked before the file is opened: opening a FIFO for
// reading blocks until a writer comes, and opening a device can do
// anything. The open is non-blocking all the same, and the type checked
// again on what was opened, in case the path was swapped in between. The
// read stops after limit+1 bytes, in case the file grew (or is one of
// those that report no size).
func readRegular(path string, limit int64, what string) ([]byte, error) {
	data, _, err := readRegularInfo(path, limit, what)
	return data, err
}

// readRegularInfo is readRegular that also returns the FileInfo of the
// open file, taken before the read; nil on error.
func readRegularInfo(path string, limit int64, what string) ([]byte, fs.FileInfo, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, nil, err
	}
	if err := checkRegular(fi, limit, what); err != nil {
		return nil, nil, err
	}
	testHookBeforeOpen(path)
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	if fi, err = f.Stat(); err != nil {
		return nil, nil, err
	}
	if err := checkRegular(fi, limit, what); err != nil {
		return nil, nil, err
	}
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, nil, err
	}
	if int64(len(data)) > limit {
		size := int64(-1) // unknown: more than limit
		if fi, err := f.Stat(); err == nil && fi.Size() > limit {
			size = fi.Size()
		}
		return nil, nil, tooLarge(size, limit, what)
	}
	return data, fi, nil
}

// testHookBeforeOpen lets a test swap the file between the checks.
var testHookBeforeOpen = func(string) {}

func checkRegular(fi fs.FileInfo, limit int64, what string) error {
	if !fi.Mode().IsRegular() {
		return &refusedError{fmt.Sprintf("not a regular file (%s); %ss must be regular files", fileKind(fi.Mode()), what)}
	}
	if fi.Size() > limit {
		return tooLarge(fi.Size(), limit, what)
	}
	return nil
}

// tooLarge says that a file of size bytes (-1: unknown) is over limit.
func tooLarge(size, limit int64, what string) error {
	return &refusedError{fmt.Sprintf("%s is over the %s limit for a %s", sizeOver(size, limit), formatSize(limit), what)}
}

// sizeOver writes a size over limit so that it reads as more than limit:
// "4.2 MiB", but "4194305 bytes" rather than a rounded "4.0 MiB".
func sizeOver(size, limit int64) string {
	if size < 0 {
		return "more than " + formatSize(limit)
	}
	const mib = 1 << 20
	if tenths := (size*10 + mib/2) / mib; tenths*mib > limit*10 {
		return fmt.Sprintf("%.1f MiB", float64(tenths)/10)
	}
	return fmt.Sprintf("%d bytes", size)
}

// formatSize writes a size in MiB with one decimal ("4.2 MiB"), none when
// it is a whole number of MiB ("4 MiB"), and in bytes below 1 MiB.
func formatSize(n int64) string {
	const mib = 1 << 20
	switch {
	case n < mib:
		return fmt.Sprintf("%d bytes", n)
	case n%mib == 0:
		return fmt.Sprintf("%d MiB", n/mib)
	default:
		return fmt.Sprintf("%.1f MiB", float64(n)/mib)
	}
}

// fileKind names what a file that is not regular is.
func fileKind(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "named pipe"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeCharDevice != 0:
		return "character device"
	case m&fs.ModeDevice != 0:
		return "block device"
	case m.IsDir():
		return "directory"
	case m&fs.ModeSymlink != 0:
		return "symbolic link"
	default:
		return "irregular file"
	}
}
