// Package files is the directory source of policy: it reads the *.yaml and
// *.yml files of a directory, parses and assembles them with package
// policy, and keeps the resulting policy.Model up to date as the files
// change.
//
// LoadDir reads a directory once (validate, render). A Watcher keeps one
// (serve): fsnotify events, debounced, and a periodic rescan, with a
// per-file state machine that serves the last good version of a file whose
// current content is rejected, a short settling time for files that
// vanish or empty while being rewritten, and a settle period before new
// content written in place (not renamed) is taken, so that a half-written
// file is not served. FileStatus is the state of each
// file, as the admin API and validate show it. ReadFile is the one bounded
// read of a policy file (a regular file of at most MaxFileSize bytes), used
// by serve and validate alike.
//
// The last-good store (LastGood, LastGoodDir) lives here too, not in
// policy: what it keeps is a file's bytes by path, saved when this source
// starts serving them and forgotten when the file is deleted. It is part of
// how a directory of files degrades, and another source would keep its own
// last-good state its own way.
package files
