package k8s

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"github.com/shadowplane/shadowplane/policy"
)

// EndpointsOptions configures an Endpoints source; zero fields take the
// defaults.
type EndpointsOptions struct {
	// Namespace limits the watch to one namespace (what a namespaced Role
	// allows); "" watches all namespaces.
	Namespace string
	// Resync is the informers' resync period; 0 never resyncs. A resync
	// replays the cache, it does not call the API server, so it changes
	// nothing here: resynced objects are not reported as changes.
	Resync time.Duration
	// OnChange is called after the cached Services or EndpointSlices
	// changed, and once when the caches have first synced: then Table may
	// give something new. Calls come from one goroutine, never
	// concurrently; changes that arrive during a call are coalesced into
	// one more call. A slow OnChange delays later calls, never the
	// informers.
	OnChange func()
	// Logger logs why a referenced Service has no endpoints (once per
	// reason); nil logs nothing.
	Logger *slog.Logger
}

// Endpoints is the source of the endpoints of Services: informers on
// Services (core/v1) and EndpointSlices (discovery.k8s.io/v1). Create it
// with NewEndpoints, start it with Run, read it with Table.
type Endpoints struct {
	opts     EndpointsOptions
	log      *slog.Logger
	factory  informers.SharedInformerFactory
	services cache.SharedIndexInformer
	slices   cache.SharedIndexInformer
	svcs     corelisters.ServiceLister
	// queue holds at most the one key changedKey: any number of informer
	// events before the worker takes it become one OnChange.
	queue workqueue.TypedInterface[string]
	// synced is closed once the caches hold complete lists; Table
	// answers only then.
	synced  chan struct{}
	running atomic.Bool

	mu     sync.Mutex // guards logged
	logged map[policy.ServiceRef]string
}

const (
	changedKey = "changed"
	// byService indexes EndpointSlices by "namespace/service".
	byService = "service"
)

// NewEndpoints sets up the informers; nothing is read until Run.
func NewEndpoints(client kubernetes.Interface, opts EndpointsOptions) (*Endpoints, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	factory := informers.NewSharedInformerFactoryWithOptions(client, opts.Resync,
		informers.WithNamespace(opts.Namespace),
		informers.WithTransform(dropManagedFields))
	e := &Endpoints{
		opts:     opts,
		log:      log,
		factory:  factory,
		services: factory.Core().V1().Services().Informer(),
		slices:   factory.Discovery().V1().EndpointSlices().Informer(),
		svcs:     factory.Core().V1().Services().Lister(),
		queue:    workqueue.NewTypedWithConfig(workqueue.TypedQueueConfig[string]{Name: "shadowplane-endpoints"}),
		synced:   make(chan struct{}),
		logged:   map[policy.ServiceRef]string{},
	}
	if err := e.slices.AddIndexers(cache.Indexers{byService: sliceService}); err != nil {
		return nil, fmt.Errorf("indexing EndpointSlices: %w", err)
	}
	for kind, inf := range map[string]cache.SharedIndexInformer{"Services": e.services, "EndpointSlices": e.slices} {
		if _, err := inf.AddEventHandler(changeHandler(func() { e.queue.Add(changedKey) })); err != nil {
			return nil, fmt.Errorf("watching %s: %w", kind, err)
		}
		if err := inf.SetWatchErrorHandlerWithContext(logWatchErrors(log, kind)); err != nil {
			return nil, fmt.Errorf("watching %s: %w", kind, err)
		}
	}
	return e, nil
}

// Run starts the informers and calls OnChange (see EndpointsOptions) until
// ctx is done, then stops them and returns nil. Call it once.
func (e *Endpoints) Run(ctx context.Context) error {
	if !e.running.CompareAndSwap(false, true) {
		return errors.New("k8s: Endpoints.Run called twice")
	}
	e.factory.Start(ctx.Done())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if !cache.WaitForCacheSync(ctx.Done(), e.services.HasSynced, e.slices.HasSynced) {
			return
		}
		close(e.synced)
		e.queue.Add(changedKey) // the first complete view
		for e.next() {
		}
	}()
	<-ctx.Done()
	e.queue.ShutDown()
	<-done
	e.factory.Shutdown()
	return nil
}

func (e *Endpoints) next() bool {
	key, quit := e.queue.Get()
	if quit {
		return false
	}
	defer e.queue.Done(key)
	if e.opts.OnChange != nil {
		e.opts.OnChange()
	}
	return true
}

// WaitSynced waits until both caches hold a complete list, so that Table
// answers, or until ctx is done; it says whether they do. Run must be
// running.
func (e *Endpoints) WaitSynced(ctx context.Context) bool {
	select {
	case <-e.synced:
		return true
	case <-ctx.Done():
		return false
	}
}

// HasSynced says whether Run has the complete lists: before, Table has
// nothing (for /readyz).
func (e *Endpoints) HasSynced() bool {
	select {
	case <-e.synced:
		return true
	default:
		return false
	}
}

// Table is the ready endpoints of each of refs, keyed by ref.Key(), read
// from the caches (no API call). A ref with none has no entry; Problems
// says why. Each new reason a ref has none is logged once.
func (e *Endpoints) Table(refs []policy.ServiceRef) policy.EndpointTable {
	t, problems := e.resolve(refs)
	e.logProblems(problems)
	return t
}

// Problems says, for each of refs (keyed by ref.Key()) without endpoints,
// why: "Service shop/web-v2 not found", "port http not in Service …", "no
// ready endpoints". Refs with endpoints are left out.
func (e *Endpoints) Problems(refs []policy.ServiceRef) map[policy.ServiceRef]string {
	_, problems := e.resolve(refs)
	return problems
}

func (e *Endpoints) resolve(refs []policy.ServiceRef) (policy.EndpointTable, map[policy.ServiceRef]string) {
	t := policy.EndpointTable{}
	problems := map[policy.ServiceRef]string{}
	for _, r := range refs {
		k := r.Key()
		if _, done := t[k]; done {
			continue
		}
		if eps, why := e.lookup(k); len(eps) > 0 {
			t[k] = eps
		} else {
			problems[k] = why
		}
	}
	return t, problems
}

func (e *Endpoints) lookup(ref policy.ServiceRef) ([]string, string) {
	if e.opts.Namespace != "" && ref.Namespace != e.opts.Namespace {
		return nil, fmt.Sprintf("namespace %s is not watched (only %s is)", ref.Namespace, e.opts.Namespace)
	}
	if !e.HasSynced() {
		return nil, "Kubernetes caches not synced yet"
	}
	svc, err := e.svcs.Services(ref.Namespace).Get(ref.Name)
	if err != nil {
		if !apierrors.IsNotFound(err) {
			return nil, err.Error()
		}
		svc = nil
	}
	objs, err := e.slices.GetIndexer().ByIndex(byService, ref.Namespace+"/"+ref.Name)
	if err != nil {
		return nil, err.Error()
	}
	eps := make([]*discoveryv1.EndpointSlice, 0, len(objs))
	for _, o := range objs {
		if s, ok := o.(*discoveryv1.EndpointSlice); ok {
			eps = append(eps, s)
		}
	}
	return serviceEndpoints(ref, svc, eps)
}

// logProblems logs each ref's reason when it is new, and when a ref that
// had a problem has endpoints again; refs no longer asked about are
// forgotten.
func (e *Endpoints) logProblems(problems map[policy.ServiceRef]string) {
	if !e.HasSynced() {
		return // every ref would be "not synced": not news
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for ref, why := range problems {
		if e.logged[ref] != why {
			e.log.Warn("Service has no endpoints; its variant gets no traffic", "service", ref.String(), "reason", why)
		}
	}
	for ref := range e.logged {
		if _, still := problems[ref]; !still {
			e.log.Info("Service has endpoints again", "service", ref.String())
		}
	}
	e.logged = maps.Clone(problems)
}

// sliceService indexes an EndpointSlice by the Service it belongs to.
func sliceService(obj any) ([]string, error) {
	s, ok := obj.(*discoveryv1.EndpointSlice)
	if !ok {
		return nil, nil
	}
	name := s.Labels[discoveryv1.LabelServiceName]
	if name == "" {
		return nil, nil
	}
	return []string{s.Namespace + "/" + name}, nil
}
