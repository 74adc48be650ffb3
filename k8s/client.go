package k8s

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime/debug"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
)

// Client limits. client-go's defaults (5 QPS, burst 10) are meant for
// controllers that write a lot; this one mostly watches, and a burst
// of event posts after a bad rollout must not stall its lists at start.
const (
	DefaultQPS   = 20
	DefaultBurst = 50
)

// Version is the version in the user agent, "shadowplane/<Version>".
// serve sets it to its own version; by default it is the main module's
// version from the build info (set by `go install …@VERSION`), else "dev".
var Version = moduleVersion()

func moduleVersion() string {
	if info, ok := debug.ReadBuildInfo(); ok && info.Main.Version != "" && info.Main.Version != "(devel)" {
		return info.Main.Version
	}
	return "dev"
}

// RESTConfig is the client configuration: in-cluster (the Pod's service
// account) when kubeconfig is "", else from that kubeconfig file (its
// current context). The user agent says "shadowplane/<Version>" so that
// the API server's audit log and metrics name us.
func RESTConfig(kubeconfig string) (*rest.Config, error) {
	var (
		cfg *rest.Config
		err error
	)
	if kubeconfig == "" {
		cfg, err = rest.InClusterConfig()
		if err != nil {
			return nil, fmt.Errorf("in-cluster Kubernetes configuration: %w", err)
		}
	} else {
		cfg, err = clientcmd.BuildConfigFromFlags("", kubeconfig)
		if err != nil {
			return nil, fmt.Errorf("kubeconfig %s: %w", kubeconfig, err)
		}
	}
	cfg.UserAgent = "shadowplane/" + Version
	if cfg.QPS == 0 {
		cfg.QPS = DefaultQPS
	}
	if cfg.Burst == 0 {
		cfg.Burst = DefaultBurst
	}
	return cfg, nil
}

// changeHandler calls changed for every add, delete and real update of an
// informer's objects. Resyncs (an update with the same resourceVersion)
// replay the cache and change nothing, so they are not reported. changed
// must not block: it only queues a key.
func changeHandler(changed func()) cache.ResourceEventHandler {
	return cache.ResourceEventHandlerFuncs{
		AddFunc: func(any) { changed() },
		UpdateFunc: func(oldObj, newObj any) {
			o, err1 := meta.Accessor(oldObj)
			n, err2 := meta.Accessor(newObj)
			if err1 == nil && err2 == nil && o.GetResourceVersion() == n.GetResourceVersion() {
				return
			}
			changed()
		},
		DeleteFunc: func(any) { changed() },
	}
}

// dropManagedFields is an informer transform: the server-side apply
// bookkeeping is often the larger part of an object and is never read
// here, so the caches do not keep it.
func dropManagedFields(obj any) (any, error) {
	if a, err := meta.Accessor(obj); err == nil {
		a.SetManagedFields(nil)
	}
	return obj, nil
}

// logWatchErrors reports an informer's failed lists and watches in our
// log, where client-go would only tell klog: a Role that forbids a list
// must say so plainly. The informer keeps retrying with backoff, and what
// it last saw keeps being served.
func logWatchErrors(log *slog.Logger, kind string) cache.WatchErrorHandlerWithContext {
	return func(_ context.Context, _ *cache.Reflector, err error) {
		switch {
		case errors.Is(err, io.EOF), apierrors.IsResourceExpired(err), apierrors.IsGone(err):
			return // a watch ended normally; the informer lists again
		case apierrors.IsForbidden(err):
			log.Error("cannot list or watch "+kind+": grant this service account get, list and watch on them (RBAC)", "error", err)
		default:
			log.Warn("cannot list or watch "+kind+"; retrying, serving what was last seen", "error", err)
		}
	}
}
