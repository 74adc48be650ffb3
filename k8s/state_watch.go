package k8s

import (
	"context"
	"errors"
	"sync/atomic"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"github.com/shadowplane/shadowplane/analysis"
)

// StateWatcher keeps the experiment states in the API in view for a
// follower: an informer on the labelled ConfigMaps of one namespace, and
// one worker that hands the full, parsed set to OnChange (the follower's
// Runner.SetStates) after each change.
type StateWatcher struct {
	namespace string
	onChange  func(states map[string]*analysis.State, invalid map[string]error)
	factory   informers.SharedInformerFactory
	informer  cache.SharedIndexInformer
	lister    corelisters.ConfigMapLister
	// queue holds at most the one key changedKey: any number of events
	// before the worker takes it become one call.
	queue   workqueue.TypedInterface[string]
	running atomic.Bool
}

// NewStateWatcher watches the states in namespace. onChange is called
// once the first list is complete and after every change, from one
// goroutine, never concurrently; changes that arrive during a call are
// coalesced into one more call. It is given fresh maps each time, as
// StateStore.LoadAll returns them: invalid has the ConfigMaps whose state
// cannot be used, with why. Nothing is read until Run.
func NewStateWatcher(client kubernetes.Interface, namespace string, onChange func(states map[string]*analysis.State, invalid map[string]error)) (*StateWatcher, error) {
	factory := informers.NewSharedInformerFactoryWithOptions(client, 0,
		informers.WithNamespace(namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = stateSelector().String() }),
		informers.WithTransform(dropManagedFields))
	w := &StateWatcher{
		namespace: namespace,
		onChange:  onChange,
		factory:   factory,
		informer:  factory.Core().V1().ConfigMaps().Informer(),
		lister:    factory.Core().V1().ConfigMaps().Lister(),
		queue:     workqueue.NewTypedWithConfig(workqueue.TypedQueueConfig[string]{Name: "shadowplane-experiment-states"}),
	}
	if _, err := w.informer.AddEventHandler(changeHandler(func() { w.queue.Add(changedKey) })); err != nil {
		return nil, err
	}
	return w, nil
}

// Run starts the informer and calls onChange until ctx is done, then
// stops it and returns nil. While the API server cannot be reached, the
// informer retries with backoff and nothing is called: the last states
// given stay served. Call it once.
func (w *StateWatcher) Run(ctx context.Context) error {
	if !w.running.CompareAndSwap(false, true) {
		return errors.New("k8s: StateWatcher.Run called twice")
	}
	w.factory.Start(ctx.Done())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if !cache.WaitForCacheSync(ctx.Done(), w.informer.HasSynced) {
			return
		}
		w.queue.Add(changedKey) // the first complete view
		for w.next() {
		}
	}()
	<-ctx.Done()
	w.queue.ShutDown()
	<-done
	w.factory.Shutdown()
	return nil
}

func (w *StateWatcher) next() bool {
	key, quit := w.queue.Get()
	if quit {
		return false
	}
	defer w.queue.Done(key)
	w.onChange(w.States())
	return true
}

// States parses the states in the informer's cache, as LoadAll does.
func (w *StateWatcher) States() (states map[string]*analysis.State, invalid map[string]error) {
	states, invalid = map[string]*analysis.State{}, map[string]error{}
	cms, err := w.lister.ConfigMaps(w.namespace).List(stateSelector())
	if err != nil {
		return states, invalid // a label selector on a cache cannot fail
	}
	for _, cm := range cms {
		name, st, err := parseState(cm)
		switch {
		case name == "":
		case err != nil:
			invalid[name] = err
		default:
			states[name] = st
		}
	}
	return states, invalid
}
