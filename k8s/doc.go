// Package k8s is the Kubernetes source of shadowplane: the endpoints of the
// Services that variants name, and policy documents kept in ConfigMaps.
//
// Both follow the client-go way: shared informers keep a cache of the
// objects, event handlers only put one key on a rate-limited work queue,
// and a single worker does the work from the cache, so that a burst of
// changes costs one pass and a failed pass is retried with backoff.
//
// Endpoints answers Table(refs) from its cache, for the pipeline to merge
// into the model with policy.Model.WithEndpoints; OnChange says when to ask
// again. Policies hands every labelled ConfigMap's *.yaml and *.yml keys to
// a DocumentSink (files.Watcher.SetDocuments), which keeps each document's
// last good version, and reports a ConfigMap's problems as Events on it.
//
// RESTConfig builds the client configuration, in or out of the cluster.
//
// The rights these need (in the watched namespace, or cluster-wide when it
// is ""): get, list and watch on Services, discovery.k8s.io EndpointSlices
// and ConfigMaps; create and patch on events.k8s.io Events. A list that
// RBAC forbids is logged as such and retried; what was last seen keeps
// being served.
package k8s
