package files

import (
	"crypto/sha256"
	"fmt"
	"strings"
	"time"

	"github.com/shadowplane/shadowplane/policy"
)

// Policy documents need not be files of the directory: the Kubernetes
// source reads them from ConfigMaps. They join the same set as the files
// (decision 0017), so that one set of rules covers every document: each
// is parsed like a file, keeps its last good version when a new one is
// bad (across restarts too, through LastGood), and conflicts between any
// two documents, whatever their source, are settled as between files —
// the one that changed last is rejected.

// SetDocuments replaces the documents of source (for example
// "configmap") with docs, keyed by path; each path must start with
// source + "/" (for example "configmap/NAMESPACE/NAME/KEY"), and the
// source must be one of WatcherOptions.Sources. Documents of the source
// missing from docs are withdrawn. It rebuilds the model at once, asks
// Run to publish it, and returns the status of the source's documents,
// sorted by path.
func (w *Watcher) SetDocuments(source string, docs map[string][]byte) []FileStatus {
	start := time.Now()
	w.reloading.Lock()
	rejected, rebuilt, err := w.state.setDocuments(source, docs, start)
	if rebuilt {
		w.publishState(func(stats *WatcherStats) {
			stats.Reloads++
			stats.LastReload = start
			stats.LastReloadDuration = time.Since(start)
			if len(rejected) > 0 {
				stats.ReloadErrors++
			}
		})
	}
	var out []FileStatus
	for _, fs := range w.Status() {
		if strings.HasPrefix(fs.Path, source+"/") {
			out = append(out, fs)
		}
	}
	w.reloading.Unlock()
	if err != nil {
		w.log.Error("policy documents refused", "source", source, "error", err)
		return out
	}
	isRejected := map[string]bool{}
	for _, path := range rejected {
		isRejected[path] = true
	}
	for _, fs := range out {
		if isRejected[fs.Path] {
			w.log.Error("policy document rejected", "document", fs.Path, "serving_last_good", fs.Stale, "problems", len(fs.Problems), "first", logProblems(fs.Problems))
		}
	}
	if rebuilt {
		select {
		case w.changed <- struct{}{}:
		default: // a publication is already due
		}
	}
	return out
}

// sourceOf is the source a path belongs to, or "" for a file.
func (s *dirState) sourceOf(path string) string {
	source, _, ok := strings.Cut(path, "/")
	if ok && s.sources[source] {
		return source
	}
	return ""
}

// setDocuments is SetDocuments on the state: it reports the documents
// whose changed content was rejected and whether the model was rebuilt.
func (s *dirState) setDocuments(source string, docs map[string][]byte, now time.Time) (rejected []string, rebuilt bool, err error) {
	if !s.sources[source] {
		return nil, false, fmt.Errorf("%q is not a source of policy documents", source)
	}
	for path := range docs {
		if s.sourceOf(path) != source || strings.HasSuffix(path, "/") {
			return nil, false, fmt.Errorf("document %q is not under %s/", path, source)
		}
	}
	delete(s.pending, source)
	changed := false
	for path, data := range docs {
		st := s.files[path]
		if st == nil {
			st = &fileState{source: source}
			s.files[path] = st
		}
		h := sha256.Sum256(data)
		if h == st.hash {
			continue
		}
		st.hash, st.readAt = h, now
		changed = true
		if int64(len(data)) > MaxFileSize {
			st.current, st.data = nil, nil
			st.problems = []policy.Problem{{File: path, Message: tooLarge(int64(len(data)), MaxFileSize, "policy document").Error()}}
			rejected = append(rejected, path)
			continue
		}
		f, problems := policy.ParseFile(path, data)
		st.current, st.data, st.problems = &f, data, problems
		if len(problems) > 0 {
			st.current, st.data = nil, nil
			rejected = append(rejected, path)
		}
	}
	for path, st := range s.files {
		if st.source != source {
			continue
		}
		if _, ok := docs[path]; ok {
			continue
		}
		delete(s.files, path)
		s.forget(path)
		changed = true
	}
	if !changed {
		return nil, false, nil
	}
	s.rebuild()
	// A rejected document that a conflict, not its content, keeps out is
	// reported too: rebuild set its problems.
	isRejected := make(map[string]bool, len(rejected))
	for _, path := range rejected {
		isRejected[path] = true
	}
	for path := range docs {
		if st := s.files[path]; st != nil && len(st.problems) > 0 && !isRejected[path] {
			rejected = append(rejected, path)
		}
	}
	return rejected, true, nil
}

// restoreDocument serves, at start, the saved version of a document of
// another source until that source first reports its documents: a restart
// while the API server is down keeps serving what was served before it.
func (s *dirState) restoreDocument(source, path string, saved Saved) bool {
	if !s.pending[source] {
		return false
	}
	f, problems := policy.ParseFile(path, saved.Data)
	if len(problems) > 0 {
		return false // saved by another version of shadowplane, say
	}
	s.files[path] = &fileState{source: source, served: &f, loadedAt: saved.LoadedAt, restored: true, saved: sha256.Sum256(saved.Data)}
	return true
}
