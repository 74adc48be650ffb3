package analysis

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/shadowplane/shadowplane/internal/atomicfile"
)

// StateStore keeps the experiments' states durably, one per experiment.
// The leading Runner saves every decision there before serving it, reads
// every state when it starts or becomes the leader (Lead), and deletes a
// state whose experiment left the policy; a follower never writes.
// Store keeps them in a directory (--state-dir); k8s.StateStore keeps them
// in ConfigMaps, for replicas under leader election.
//
// The Runner calls it with its lock held, one call at a time: an
// implementation that waits on a network bounds every call.
type StateStore interface {
	// Save writes st as the state of experiment st.Experiment. An error
	// means it may not have been written: the decision is not applied.
	Save(st *State) error
	// LoadAll reads every saved state, keyed by experiment name. A state
	// that can be read but cannot be its experiment's (CheckSaved fails)
	// is in invalid, under the same key, with an error naming where it
	// is (Where): its experiment is held, and the state left as it is. err
	// is for what could not be read at all.
	LoadAll() (states map[string]*State, invalid map[string]error, err error)
	// Delete removes the state of experiment name, when the experiment
	// leaves the policy; removing one that is not there is no error.
	Delete(name string) error
	// Exists reports whether a state is saved for experiment name, or
	// cannot be told not to be.
	Exists(name string) bool
	// Where names where the state of experiment name is kept, for
	// messages: a file's path, a ConfigMap's namespace and name.
	Where(name string) string
}

var _ StateStore = (*Store)(nil)

// Store keeps experiment states as one JSON file each in a directory.
// Every save is atomic and durable — written to a temporary file, synced,
// renamed over the old one, and the directory synced — so a crash at any
// point, kill -9 included, leaves either the old state or the new one.
type Store struct {
	dir string
}

// NewStore uses dir, creating it if needed.
func NewStore(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("state directory: %w", err)
	}
	return &Store{dir: dir}, nil
}

const stateSuffix = ".state.json"

// Where is the path of experiment name's state file.
func (s *Store) Where(name string) string { return filepath.Join(s.dir, name+stateSuffix) }

// Save writes st durably.
func (s *Store) Save(st *State) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(s.Where(st.Experiment), b, 0o640)
}

// LoadAll reads every saved state, keyed by its file's name. A file that
// cannot be read or parsed is an error naming it: a state that silently
// vanished would restart its experiment from the policy's weights, which
// is the jump a restart must not cause. A file that parses but cannot be
// its experiment's state (an empty object, another experiment's state
// copied under this name, weights that do not sum to 100) is in invalid,
// under the same key, with an error naming the file: its experiment is
// held, and the file left as it is.
func (s *Store) LoadAll() (states map[string]*State, invalid map[string]error, err error) {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, nil, err
	}
	states, invalid = map[string]*State{}, map[string]error{}
	var errs []error
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), stateSuffix) {
			continue
		}
		name, path := strings.TrimSuffix(e.Name(), stateSuffix), filepath.Join(s.dir, e.Name())
		b, err := os.ReadFile(path)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		var st State
		if err := json.Unmarshal(b, &st); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", path, err))
			continue
		}
		if err := st.checkFile(name); err != nil {
			invalid[name] = fmt.Errorf("%s: %w", path, err)
			continue
		}
		states[name] = &st
	}
	return states, invalid, errors.Join(errs...)
}

// Exists reports whether a state file is saved for the experiment name (or
// cannot be told not to be).
func (s *Store) Exists(name string) bool {
	_, err := os.Lstat(s.Where(name))
	return !errors.Is(err, os.ErrNotExist)
}

// Delete removes a state, when its experiment leaves the policy.
func (s *Store) Delete(name string) error {
	err := os.Remove(s.Where(name))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}
