package files

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/shadowplane/shadowplane/policy"
)

// Watcher defaults. The holdoff lets an editor finish a save (several
// events) before one rebuild; the max delay keeps a stream of events from
// putting the rebuild off for long; the settle keeps a file that is being
// written in place from being served half written; the rescan catches
// what fsnotify misses (network filesystems, event queue overflow, a
// directory that was replaced).
const (
	DefaultHoldoff  = 50 * time.Millisecond
	DefaultMaxDelay = 500 * time.Millisecond
	DefaultSettle   = 500 * time.Millisecond
	DefaultRescan   = 10 * time.Second
)

// WatcherOptions tunes a Watcher; zero fields take the defaults.
type WatcherOptions struct {
	// Holdoff is how long the directory must be quiet before a rebuild.
	Holdoff time.Duration
	// MaxDelay bounds how long events can put a rebuild off. It is also
	// how long a file that vanishes or becomes empty while serving apps
	// keeps serving them, in case it is being rewritten: a deletion takes
	// effect after MaxDelay, not at once.
	MaxDelay time.Duration
	// Settle is how long a file rewritten in place (the same file, by
	// device and inode, as when it was last read) must keep the same
	// content, size and modification time before its new content is
	// taken; a writer that pauses mid-file restarts the wait, so its first
	// half is never served, even if it parses. The file is read again
	// when the time is up, without waiting for an event or the rescan. A
	// file renamed (atomic save) or created in place is taken at once,
	// with no settle. Default DefaultSettle.
	Settle time.Duration
	// Rescan is the period of a full rescan of the directory.
	Rescan time.Duration
	// Publish receives each new Model; see Run for when. Nil publishes
	// nothing (Model still reports the latest).
	Publish func(*policy.Model)
	// Logger logs reloads and rejected files; nil logs nothing.
	Logger *slog.Logger
	// LastGood, if set, keeps each file's last good content across
	// restarts: at start, a file that is not good is served from it.
	LastGood LastGood
	// Sources names the other sources of policy documents that will call
	// SetDocuments (the Kubernetes source's "configmap"). With LastGood,
	// the documents each served before a restart are served again from
	// the start until it reports its own.
	Sources []string
}

// WatcherStats are counters for metrics. Reloads and ReloadErrors only
// grow; export them as counters, LastReloadDuration as a gauge.
type WatcherStats struct {
	// Reloads counts rebuilds of the model after file content changed,
	// the first load included. Rescans that find nothing new are not
	// counted.
	Reloads uint64 `json:"reloads"`
	// ReloadErrors counts reloads that rejected a changed file, and
	// attempts that could not read the directory.
	ReloadErrors uint64 `json:"reloadErrors"`
	// LastReloadDuration is how long the last counted reload took.
	LastReloadDuration time.Duration `json:"lastReloadDuration"`
	// LastReload is when the last counted reload started.
	LastReload time.Time `json:"lastReload"`
	// DirError says why the directory could not be read at the last
	// attempt; "" when it could. The last model is served meanwhile.
	DirError string `json:"dirError,omitempty"`
}

// Watcher keeps a policy.Model of a policy directory up to date. It keeps
// the last good version of every file: a file that fails to decode or
// validate, or whose apps conflict with another file's, is reported in
// Status while its last good apps stay in the model; a deleted file
// withdraws its apps.
type Watcher struct {
	dir  string
	opts WatcherOptions
	log  *slog.Logger

	// reloading serializes reloads and SetDocuments, which alone touch
	// state. It is held while files are read and parsed, which may take
	// long; readers never take it.
	reloading sync.Mutex
	state     *dirState

	// mu guards what the last reload made of state. Readers (the admin
	// API, metrics) hold it for an instant, never across a reload, so
	// they answer from the last reload while the next one runs.
	mu     sync.Mutex
	model  *policy.Model
	status []FileStatus
	stats  WatcherStats
	// changed asks Run to publish after SetDocuments rebuilt the model.
	changed chan struct{}

	running atomic.Bool
}

// NewWatcher loads dir once, so that Model is ready before Run starts. It
// fails when dir cannot be read; files with problems are not an error
// (see Status).
func NewWatcher(dir string, opts WatcherOptions) (*Watcher, error) {
	if opts.Holdoff <= 0 {
		opts.Holdoff = DefaultHoldoff
	}
	if opts.MaxDelay <= 0 {
		opts.MaxDelay = DefaultMaxDelay
	}
	if opts.MaxDelay < opts.Holdoff {
		opts.MaxDelay = opts.Holdoff
	}
	if opts.Settle <= 0 {
		opts.Settle = DefaultSettle
	}
	if opts.Rescan <= 0 {
		opts.Rescan = DefaultRescan
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	dir = filepath.Clean(dir)
	w := &Watcher{dir: dir, opts: opts, log: log, state: newDirState(dir, opts.MaxDelay), changed: make(chan struct{}, 1)}
	w.state.inPlace = opts.Settle
	for _, source := range opts.Sources {
		// A document's path starts with its source's name: a relative
		// policy directory of that name would make files look like
		// documents.
		if first, _, _ := strings.Cut(filepath.ToSlash(dir), "/"); first == source {
			return nil, fmt.Errorf("policy directory %s: name it otherwise, or by an absolute path: %q is the name of a source of policy documents", dir, source)
		}
		w.state.sources[source], w.state.pending[source] = true, true
	}
	w.state.persistErr = func(err error) { log.Error("last good policy", "error", err) }
	if opts.LastGood != nil {
		if err := w.state.withLastGood(opts.LastGood); err != nil {
			// What could be read is used; what could not is reported.
			log.Error("reading last good policies", "error", err)
		}
	}
	if _, err := w.reload(); err != nil {
		return nil, err
	}
	for _, fs := range w.Status() {
		if fs.Restored {
			log.Warn("policy file rejected; serving its last good version, saved before the restart", "file", fs.Path, "savedAt", fs.LoadedAt, "problems", len(fs.Problems))
		}
	}
	return w, nil
}

// Model returns the model of the last finished reload. It is never nil
// and must not be modified.
func (w *Watcher) Model() *policy.Model {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.model
}

// Status returns the state of every policy file, sorted by path, as the
// last finished reload left it: a reload in progress does not make it
// wait. The slice is shared and must not be modified.
func (w *Watcher) Status() []FileStatus {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.status
}

// publishState makes what state holds now what Model and Status return.
// The caller holds w.reloading, so publications keep the order of the
// reloads.
func (w *Watcher) publishState(update func(*WatcherStats)) {
	model, status := w.state.model, w.state.status()
	w.mu.Lock()
	defer w.mu.Unlock()
	w.model, w.status = model, status
	update(&w.stats)
}

// Stats returns the reload counters.
func (w *Watcher) Stats() WatcherStats {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.stats
}

// Run watches the directory until ctx is done, then returns nil; it
// returns an error only if the watch cannot be set up. Call it once.
//
// The publish contract: Run calls opts.Publish from its own goroutine,
// never concurrently and never after it returns. The first call comes
// right away with the current model (the one NewWatcher loaded, or newer);
// after that, Publish is called only when a rebuild produced a model that
// differs from the last one published. A slow Publish delays the next
// rebuild, never drops it: events that arrive meanwhile are coalesced.
func (w *Watcher) Run(ctx context.Context) error {
	if !w.running.CompareAndSwap(false, true) {
		return errors.New("policy: Watcher.Run called twice")
	}
	fsw, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch policy directory %s: %w", w.dir, err)
	}
	defer fsw.Close()
	watching := w.watch(fsw)

	var published *policy.Model
	publish := func() {
		m := w.Model()
		if published != nil && reflect.DeepEqual(m, published) {
			return
		}
		published = m
		if w.opts.Publish != nil {
			w.opts.Publish(m)
		}
	}

	debounce := time.NewTimer(time.Hour)
	debounce.Stop()
	settle := time.NewTimer(time.Hour)
	settle.Stop()
	defer debounce.Stop()
	defer settle.Stop()
	rescan := time.NewTicker(w.opts.Rescan)
	defer rescan.Stop()

	var pending bool       // a debounced rebuild is scheduled
	var deadline time.Time // and must happen by then
	schedule := func() {
		now := time.Now()
		if !pending {
			pending, deadline = true, now.Add(w.opts.MaxDelay)
		}
		debounce.Reset(min(w.opts.Holdoff, deadline.Sub(now)))
	}
	rebuild := func() {
		pending = false
		debounce.Stop()
		res, err := w.reload()
		if err != nil {
			return
		}
		if res.retry > 0 {
			settle.Reset(res.retry)
		}
		if res.rebuilt {
			publish()
		}
	}

	events, errs := fsw.Events, fsw.Errors

	// Catch what changed between NewWatcher and the watch.
	rebuild()
	publish()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-events:
			if !ok {
				// fsnotify gave up. The rescans carry on alone; watching
				// stays true so that they do not re-add to a closed watch.
				w.log.Error("policy directory watch stopped; relying on rescans", "dir", w.dir)
				events, errs, watching = nil, nil, true
				continue
			}
			if ev.Name == w.dir && ev.Has(fsnotify.Remove|fsnotify.Rename) {
				watching = false
			}
			// Any event may matter: Kubernetes updates a ConfigMap volume
			// by swapping a hidden "..data" link, not the files. Unchanged
			// content costs a read, not a rebuild.
			schedule()
		case err, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			w.log.Warn("policy directory watch", "dir", w.dir, "error", err)
			schedule()
		case <-rescan.C:
			if !watching {
				watching = w.watch(fsw)
			}
			rebuild()
		case <-debounce.C:
			rebuild()
		case <-settle.C:
			rebuild()
		case <-w.changed:
			publish()
		}
	}
}

// watch (re)starts the fsnotify watch, which is lost when the directory is
// removed; the rescan retries it.
func (w *Watcher) watch(fsw *fsnotify.Watcher) bool {
	if err := fsw.Add(w.dir); err != nil {
		w.log.Warn("cannot watch policy directory; relying on rescans", "dir", w.dir, "error", err)
		return false
	}
	return true
}

// reload reloads the directory and keeps the counters.
func (w *Watcher) reload() (reloadResult, error) {
	start := time.Now()
	w.reloading.Lock()
	res, err := w.state.reload(start)
	apps := len(w.state.model.Apps)
	if err != nil || (!res.rebuilt && w.status != nil) {
		// Nothing new to show: only the counters change.
		w.mu.Lock()
		if err != nil {
			w.stats.ReloadErrors++
			w.stats.DirError = err.Error()
		} else {
			w.stats.DirError = ""
		}
		w.mu.Unlock()
	} else {
		w.publishState(func(stats *WatcherStats) {
			stats.DirError = ""
			if res.rebuilt {
				stats.Reloads++
				stats.LastReload = start
				stats.LastReloadDuration = time.Since(start)
				if len(res.rejected) > 0 {
					stats.ReloadErrors++
				}
			}
		})
	}
	var rejected []FileStatus
	if len(res.rejected) > 0 {
		isRejected := make(map[string]bool, len(res.rejected))
		for _, path := range res.rejected {
			isRejected[path] = true
		}
		for _, s := range w.Status() {
			if isRejected[s.Path] {
				rejected = append(rejected, s)
			}
		}
	}
	w.reloading.Unlock()

	if err != nil {
		w.log.Error("cannot read policy directory; serving the last model", "error", err)
		return res, err
	}
	for _, s := range rejected {
		w.log.Error("policy file rejected", "file", s.Path, "serving_last_good", s.Stale, "problems", len(s.Problems), "first", logProblems(s.Problems))
	}
	if res.rebuilt {
		w.log.Info("policy reloaded", "dir", w.dir, "apps", apps, "rejected_files", len(rejected), "duration", time.Since(start))
	}
	return res, nil
}
