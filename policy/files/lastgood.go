package files

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/shadowplane/shadowplane/internal/atomicfile"
)

// LastGood keeps each policy file's last good content durably, so that a
// restart — a deploy, a crash, kill -9 — serves it again while the file
// on disk is broken, instead of withdrawing its apps from every proxy.
// The Watcher saves a file's content when it starts serving it and
// forgets it when the file is deleted.
type LastGood interface {
	// Load returns every saved file by path.
	Load() (map[string]Saved, error)
	// Save records path's served content. It is called from several
	// goroutines at once, for different paths: each save waits for the
	// disk (fsync), and 10,000 of them one after the other kept serve
	// from starting for 30 s on a busy machine.
	Save(path string, s Saved) error
	// Delete forgets path.
	Delete(path string) error
}

// Saved is one file's last good content and when it was read.
type Saved struct {
	Data     []byte    `json:"data"`
	LoadedAt time.Time `json:"loadedAt"`
}

// LastGoodDir keeps last good contents as files in a directory (one JSON
// file per policy file, named by a hash of its path), each written
// atomically.
type LastGoodDir struct {
	dir string
}

var _ LastGood = (*LastGoodDir)(nil)

// NewLastGoodDir uses dir, creating it if needed.
func NewLastGoodDir(dir string) (*LastGoodDir, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("last good policies: %w", err)
	}
	return &LastGoodDir{dir: dir}, nil
}

const lastGoodSuffix = ".lastgood.json"

// maxSavedSize bounds a saved file when it is read back: the JSON of a
// policy file of MaxFileSize bytes (base64, a third larger) and its path.
const maxSavedSize = 2 * MaxFileSize

type savedFile struct {
	Path string `json:"path"`
	Saved
}

func (d *LastGoodDir) file(path string) string {
	h := sha256.Sum256([]byte(path))
	return filepath.Join(d.dir, hex.EncodeToString(h[:8])+lastGoodSuffix)
}

// Load reads every saved file. One that cannot be read or parsed is an
// error naming it; the others are still returned.
func (d *LastGoodDir) Load() (map[string]Saved, error) {
	entries, err := os.ReadDir(d.dir)
	if err != nil {
		return nil, err
	}
	out := map[string]Saved{}
	var errs []error
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), lastGoodSuffix) {
			continue
		}
		p := filepath.Join(d.dir, e.Name())
		b, err := readRegular(p, maxSavedSize, "saved policy file")
		if err != nil {
			if msg, ok := isRefused(err); ok {
				err = fmt.Errorf("%s: %s", p, msg)
			}
			errs = append(errs, err)
			continue
		}
		var sf savedFile
		if err := json.Unmarshal(b, &sf); err != nil || sf.Path == "" {
			errs = append(errs, fmt.Errorf("%s: not a saved policy file: %v", p, err))
			continue
		}
		out[sf.Path] = sf.Saved
	}
	return out, errors.Join(errs...)
}

// Save writes path's content durably.
func (d *LastGoodDir) Save(path string, s Saved) error {
	b, err := json.Marshal(savedFile{Path: path, Saved: s})
	if err != nil {
		return err
	}
	return atomicfile.Write(d.file(path), b, 0o640)
}

// Delete forgets path.
func (d *LastGoodDir) Delete(path string) error {
	err := os.Remove(d.file(path))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	return atomicfile.SyncDir(d.dir)
}
