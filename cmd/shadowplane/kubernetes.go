package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"sync/atomic"

	"github.com/hashicorp/go-hclog"
	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"

	"github.com/shadowplane/shadowplane/analysis"
	"github.com/shadowplane/shadowplane/k8s"
	"github.com/shadowplane/shadowplane/policy/files"
)

// kubeConfig is serve's Kubernetes flags.
type kubeConfig struct {
	enabled        bool
	kubeconfig     string
	watchNamespace string
	namespace      string
	selector       string
	leaderElect    bool
	lease          k8s.ElectionConfig
}

func (c *kubeConfig) flags(fs *flag.FlagSet) {
	fs.BoolVar(&c.enabled, "k8s", false, "take policies from ConfigMaps and Service endpoints from the Kubernetes API, with the in-cluster credentials (or --kubeconfig)")
	fs.StringVar(&c.kubeconfig, "kubeconfig", "", "kubeconfig `FILE` for the Kubernetes API; implies --k8s")
	fs.StringVar(&c.watchNamespace, "k8s-watch-namespace", "", "watch only this `NAMESPACE` for policy ConfigMaps, Services and EndpointSlices (default: all namespaces)")
	fs.StringVar(&c.namespace, "k8s-namespace", os.Getenv("POD_NAMESPACE"), "`NAMESPACE` holding the leader Lease and the experiment states under --leader-elect (default $POD_NAMESPACE)")
	fs.StringVar(&c.selector, "policy-selector", k8s.DefaultPolicySelector, "label `SELECTOR` of the ConfigMaps that hold policies")
	fs.BoolVar(&c.leaderElect, "leader-elect", false, "run experiments only while holding a Lease, keeping their states in ConfigMaps, so that several replicas serve the same weights (needs --k8s)")
	fs.DurationVar(&c.lease.LeaseDuration, "leader-elect-lease-duration", k8s.DefaultLeaseDuration, "how long a leader's Lease lasts without renewal: a replica takes over within it")
	fs.DurationVar(&c.lease.RenewDeadline, "leader-elect-renew-deadline", k8s.DefaultRenewDeadline, "how long the leader keeps trying to renew before it stops leading")
	fs.DurationVar(&c.lease.RetryPeriod, "leader-elect-retry-period", k8s.DefaultRetryPeriod, "how often a replica tries to take or renew the Lease")
}

// check refuses inconsistent flags before anything starts.
func (c *kubeConfig) check() error {
	if c.kubeconfig != "" {
		c.enabled = true
	}
	if c.leaderElect && !c.enabled {
		return errors.New("--leader-elect needs the Kubernetes API: add --k8s or --kubeconfig")
	}
	if c.leaderElect && c.namespace == "" {
		return errors.New("--leader-elect needs --k8s-namespace (or $POD_NAMESPACE): where the Lease and the experiment states live")
	}
	return nil
}

// kubeSources are the Kubernetes parts of serve: the endpoints and
// policy sources, and under --leader-elect the election and the states.
type kubeSources struct {
	cfg       kubeConfig
	log       hclog.Logger
	client    kubernetes.Interface
	endpoints *k8s.Endpoints
	policies  *k8s.Policies
	elector   *k8s.Elector
	states    *k8s.StateWatcher
	store     *k8s.StateStore

	// leading and leader mirror the election for the parts that must not
	// wait on it: webhooks are sent only while leading (their Active is
	// asked under the runner's lock), and a follower's refusal of a
	// control names the leader.
	leading atomic.Bool
	leader  atomic.Pointer[string]
}

// isLeading says whether this replica runs the experiments now.
func (k *kubeSources) isLeading() bool { return k.leading.Load() }

// leaderName is the replica that leads, as last observed, or "".
func (k *kubeSources) leaderName() string {
	if p := k.leader.Load(); p != nil {
		return *p
	}
	return ""
}

func newKubeSources(cfg kubeConfig, log hclog.Logger) (*kubeSources, error) {
	rc, err := k8s.RESTConfig(cfg.kubeconfig)
	if err != nil {
		return nil, err
	}
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	// client-go logs through klog (leader election, watch failures): into
	// the process log, in its format, not klog's own on stderr.
	klog.SetSlogLogger(newSlog(log.Named("client-go")))
	return &kubeSources{cfg: cfg, log: log, client: client}, nil
}

// stateStore is where experiment states live under --leader-elect.
func (k *kubeSources) stateStore() analysis.StateStore {
	k.store = k8s.NewStateStore(k.client, k.cfg.namespace, 0)
	return k.store
}

// start makes the sources, feeding onEndpoints and the watcher, and runs
// them under ctx. It returns once their caches are filled: serving before
// would send proxies no endpoints for Services that have them.
func (k *kubeSources) start(ctx context.Context, watcher *files.Watcher, onEndpoints func(), errc chan<- error) error {
	var err error
	k.endpoints, err = k8s.NewEndpoints(k.client, k8s.EndpointsOptions{
		Namespace: k.cfg.watchNamespace, OnChange: onEndpoints, Logger: newSlog(k.log.Named("endpoints")),
	})
	if err != nil {
		return err
	}
	k.policies, err = k8s.NewPolicies(k.client, k8s.PoliciesOptions{
		Namespace: k.cfg.watchNamespace, Selector: k.cfg.selector, Sink: watcher, Logger: newSlog(k.log.Named("configmaps")),
	})
	if err != nil {
		return err
	}
	go func() { errc <- k.endpoints.Run(ctx) }()
	go func() { errc <- k.policies.Run(ctx) }()
	k.log.Info("waiting for the Kubernetes API: Services, EndpointSlices and policy ConfigMaps", "namespace", orAll(k.cfg.watchNamespace))
	if !k.endpoints.WaitSynced(ctx) || !k.policies.WaitSynced(ctx) {
		return ctx.Err()
	}
	k.log.Info("Kubernetes sources synced")
	return nil
}

// lead runs the election and the follower's view of the states for
// runner, under ctx.
func (k *kubeSources) lead(ctx context.Context, runner *analysis.Runner, errc chan<- error) error {
	var err error
	k.states, err = k8s.NewStateWatcher(k.client, k.cfg.namespace, func(states map[string]*analysis.State, invalid map[string]error) {
		if err := runner.SetStates(ctx, states, invalid); err != nil {
			k.log.Error("experiment states from the API not served", "error", err)
		}
	})
	if err != nil {
		return err
	}
	lc := k.cfg.lease
	lc.Client, lc.Namespace = k.client, k.cfg.namespace
	k.elector, err = k8s.NewElector(lc, k8s.Callbacks{
		OnStartedLeading: func(ctx context.Context) {
			k.leading.Store(true)
			k.log.Info("elected: this replica runs the experiments")
			if err := runner.Lead(ctx); err != nil && !errors.Is(err, context.Canceled) {
				k.log.Error("leading", "error", err)
			}
		},
		OnStoppedLeading: func() {
			k.leading.Store(false)
			runner.Follow()
			k.log.Info("no longer the leader: following the experiments' states")
		},
		OnNewLeader: func(id string) {
			k.leader.Store(&id)
			k.log.Info("experiments led by", "leader", id)
		},
	})
	if err != nil {
		return err
	}
	// A save refused for a conflict means another replica wrote since this
	// one read: its view is stale, so it gives the Lease up, and whoever
	// leads next starts from what is saved.
	k.store.OnConflict(func(experiment string) {
		k.log.Error("experiment state changed under this leader: giving up the lead", "experiment", experiment)
		k.elector.Resign()
	})
	go func() { errc <- k.states.Run(ctx) }()
	go func() {
		k.elector.Run(ctx)
		errc <- nil
	}()
	return nil
}

func orAll(ns string) string {
	if ns == "" {
		return "(all)"
	}
	return ns
}
