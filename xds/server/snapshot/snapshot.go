package snapshot

import (
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"sort"
	"strings"
	"sync"

	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/shadowplane/shadowplane/xds"
)

// PushOrder is the order in which a change reaches a client, make before
// break: clusters first, so that anything a route names already exists; then
// their endpoints, because a cluster warms until its endpoints arrive;
// listeners before their routes, because a listener warms until its routes
// arrive; runtime last, since it only tunes routes.
var PushOrder = []string{
	resourcev3.ClusterType,
	resourcev3.EndpointType,
	resourcev3.ListenerType,
	resourcev3.RouteType,
	resourcev3.RuntimeType,
}

// Snapshot is one group's resources, each marshalled once and versioned by
// the hash of its bytes. A type's version is the hash of its resources'
// names and versions, so an unchanged model yields identical versions and a
// route change leaves the cluster version alone. Snapshots are immutable and
// shared by every stream of the group.
type Snapshot struct {
	// Version identifies the whole snapshot, for logs and the admin API.
	Version string
	// Resources are the protos the snapshot was built from.
	Resources *xds.Resources
	types     map[string]*TypeSnapshot
}

// TypeSnapshot is a snapshot's resources of one type.
type TypeSnapshot struct {
	TypeURL string
	// Version is the version of the full set, what a wildcard client ACKs.
	Version string
	// Names are the resource names, sorted.
	Names []string
	Items map[string]*Item
	all   []*anypb.Any
	wire  wire

	mu     sync.Mutex
	subset map[string]*Subset
}

// Item is one marshalled resource.
type Item struct {
	Name    string
	Version string
	Any     *anypb.Any
	// Delta is the item as a delta xDS resource.
	Delta *discovery.Resource
}

// NewSnapshot validates and marshals res. A Resources that fails
// validation never becomes a snapshot.
func NewSnapshot(res *xds.Resources) (*Snapshot, error) {
	s := &Snapshot{Resources: res, types: map[string]*TypeSnapshot{}}
	byType := map[string][]proto.Message{}
	for _, m := range res.All() {
		url := resourcev3.APITypePrefix + string(proto.MessageName(m))
		byType[url] = append(byType[url], m)
	}
	// Types are marshalled concurrently, and alongside them, unless done
	// already, the resources are validated (Validate runs its own kinds
	// concurrently): a large model's snapshot is mostly marshalling and
	// validating, all of it independent, and running them together keeps
	// every core busy where two phases would each wait for their largest kind.
	built := make([]*TypeSnapshot, len(PushOrder))
	marshalErrs := make([]error, len(PushOrder))
	var validateErr error
	var wg sync.WaitGroup
	wg.Go(func() { validateErr = res.Validate() })
	for i, url := range PushOrder {
		wg.Go(func() { built[i], marshalErrs[i] = newTypeSnapshot(url, byType[url]) })
	}
	wg.Wait()
	// A validation error says more than the marshalling error it causes.
	if validateErr != nil {
		return nil, validateErr
	}
	if err := errors.Join(marshalErrs...); err != nil {
		return nil, err
	}
	for i, url := range PushOrder {
		s.types[url] = built[i]
	}
	s.Version = s.typesVersion()
	return s, nil
}

// typesVersion is the snapshot's version: the hash of its types'.
func (s *Snapshot) typesVersion() string {
	h := fnv.New64a()
	for _, url := range PushOrder {
		fmt.Fprintf(h, "%s=%s;", url, s.types[url].Version)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func newTypeSnapshot(url string, msgs []proto.Message) (*TypeSnapshot, error) {
	ts := &TypeSnapshot{TypeURL: url, Items: make(map[string]*Item, len(msgs)), subset: map[string]*Subset{}}
	opts := proto.MarshalOptions{Deterministic: true}
	for _, m := range msgs {
		b, err := opts.Marshal(m)
		if err != nil {
			return nil, fmt.Errorf("marshal %s: %w", url, err)
		}
		name := resourceName(m)
		if _, dup := ts.Items[name]; dup {
			return nil, fmt.Errorf("%s: two resources named %q", url, name)
		}
		a := &anypb.Any{TypeUrl: url, Value: b}
		v := hashBytes(b)
		ts.Items[name] = &Item{Name: name, Version: v, Any: a, Delta: &discovery.Resource{Name: name, Version: v, Resource: a}}
		ts.Names = append(ts.Names, name)
	}
	sort.Strings(ts.Names)
	for _, n := range ts.Names {
		ts.all = append(ts.all, ts.Items[n].Any)
	}
	ts.Version = ts.versionOf(ts.Names)
	return ts, nil
}

// Type returns the resources of one type URL; nil for a type the snapshot
// does not serve.
func (s *Snapshot) Type(url string) *TypeSnapshot { return s.types[url] }

// All returns every resource of the type, sorted by name.
func (ts *TypeSnapshot) All() []*anypb.Any { return ts.all }

// Subset is the part of a type a client subscribed to by name.
type Subset struct {
	Version   string
	Resources []*anypb.Any
	// Names are the returned names, sorted.
	Names []string

	typeURL string
	wire    wire
}

// Subset returns the resources among names that exist, with a version of
// their own: a change to a resource the client did not ask for does not
// change what it is sent. Results are memoised, since many clients ask for
// the same names.
func (ts *TypeSnapshot) Subset(names map[string]struct{}) *Subset {
	return ts.SubsetOf(NewNameSet(names))
}

// NameSet is a subscription's names, sorted, with a key that identifies
// them. Building one costs a sort; a caller that asks for the same names
// again and again (every push to a stream) keeps it.
type NameSet struct {
	Names []string
	Key   string
}

// NewNameSet sorts names into a NameSet.
func NewNameSet(names map[string]struct{}) NameSet {
	sorted := make([]string, 0, len(names))
	for n := range names {
		sorted = append(sorted, n)
	}
	sort.Strings(sorted)
	return NameSet{Names: sorted, Key: strings.Join(sorted, "\x00")}
}

// NameSetOf is the NameSet of a list of names in any order, with
// duplicates. names is not kept.
func NameSetOf(names []string) NameSet {
	sorted := slices.Clone(names)
	slices.Sort(sorted)
	sorted = slices.Compact(sorted)
	return NameSet{Names: sorted, Key: strings.Join(sorted, "\x00")}
}

// SubsetOf is Subset for a prepared NameSet.
func (ts *TypeSnapshot) SubsetOf(ns NameSet) *Subset {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if sub, ok := ts.subset[ns.Key]; ok {
		return sub
	}
	var present []string
	for _, n := range ns.Names {
		if _, ok := ts.Items[n]; ok {
			present = append(present, n)
		}
	}
	sub := &Subset{Version: ts.versionOf(present), Names: present, typeURL: ts.TypeURL}
	for _, n := range present {
		sub.Resources = append(sub.Resources, ts.Items[n].Any)
	}
	ts.subset[ns.Key] = sub
	return sub
}

// versionOf is the version of the named resources: the same function
// versions full sets and subsets.
func (ts *TypeSnapshot) versionOf(sortedNames []string) string {
	h := fnv.New64a()
	for _, n := range sortedNames {
		fmt.Fprintf(h, "%s\x00%s\x00", n, ts.Items[n].Version)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func hashBytes(b []byte) string {
	h := fnv.New64a()
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil))
}

type named interface{ GetName() string }

type clusterNamed interface{ GetClusterName() string }

// resourceName is the xDS name of a resource: its name, or for endpoint
// assignments the cluster they belong to.
func resourceName(m proto.Message) string {
	switch r := m.(type) {
	case clusterNamed:
		return r.GetClusterName()
	case named:
		return r.GetName()
	}
	return ""
}
