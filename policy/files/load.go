package files

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/shadowplane/shadowplane/policy"
)

// FileStatus is the state of one policy file, for the admin API and the
// validate command.
type FileStatus struct {
	Path string `json:"path"`
	// OK is true when the file's current content is valid and served.
	OK bool `json:"ok"`
	// Stale is true when the current content was rejected and the apps of
	// an earlier, good version are served instead.
	Stale bool `json:"stale,omitempty"`
	// Restored is true when that earlier version was saved before a
	// restart (see LastGood): the file has not been good since.
	Restored bool `json:"restored,omitempty"`
	// Problems are those of the current content; empty when OK.
	Problems []policy.Problem `json:"problems,omitempty"`
	// Warnings are those of the served version (policy.File.Warnings).
	Warnings []policy.Problem `json:"warnings,omitempty"`
	// LoadedAt is when the served version was read; zero if none is.
	LoadedAt time.Time `json:"loadedAt,omitzero"`
	// Apps are the names of the apps served from the file.
	Apps []string `json:"apps"`
	// Experiments are the names of the experiments declared in the file.
	Experiments []string `json:"experiments,omitempty"`
}

// LoadDir reads every policy file of dir once and assembles the apps of the
// good ones. The error is for the directory itself (missing, unreadable);
// problems with files are in their FileStatus, and a file with problems
// contributes no apps. Conflicts between files are settled in name order:
// the later file is rejected.
//
// Policy files are the *.yaml and *.yml files directly in dir. Hidden files
// (".name", which covers editor swap and lock files) and subdirectories are
// not read. Each file is read with ReadFile: one that is not a regular
// file (a FIFO, a device), or is over MaxFileSize, is a problem of that
// file, and nothing can make the load block.
func LoadDir(dir string) (*policy.Model, []FileStatus, error) {
	s := newDirState(dir, 0)
	if _, err := s.reload(time.Now()); err != nil {
		return nil, nil, err
	}
	return s.model, s.status(), nil
}

// Problems gathers the problems of every file.
func Problems(statuses []FileStatus) []policy.Problem {
	var ps []policy.Problem
	for _, s := range statuses {
		ps = append(ps, s.Problems...)
	}
	return ps
}

// Warnings returns the warnings of every file's served version, marked
// "warning: " so that they read apart from problems when printed.
func Warnings(statuses []FileStatus) []policy.Problem {
	var ws []policy.Problem
	for _, s := range statuses {
		for _, w := range s.Warnings {
			w.Message = "warning: " + w.Message
			ws = append(ws, w)
		}
	}
	return ws
}

// isPolicyFile says which directory entries are policy files. Editors'
// temporary files are hidden (".app.yaml.swp", ".#app.yaml") or end in
// something else ("app.yaml~", "#app.yaml#"), so the suffix rule and the
// leading '.' exclude them.
func isPolicyFile(name string) bool {
	if strings.HasPrefix(name, ".") || strings.HasPrefix(name, "#") {
		return false
	}
	return strings.HasSuffix(name, ".yaml") || strings.HasSuffix(name, ".yml")
}

// listPolicyFiles returns the policy files of dir, sorted. A symbolic link
// counts as what it points to, as Kubernetes mounts ConfigMap keys as
// links; a dangling one is listed so that reading it reports the problem.
func listPolicyFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("policy directory %s: %w", dir, err)
	}
	var paths []string
	for _, e := range entries {
		if !isPolicyFile(e.Name()) {
			continue
		}
		path := filepath.Join(dir, e.Name())
		if e.Type()&os.ModeSymlink != 0 {
			if fi, err := os.Stat(path); err == nil && fi.IsDir() {
				continue
			}
		} else if e.IsDir() {
			continue
		}
		paths = append(paths, path)
	}
	return paths, nil
}

// dirState is what is known of a policy directory: the last content read
// of each file and the version of it that is served. LoadDir uses it once;
// the Watcher keeps one and reloads it.
type dirState struct {
	dir string
	// settle is how long a file that vanished or became empty while
	// serving apps keeps serving them, in case it is being rewritten
	// (truncate then write, or rename away then create). 0 disables it.
	settle time.Duration
	// inPlace is how long a file rewritten in place (the same file as at
	// the last read, with new content) must stay unchanged before its new
	// content is taken, so that a half-written file is not served. A file
	// renamed or created in its place is taken at once. 0 takes every
	// change at once.
	inPlace time.Duration
	files   map[string]*fileState
	model   *policy.Model
	// lastGood, if set, keeps served contents across restarts; restore
	// holds what it had at start until the first reload has used it.
	lastGood LastGood
	restore  map[string]Saved
	// sources are the other sources of documents (SetDocuments); reloads
	// of the directory leave their documents alone. pending are those not
	// heard from since the start: their saved documents are served until
	// they are.
	sources map[string]bool
	pending map[string]bool
	// persistErr is told when lastGood fails: serving goes on.
	persistErr func(error)
	// taken are the files whose current version the rebuild in progress
	// took, to be saved to lastGood at its end.
	taken []string
	// read reads a policy file: readPolicyFile, but for tests that must
	// hold a reload at a known point.
	read func(path string) ([]byte, fs.FileInfo, error)
}

type fileState struct {
	hash     [sha256.Size]byte // of the content last read, or of the read error
	current  *policy.File      // the content last read, when it parsed; nil otherwise
	data     []byte            // current's bytes
	readAt   time.Time         // when current was read
	problems []policy.Problem  // of the content last read
	served   *policy.File      // the version in the model; nil if none
	loadedAt time.Time         // when served was read
	gone     time.Time         // when the file was first seen missing or empty while serving apps
	info     fs.FileInfo       // of the file last read (open file, before reading); nil after a read error
	// writing is set while new content written in place waits to be
	// unchanged for inPlace.
	writing *inPlaceWrite
	// restored: served was saved before a restart, as the file's current
	// content is not good.
	restored bool
	// source is the source of a document that is not a file of the
	// directory (see Watcher.SetDocuments); "" for a file.
	source string
	// saved is the hash of the content lastGood holds for the file.
	saved [sha256.Size]byte
}

// inPlaceWrite is content seen in a file rewritten in place, not taken
// yet: since when it has been unchanged.
type inPlaceWrite struct {
	hash  [sha256.Size]byte
	size  int64
	mtime time.Time
	since time.Time
}

func newDirState(dir string, settle time.Duration) *dirState {
	return &dirState{dir: dir, settle: settle, files: map[string]*fileState{}, model: &policy.Model{}, persistErr: func(error) {}, read: readPolicyFile, sources: map[string]bool{}, pending: map[string]bool{}}
}

// withLastGood makes s keep served contents in lg, and serve, at the first
// reload, the saved version of a file whose content is not good then.
func (s *dirState) withLastGood(lg LastGood) error {
	saved, err := lg.Load()
	s.lastGood, s.restore = lg, saved
	return err
}

// reloadResult says what a reload did.
type reloadResult struct {
	rebuilt  bool          // some file changed, so the model was rebuilt
	rejected []string      // files whose changed content was rejected
	retry    time.Duration // reload again after this long (a file is settling); 0 for no need
}

// holds reports whether a wait of d that began at since is still running
// at now, and if so asks for a reload when it ends.
func (r *reloadResult) holds(since time.Time, d time.Duration, now time.Time) bool {
	left := d - now.Sub(since)
	if left <= 0 {
		return false
	}
	if r.retry == 0 || left < r.retry {
		r.retry = left
	}
	return true
}

// reload reads the directory again and rebuilds the model if any file's
// content changed. It returns an error, and changes nothing, when the
// directory cannot be listed.
func (s *dirState) reload(now time.Time) (reloadResult, error) {
	var res reloadResult
	paths, err := listPolicyFiles(s.dir)
	if err != nil {
		return res, err
	}
	listed := make(map[string]bool, len(paths))
	changed := map[string]bool{}
	for _, path := range paths {
		listed[path] = true
		st := s.files[path]
		if st == nil {
			st = &fileState{}
			s.files[path] = st
		}
		data, info, rerr := s.read(path)
		h := sha256.Sum256(data)
		if rerr != nil {
			h = sha256.Sum256([]byte("read error: " + rerr.Error()))
		}
		if h == st.hash { // a new fileState has the zero hash, which no content has
			st.gone, st.writing, st.info = time.Time{}, nil, info
			continue
		}
		if rerr != nil || len(data) > 0 {
			st.gone = time.Time{}
		}
		// Both holds are checked, so that both clocks start now.
		holdEmpty := rerr == nil && len(data) == 0 && s.settling(st, now, &res)
		holdWrite := s.writingInPlace(st, h, info, now, &res)
		if holdEmpty || holdWrite {
			continue
		}
		st.gone, st.writing, st.info = time.Time{}, nil, info
		st.hash, st.readAt = h, now
		changed[path] = true
		if rerr != nil {
			// Not served: the last good version, if any, stays.
			st.current, st.data, st.problems = nil, nil, []policy.Problem{{File: path, Message: readProblem(rerr)}}
			continue
		}
		f, problems := policy.ParseFile(path, data)
		st.current, st.data, st.problems = &f, data, problems
		if len(problems) > 0 {
			st.current, st.data = nil, nil
		}
	}
	deleted := s.restoreLastGood(listed)
	for path, st := range s.files {
		if st.source != "" || listed[path] || s.settling(st, now, &res) {
			continue
		}
		delete(s.files, path)
		s.forget(path)
		deleted = true
	}
	if len(changed) == 0 && !deleted {
		return res, nil
	}
	res.rebuilt = true
	s.rebuild()
	for _, path := range paths {
		if changed[path] && len(s.files[path].problems) > 0 {
			res.rejected = append(res.rejected, path)
		}
	}
	return res, nil
}

// restoreLastGood, at the first reload after a start, serves the saved
// version of each file whose content is not good now (it failed, or
// cannot be read), and forgets saved files that are gone: deleting a file
// withdraws its apps, across a restart too.
//
// It reports whether it served a saved document of another source, which
// calls for a rebuild even when no file changed.
func (s *dirState) restoreLastGood(listed map[string]bool) (documents bool) {
	if s.restore == nil {
		return false
	}
	for path, saved := range s.restore {
		if source := s.sourceOf(path); source != "" {
			documents = s.restoreDocument(source, path, saved) || documents
			continue
		}
		st := s.files[path]
		if st == nil || !listed[path] {
			s.forget(path)
			continue
		}
		st.saved = sha256.Sum256(saved.Data)
		if st.current != nil || st.served != nil {
			continue
		}
		f, problems := policy.ParseFile(path, saved.Data)
		if len(problems) > 0 {
			// Saved by another version of shadowplane, say: nothing to serve.
			continue
		}
		st.served, st.loadedAt, st.restored = &f, saved.LoadedAt, true
	}
	s.restore = nil
	return documents
}

// savers is how many files persistTaken saves at once: each save waits
// for the disk, not the CPU.
const savers = 8

// persistTaken saves the content of each file taken by the rebuild, when
// it changed, several at a time.
func (s *dirState) persistTaken() {
	taken := s.taken
	s.taken = nil
	if s.lastGood == nil || len(taken) == 0 {
		return
	}
	paths := make(chan string)
	errs := make(chan error, len(taken))
	var wg sync.WaitGroup
	for range min(savers, len(taken)) {
		wg.Go(func() {
			for path := range paths {
				errs <- s.persist(path, s.files[path])
			}
		})
	}
	for _, path := range taken {
		paths <- path
	}
	close(paths)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			s.persistErr(err)
		}
	}
}

// persist saves the content a file is served from, when it changed. It
// touches st alone, so that files are saved concurrently.
func (s *dirState) persist(path string, st *fileState) error {
	if st.data == nil {
		return nil
	}
	h := sha256.Sum256(st.data)
	if h == st.saved {
		return nil
	}
	if err := s.lastGood.Save(path, Saved{Data: st.data, LoadedAt: st.readAt}); err != nil {
		return fmt.Errorf("saving the last good version of %s: %w", path, err)
	}
	st.saved = h
	return nil
}

// forget drops a deleted file's saved content.
func (s *dirState) forget(path string) {
	if s.lastGood == nil {
		return
	}
	if err := s.lastGood.Delete(path); err != nil {
		s.persistErr(fmt.Errorf("forgetting the last good version of %s: %w", path, err))
	}
}

// settling reports whether a file that vanished or became empty should
// keep serving its apps a little longer, and asks for a reload when that
// time is up.
func (s *dirState) settling(st *fileState, now time.Time, res *reloadResult) bool {
	if s.settle <= 0 || st.served == nil || len(st.served.Apps) == 0 {
		return false
	}
	if st.gone.IsZero() {
		st.gone = now
	}
	return res.holds(st.gone, s.settle, now)
}

// writingInPlace reports whether content read from a file should wait
// before it is taken, because the file was rewritten in place (it is the
// same file, by device and inode, as at the last read) and may still be
// being written: the content, size and modification time must stay
// unchanged for s.inPlace first. It asks for a reload when that time is
// up. Content that changes meanwhile starts the wait again, so a first
// half that parses is never taken if the rest follows within s.inPlace.
// A file renamed or created in place (another inode) is taken at once:
// atomic saves cost no wait.
func (s *dirState) writingInPlace(st *fileState, h [sha256.Size]byte, info fs.FileInfo, now time.Time, res *reloadResult) bool {
	if s.inPlace <= 0 || info == nil || st.info == nil || !os.SameFile(st.info, info) {
		st.writing = nil
		return false
	}
	w := st.writing
	if w == nil || w.hash != h || w.size != info.Size() || !w.mtime.Equal(info.ModTime()) {
		w = &inPlaceWrite{hash: h, size: info.Size(), mtime: info.ModTime(), since: now}
		st.writing = w
	}
	return res.holds(w.since, s.inPlace, now)
}

// rebuild decides which version of each file is served and builds the
// model. Every file keeps its served version unless its current content
// is good and fits beside what the other files serve: so a bad edit keeps
// the last good version, and of two files that conflict, the one that
// changed last is rejected. Good content that was rejected for a conflict
// is tried again on every rebuild, so it is served once the other file
// gives way.
func (s *dirState) rebuild() {
	paths := make([]string, 0, len(s.files))
	for path := range s.files {
		paths = append(paths, path)
	}
	slices.Sort(paths)

	// What every file serves now, then each new version in its place:
	// each is checked against every other file's served version at the
	// cost of its own size (policy.Assembly), so a rebuild is O(files).
	// Served versions fit together (versions restored after a restart
	// were served together before it); one that does not is left out of
	// the model, as Assemble would.
	set := &policy.Assembly{}
	for _, path := range paths {
		if st := s.files[path]; st.served != nil {
			set.Replace(st.served)
		}
	}
	// An experiment may name an app of a file later in name order, taken
	// in the same rebuild: files with experiments that were rejected get
	// a second try once the others are in. Experiments name apps, never
	// other experiments, so one more pass is enough.
	var retry []string
	for _, path := range paths {
		st := s.files[path]
		if st.current == nil || st.current == st.served {
			continue
		}
		if !s.take(set, path, st) && len(st.current.Experiments) > 0 {
			retry = append(retry, path)
		}
	}
	for _, path := range retry {
		s.take(set, path, s.files[path])
	}
	s.model = set.Model()
	s.persistTaken()
}

// take serves a file's current version if it fits in set, and reports
// whether it did; otherwise its problems say why not.
func (s *dirState) take(set *policy.Assembly, path string, st *fileState) bool {
	if problems := set.Replace(st.current); len(problems) > 0 {
		st.problems = problems
		return false
	}
	st.served, st.loadedAt, st.problems, st.restored = st.current, st.readAt, nil, false
	s.taken = append(s.taken, path)
	return true
}

func (s *dirState) status() []FileStatus {
	paths := make([]string, 0, len(s.files))
	for path := range s.files {
		paths = append(paths, path)
	}
	slices.Sort(paths)
	statuses := make([]FileStatus, 0, len(paths))
	for _, path := range paths {
		st := s.files[path]
		fs := FileStatus{
			Path:     path,
			OK:       len(st.problems) == 0,
			Problems: slices.Clone(st.problems),
			LoadedAt: st.loadedAt,
			Apps:     []string{},
		}
		if st.served != nil {
			for _, a := range st.served.Apps {
				fs.Apps = append(fs.Apps, a.Name)
			}
			for _, e := range st.served.Experiments {
				fs.Experiments = append(fs.Experiments, e.Name)
			}
			fs.Stale = !fs.OK
			fs.Restored = st.restored
			fs.Warnings = st.served.Warnings()
		}
		statuses = append(statuses, fs)
	}
	return statuses
}

// readProblem is the problem of a file that ReadFile did not read.
func readProblem(err error) string {
	if msg, ok := isRefused(err); ok {
		return msg
	}
	return "cannot read file: " + unwrapPathError(err)
}

// unwrapPathError drops the path from an *os.PathError, which the
// problem names already.
func unwrapPathError(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}
