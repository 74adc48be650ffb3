package admin

import (
	"errors"
	"os"
	"sync"
	"time"
)

// TokenSource gives the admin token in force: a *Token, fixed, or a
// *TokenFile, which follows its file.
type TokenSource interface {
	// Current is the token requests must carry now; nil when none is
	// configured.
	Current() *Token
}

// Current is t itself: a token that never changes.
func (t *Token) Current() *Token { return t }

// TokenFileOptions tune a TokenFile.
type TokenFileOptions struct {
	// CheckEvery is how often a request may look whether the file
	// changed; between looks the token last read is used. Default 2 s.
	// Tests set a negative value to look on every request.
	CheckEvery time.Duration
	// OnReload is told of every change of the file: err is nil when the
	// new token is in force, else why it was refused (the previous token
	// stays in force). It is told once per change, never of the token.
	OnReload func(err error)
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// TokenFile is the admin token of a file (LoadToken's rules), read again
// when the file changes, so that rotating the token needs no restart: a
// Kubernetes Secret the kubelet updates by swapping a symlink, a file an
// operator rewrites. A change that does not load — a mode others may
// read, an empty file, a file gone — keeps the previous token in force:
// the API never falls open, and never locks its operators out because of
// half a rotation.
type TokenFile struct {
	path string
	opts TokenFileOptions

	mu      sync.Mutex
	tok     *Token
	checked time.Time
	// good is the file as it was when tok was read; bad the last change
	// refused, so that it is reported once, not per request.
	good, bad fileStamp
}

// fileStamp tells one version of a file from another without reading it:
// a rewrite changes its size or modification time, a symlink swap its
// inode, a chmod its mode. The mode matters: a token refused for being
// readable by others is taken once chmod fixes it, and one made readable
// later is refused.
type fileStamp struct {
	size  int64
	mtime time.Time
	mode  os.FileMode
	ino   uint64
	err   string
}

func stampOf(path string) fileStamp {
	fi, err := os.Stat(path)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			return fileStamp{err: pe.Err.Error()}
		}
		return fileStamp{err: err.Error()}
	}
	return fileStamp{size: fi.Size(), mtime: fi.ModTime(), mode: fi.Mode(), ino: inodeOf(fi)}
}

// OpenTokenFile reads the token of path; unlike later changes, a file
// that does not load now is an error.
func OpenTokenFile(path string, opts TokenFileOptions) (*TokenFile, error) {
	if opts.CheckEvery == 0 {
		opts.CheckEvery = 2 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.OnReload == nil {
		opts.OnReload = func(error) {}
	}
	stamp := stampOf(path)
	tok, err := LoadToken(path)
	if err != nil {
		return nil, err
	}
	return &TokenFile{path: path, opts: opts, tok: tok, good: stamp, checked: opts.Now()}, nil
}

// Current is the token in force, after looking at the file if CheckEvery
// has passed since the last look.
func (f *TokenFile) Current() *Token {
	if f == nil {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.opts.Now()
	if f.opts.CheckEvery > 0 && now.Sub(f.checked) < f.opts.CheckEvery {
		return f.tok
	}
	f.checked = now
	stamp := stampOf(f.path)
	if (stamp == f.good && f.tok != nil) || stamp == f.bad {
		return f.tok
	}
	tok, err := LoadToken(f.path)
	if err != nil {
		// The token in force stays, unless the file it came from is now
		// readable by others: then it is no secret any more, and changes
		// are refused until the file is fixed.
		f.bad = stamp
		if stamp.err == "" && stamp.ino == f.good.ino && stamp.size == f.good.size && stamp.mtime.Equal(f.good.mtime) {
			f.tok = nil
		}
		f.opts.OnReload(err)
		return f.tok
	}
	f.tok, f.good, f.bad = tok, stamp, fileStamp{}
	f.opts.OnReload(nil)
	return f.tok
}
