// Package kubernetes holds manifests that deploy shadowplane on
// Kubernetes, with a sample app in two versions and an Envoy gateway (see
// README.md and docs/kubernetes.md). The package has no code; its tests
// check the manifests offline (the policies parse and assemble, the
// gateway's bootstrap is what `shadowplane bootstrap` prints), then against
// a real API server (test/kube): every object is accepted by a server-side
// dry run, the ServiceAccount's rights are exactly what the RBAC manifests
// mean to grant, and `shadowplane serve`, run with the Deployment's
// arguments as that ServiceAccount, needs no more.
package kubernetes
