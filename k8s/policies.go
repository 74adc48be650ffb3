package k8s

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/workqueue"

	"github.com/shadowplane/shadowplane/policy/files"
)

// DocumentSink takes the complete set of policy documents of one source
// and returns the status of each (those of other sources may be left
// out); files.Watcher.SetDocuments is one. Policies calls it from one
// goroutine, never concurrently, and does not touch docs afterwards, so
// the sink may keep it.
type DocumentSink interface {
	SetDocuments(source string, docs map[string][]byte) []files.FileStatus
}

// Policy documents in ConfigMaps.
const (
	// DefaultPolicySelector selects the ConfigMaps that hold policies:
	// those with the label, whatever its value.
	DefaultPolicySelector = "shadowplane.io/policy"
	// ConfigMapSource is the source name given to the DocumentSink, and
	// the first element of every document's path:
	// "configmap/NAMESPACE/NAME/KEY".
	ConfigMapSource = "configmap"
)

// PoliciesOptions configures a Policies source.
type PoliciesOptions struct {
	// Namespace limits the watch to one namespace; "" watches all.
	Namespace string
	// Selector is a label selector for the ConfigMaps that hold policies;
	// "" means DefaultPolicySelector.
	Selector string
	// Sink receives the documents; required.
	Sink DocumentSink
	// Recorder posts the Events about rejected and accepted ConfigMaps.
	// Nil means Run posts them through an events.k8s.io/v1 broadcaster of
	// its own, reporting as "shadowplane".
	Recorder events.EventRecorder
	// Resync is the informer's resync period; 0 never resyncs.
	Resync time.Duration
	// Logger logs documents handed over and keys ignored; nil logs
	// nothing.
	Logger *slog.Logger
}

// Policies is the source of policy documents kept in ConfigMaps: every
// *.yaml and *.yml key of every selected ConfigMap is a document, handed
// to the Sink as a whole set on every change.
type Policies struct {
	client  kubernetes.Interface
	opts    PoliciesOptions
	log     *slog.Logger
	factory informers.SharedInformerFactory
	cms     cache.SharedIndexInformer
	lister  corelisters.ConfigMapLister
	// queue holds at most the one key syncKey: a burst of ConfigMap
	// changes is one SetDocuments. A failed sync is retried with backoff.
	queue   workqueue.TypedRateLimitingInterface[string]
	events  *problemEvents
	running atomic.Bool
	// handed is closed once the Sink has had the documents of the
	// complete list.
	handed     chan struct{}
	handedOnce sync.Once
}

const syncKey = "sync"

// NewPolicies sets up the informer; nothing is read until Run. It fails
// on a bad selector or a missing Sink.
func NewPolicies(client kubernetes.Interface, opts PoliciesOptions) (*Policies, error) {
	if opts.Sink == nil {
		return nil, errors.New("k8s: PoliciesOptions.Sink is required")
	}
	if opts.Selector == "" {
		opts.Selector = DefaultPolicySelector
	}
	if _, err := labels.Parse(opts.Selector); err != nil {
		return nil, fmt.Errorf("policy ConfigMap selector %q: %w", opts.Selector, err)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	factory := informers.NewSharedInformerFactoryWithOptions(client, opts.Resync,
		informers.WithNamespace(opts.Namespace),
		informers.WithTransform(dropManagedFields),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = opts.Selector }))
	p := &Policies{
		client:  client,
		opts:    opts,
		log:     log,
		factory: factory,
		handed:  make(chan struct{}),
		cms:     factory.Core().V1().ConfigMaps().Informer(),
		lister:  factory.Core().V1().ConfigMaps().Lister(),
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "shadowplane-policies"}),
	}
	if _, err := p.cms.AddEventHandler(changeHandler(func() { p.queue.Add(syncKey) })); err != nil {
		return nil, fmt.Errorf("watching ConfigMaps: %w", err)
	}
	if err := p.cms.SetWatchErrorHandlerWithContext(logWatchErrors(log, "ConfigMaps")); err != nil {
		return nil, fmt.Errorf("watching ConfigMaps: %w", err)
	}
	return p, nil
}

// Run starts the informer and, once it has the complete list, hands the
// documents to the Sink (once at start, even if there are none, so that
// documents of ConfigMaps deleted meanwhile are withdrawn) and after every
// change, until ctx is done; then it stops and returns nil. Call it once.
func (p *Policies) Run(ctx context.Context) error {
	if !p.running.CompareAndSwap(false, true) {
		return errors.New("k8s: Policies.Run called twice")
	}
	rec := p.opts.Recorder
	if rec == nil {
		b := events.NewBroadcaster(&events.EventSinkImpl{Interface: p.client.EventsV1()})
		if err := b.StartRecordingToSinkWithContext(ctx); err != nil {
			return fmt.Errorf("starting the Event recorder: %w", err)
		}
		defer b.Shutdown()
		rec = b.NewRecorder(eventScheme, EventController)
	}
	p.events = newProblemEvents(rec)
	p.factory.Start(ctx.Done())
	done := make(chan struct{})
	go func() {
		defer close(done)
		// Handing over a partial list would withdraw the documents of
		// the ConfigMaps not listed yet.
		if !cache.WaitForCacheSync(ctx.Done(), p.cms.HasSynced) {
			return
		}
		p.queue.Add(syncKey)
		for p.next() {
		}
	}()
	<-ctx.Done()
	p.queue.ShutDown()
	<-done
	p.factory.Shutdown()
	return nil
}

// WaitSynced waits until the Sink has had the documents of the complete
// list of ConfigMaps once, so that the model holds them, or until ctx is
// done; it says whether it has. Run must be running.
func (p *Policies) WaitSynced(ctx context.Context) bool {
	select {
	case <-p.handed:
		return true
	case <-ctx.Done():
		return false
	}
}

// HasSynced says whether the Sink has had the documents of the complete
// list at least once (for /readyz).
func (p *Policies) HasSynced() bool {
	select {
	case <-p.handed:
		return true
	default:
		return false
	}
}

func (p *Policies) next() bool {
	key, quit := p.queue.Get()
	if quit {
		return false
	}
	defer p.queue.Done(key)
	if err := p.sync(); err != nil {
		p.log.Error("policy ConfigMaps: will retry", "error", err, "retries", p.queue.NumRequeues(key))
		p.queue.AddRateLimited(key)
		return true
	}
	p.queue.Forget(key)
	return true
}

// sync hands the documents of every cached ConfigMap to the Sink and
// reports their problems as Events.
func (p *Policies) sync() error {
	cms, err := p.lister.List(labels.Everything())
	if err != nil {
		return err
	}
	docs := documents(cms, p.log)
	status := p.opts.Sink.SetDocuments(ConfigMapSource, docs)
	p.events.report(cms, status)
	p.handedOnce.Do(func() { close(p.handed) })
	p.log.Debug("policy ConfigMaps handed over", "configmaps", len(cms), "documents", len(docs))
	return nil
}

// documents are the policy documents of cms, keyed by their path
// "configmap/NAMESPACE/NAME/KEY": every key of data ending in .yaml or
// .yml. Other keys are not policies (a README, say) and are left alone;
// binaryData is logged and skipped, since a policy is text.
func documents(cms []*corev1.ConfigMap, log *slog.Logger) map[string][]byte {
	docs := map[string][]byte{}
	for _, cm := range cms {
		for key, value := range cm.Data {
			if isPolicyKey(key) {
				docs[documentPath(cm.Namespace, cm.Name, key)] = []byte(value)
			}
		}
		for key := range cm.BinaryData {
			if isPolicyKey(key) {
				log.Warn("policy ConfigMap: binaryData is not read; put policies in data", "configmap", cm.Namespace+"/"+cm.Name, "key", key)
			}
		}
	}
	return docs
}

func isPolicyKey(key string) bool {
	return strings.HasSuffix(key, ".yaml") || strings.HasSuffix(key, ".yml")
}

func documentPath(namespace, name, key string) string {
	return ConfigMapSource + "/" + namespace + "/" + name + "/" + key
}
