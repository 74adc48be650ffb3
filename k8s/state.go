package k8s

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"

	"github.com/shadowplane/shadowplane/analysis"
)

// Experiment states in the API (decision 0016): one ConfigMap per
// experiment, named StatePrefix+<experiment>, labelled StateLabel=true,
// holding the state's JSON (what the file store writes) under StateKey.
// Only the leader writes them, each write conditional on the
// resourceVersion it last read or wrote; every replica reads them.
const (
	StatePrefix = "shadowplane-experiment-"
	StateLabel  = "shadowplane.io/experiment-state"
	StateKey    = "state.json"
)

// maxStateBytes bounds a state written: a ConfigMap holds at most 1 MiB,
// and a state that grew near that is refused here, saying so, rather
// than by the API server.
const maxStateBytes = 900 << 10

// maxConfigMapBytes is the most a ConfigMap holds.
const maxConfigMapBytes = 1 << 20

// DefaultStateTimeout bounds each call of a StateStore to the API server:
// the runner calls it with its lock held.
const DefaultStateTimeout = 5 * time.Second

// StateStore is an analysis.StateStore on ConfigMaps in one namespace.
// A write is a create, or an update conditional on the resourceVersion of
// this store's last read (LoadAll) or write of that ConfigMap: when
// another replica wrote it since (two leaders, for a moment), the write
// fails with a conflict and the decision is not applied, rather than
// silently overwriting the other's.
type StateStore struct {
	client    typedcorev1.ConfigMapInterface
	namespace string
	timeout   time.Duration

	mu         sync.Mutex
	onConflict func(string)
	// versions are the resourceVersions last read or written, per
	// experiment; an experiment not in it is created.
	versions map[string]string
}

var _ analysis.StateStore = (*StateStore)(nil)

// NewStateStore keeps states in namespace. timeout bounds each call to
// the API server; 0 is DefaultStateTimeout.
func NewStateStore(client kubernetes.Interface, namespace string, timeout time.Duration) *StateStore {
	if timeout <= 0 {
		timeout = DefaultStateTimeout
	}
	return &StateStore{
		client: client.CoreV1().ConfigMaps(namespace), namespace: namespace,
		timeout: timeout, versions: map[string]string{},
	}
}

// OnConflict sets f to be called when a save or delete finds that someone
// else wrote the state since this store last read or wrote it (the write
// is refused either way). This replica's view is then stale, and stays so
// until it reads every state again: the leader should resign
// (Elector.Resign), so that whoever leads next starts from what is saved.
// f is called with the runner's lock held: it must not block.
func (s *StateStore) OnConflict(f func(experiment string)) {
	s.mu.Lock()
	s.onConflict = f
	s.mu.Unlock()
}

func (s *StateStore) conflict(name string) {
	s.mu.Lock()
	f := s.onConflict
	s.mu.Unlock()
	if f != nil {
		f(name)
	}
}

// StateConfigMap is the name of the ConfigMap holding experiment name's
// state. Experiment names are DNS labels, so it is a valid object name.
func StateConfigMap(name string) string { return StatePrefix + name }

// Where names the ConfigMap and key of experiment name's state.
func (s *StateStore) Where(name string) string {
	return where(s.namespace, name)
}

func where(namespace, name string) string {
	return fmt.Sprintf("ConfigMap %s/%s key %s", namespace, StateConfigMap(name), StateKey)
}

// Save creates or updates the state's ConfigMap; see StateStore.
func (s *StateStore) Save(st *analysis.State) error {
	name := st.Experiment
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	if len(b) > maxStateBytes {
		return fmt.Errorf("%s: the state is %d bytes, more than the %d a ConfigMap can hold here", s.Where(name), len(b), maxStateBytes)
	}
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{
			Name: StateConfigMap(name), Namespace: s.namespace,
			Labels: map[string]string{StateLabel: "true"},
		},
		Data: map[string]string{StateKey: string(b)},
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	s.mu.Lock()
	rv, known := s.versions[name]
	s.mu.Unlock()
	var out *corev1.ConfigMap
	if known {
		cm.ResourceVersion = rv
		out, err = s.client.Update(ctx, cm, metav1.UpdateOptions{FieldManager: fieldManager})
	} else {
		out, err = s.client.Create(ctx, cm, metav1.CreateOptions{FieldManager: fieldManager})
	}
	switch {
	case err == nil:
		s.remember(name, out.ResourceVersion)
		return nil
	case apierrors.IsConflict(err):
		s.conflict(name)
		return fmt.Errorf("%s was written by someone else since this replica last read or wrote it (another leader?): not overwritten: %w", s.Where(name), err)
	case apierrors.IsAlreadyExists(err):
		s.conflict(name)
		return fmt.Errorf("%s was created by someone else since this replica last read the states (another leader?): not overwritten: %w", s.Where(name), err)
	case apierrors.IsNotFound(err):
		// Deleted by someone else: the next save creates it again.
		s.forget(name)
		return fmt.Errorf("%s was deleted since this replica last wrote it: not written: %w", s.Where(name), err)
	}
	return fmt.Errorf("%s: %w", s.Where(name), err)
}

// fieldManager names this program in the objects' managed fields.
const fieldManager = "shadowplane"

func (s *StateStore) remember(name, rv string) {
	s.mu.Lock()
	s.versions[name] = rv
	s.mu.Unlock()
}

func (s *StateStore) forget(name string) {
	s.mu.Lock()
	delete(s.versions, name)
	s.mu.Unlock()
}

// LoadAll lists the labelled ConfigMaps and parses each one's state; it
// remembers their resourceVersions for the next saves. A ConfigMap whose
// state is missing, is not JSON or cannot be its experiment's is in
// invalid with why: its experiment is held, and the ConfigMap left as it
// is. (Unlike a state file, unparseable content does not stop the start:
// every replica would stop on it.) err is for a list that failed.
func (s *StateStore) LoadAll() (states map[string]*analysis.State, invalid map[string]error, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	var items []corev1.ConfigMap
	opts := metav1.ListOptions{LabelSelector: stateSelector().String(), Limit: 100}
	for {
		list, err := s.client.List(ctx, opts)
		if err != nil {
			return nil, nil, fmt.Errorf("listing the experiment states (ConfigMaps in %s labelled %s): %w", s.namespace, stateSelector(), err)
		}
		items = append(items, list.Items...)
		if list.Continue == "" {
			break
		}
		opts.Continue = list.Continue
	}
	states, invalid = map[string]*analysis.State{}, map[string]error{}
	versions := map[string]string{}
	for i := range items {
		name, st, err := parseState(&items[i])
		if name == "" {
			continue
		}
		versions[name] = items[i].ResourceVersion
		if err != nil {
			invalid[name] = err
			continue
		}
		states[name] = st
	}
	s.mu.Lock()
	s.versions = versions
	s.mu.Unlock()
	return states, invalid, nil
}

// Exists reports whether experiment name's ConfigMap exists, or cannot be
// told not to.
func (s *StateStore) Exists(name string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	_, err := s.client.Get(ctx, StateConfigMap(name), metav1.GetOptions{})
	return !apierrors.IsNotFound(err)
}

// Delete deletes experiment name's ConfigMap, if it is as this store last
// read or wrote it.
func (s *StateStore) Delete(name string) error {
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	var opts metav1.DeleteOptions
	s.mu.Lock()
	if rv, ok := s.versions[name]; ok {
		opts.Preconditions = &metav1.Preconditions{ResourceVersion: &rv}
	}
	s.mu.Unlock()
	err := s.client.Delete(ctx, StateConfigMap(name), opts)
	switch {
	case err == nil || apierrors.IsNotFound(err):
		s.forget(name)
		return nil
	case apierrors.IsConflict(err):
		s.conflict(name)
		return fmt.Errorf("%s was written by someone else since this replica last read or wrote it: not deleted: %w", s.Where(name), err)
	}
	return fmt.Errorf("%s: %w", s.Where(name), err)
}

func stateSelector() labels.Selector {
	return labels.SelectorFromSet(labels.Set{StateLabel: "true"})
}

// parseState reads the state in cm: the experiment it is named for ("" if
// the name is not a state's), and the state, or why it cannot be that
// experiment's.
func parseState(cm *corev1.ConfigMap) (string, *analysis.State, error) {
	name, ok := strings.CutPrefix(cm.Name, StatePrefix)
	if !ok || name == "" {
		return "", nil, nil
	}
	at := where(cm.Namespace, name)
	data, ok := cm.Data[StateKey]
	if !ok {
		return name, nil, fmt.Errorf("%s: no such key", at)
	}
	if len(data) > maxConfigMapBytes {
		// The API server keeps a ConfigMap under 1 MiB; this only keeps
		// anything larger from being parsed.
		return name, nil, fmt.Errorf("%s: %d bytes, more than a ConfigMap holds", at, len(data))
	}
	var st analysis.State
	if err := json.Unmarshal([]byte(data), &st); err != nil {
		return name, nil, fmt.Errorf("%s: %w", at, err)
	}
	if err := st.CheckSaved(name); err != nil {
		return name, nil, fmt.Errorf("%s: %w", at, err)
	}
	return name, &st, nil
}
