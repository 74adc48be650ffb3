package server

import (
	"sync"

	"github.com/shadowplane/shadowplane/xds/server/snapshot"
)

// nameSets interns the name lists streams subscribe to. Every Envoy of a
// group asks for the same names — an EDS subscription names every cluster,
// thousands of them — so a stream holds a reference to one shared list
// instead of a copy of its own (measured at 1,000 proxies × 3,000 clusters:
// about 300 KiB per proxy before interning).
type nameSets struct {
	mu   sync.Mutex
	sets map[string]*internedNames
}

type internedNames struct {
	set  snapshot.NameSet
	refs int
}

func newNameSets() *nameSets { return &nameSets{sets: map[string]*internedNames{}} }

// acquire returns the shared NameSet of names; release it when done.
func (t *nameSets) acquire(names []string) *snapshot.NameSet {
	ns := snapshot.NameSetOf(names)
	t.mu.Lock()
	defer t.mu.Unlock()
	in, ok := t.sets[ns.Key]
	if !ok {
		in = &internedNames{set: ns}
		t.sets[ns.Key] = in
	}
	in.refs++
	return &in.set
}

// release drops one reference taken by acquire; nil is ignored.
func (t *nameSets) release(ns *snapshot.NameSet) {
	if ns == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if in, ok := t.sets[ns.Key]; ok {
		if in.refs--; in.refs == 0 {
			delete(t.sets, ns.Key)
		}
	}
}
