package kubernetes

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/types"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	clientset "k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"

	"github.com/shadowplane/shadowplane/policy"
	"github.com/shadowplane/shadowplane/test/kube"
	"github.com/shadowplane/shadowplane/xds/bootstrap"
)

func TestMain(m *testing.M) { kube.Main(m) }

// doc is one object of a manifest file.
type doc struct {
	file  string
	index int // in the file, from 0
	raw   []byte
	obj   runtime.Object // typed, decoded strictly
	u     *unstructured.Unstructured
}

func (d doc) String() string {
	return fmt.Sprintf("%s#%d %s %s/%s", d.file, d.index, d.u.GetKind(), d.u.GetNamespace(), d.u.GetName())
}

// strict decodes into client-go's types and refuses unknown or duplicate
// fields, which the API server would drop or refuse.
var strict = serializer.NewCodecFactory(scheme.Scheme, serializer.EnableStrict).UniversalDeserializer()

// manifests reads every object of the *.yaml files, in the order kubectl
// apply -f takes them (file name order).
func manifests(t *testing.T) []doc {
	t.Helper()
	files, err := filepath.Glob("*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests: %v", err)
	}
	slices.Sort(files)
	var docs []doc
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
		for i := 0; ; i++ {
			raw, err := r.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			js, err := utilyaml.ToJSON(raw)
			if err != nil {
				t.Fatalf("%s#%d: %v", f, i, err)
			}
			if string(bytes.TrimSpace(js)) == "null" {
				continue // only comments
			}
			u := &unstructured.Unstructured{}
			if err := u.UnmarshalJSON(js); err != nil {
				t.Fatalf("%s#%d: %v", f, i, err)
			}
			obj, _, err := strict.Decode(raw, nil, nil)
			if err != nil {
				t.Fatalf("%s#%d: %v", f, i, err)
			}
			docs = append(docs, doc{file: f, index: i, raw: raw, obj: obj, u: u})
		}
	}
	return docs
}

func find[T runtime.Object](t *testing.T, docs []doc, namespace, name string) T {
	t.Helper()
	for _, d := range docs {
		if o, ok := d.obj.(T); ok && d.u.GetNamespace() == namespace && d.u.GetName() == name {
			return o
		}
	}
	var zero T
	t.Fatalf("no %T %s/%s in the manifests", zero, namespace, name)
	return zero
}

// clusterScoped are the kinds of the manifests that have no namespace.
var clusterScoped = map[string]bool{"Namespace": true, "ClusterRole": true, "ClusterRoleBinding": true}

// TestManifests checks the manifests without a cluster: every object names
// its namespace, and the pieces fit together as docs/kubernetes.md says.
func TestManifests(t *testing.T) {
	docs := manifests(t)
	seen := map[string]bool{}
	namespaces := map[string]bool{}
	for _, d := range docs {
		if clusterScoped[d.u.GetKind()] {
			if d.u.GetNamespace() != "" {
				t.Errorf("%s: cluster-scoped, yet has a namespace", d)
			}
		} else if d.u.GetNamespace() == "" {
			// kubectl would put it in the current namespace, wherever that is.
			t.Errorf("%s: no namespace", d)
		}
		if d.u.GetKind() == "Namespace" {
			namespaces[d.u.GetName()] = true
		}
		key := d.u.GroupVersionKind().GroupKind().String() + " " + d.u.GetNamespace() + "/" + d.u.GetName()
		if seen[key] {
			t.Errorf("%s: twice", d)
		}
		seen[key] = true
	}
	for _, d := range docs {
		if ns := d.u.GetNamespace(); ns != "" && !namespaces[ns] {
			t.Errorf("%s: namespace %s is not among the manifests", d, ns)
		}
	}

	// shadowplane: 3 replicas spread over nodes, 2 kept through drains, its
	// probes on the admin port.
	dep := find[*appsv1.Deployment](t, docs, "shadowplane", "shadowplane")
	if *dep.Spec.Replicas != 3 {
		t.Errorf("shadowplane replicas %d, want 3", *dep.Spec.Replicas)
	}
	pod := dep.Spec.Template.Spec
	if pod.ServiceAccountName != "shadowplane" {
		t.Errorf("shadowplane runs as ServiceAccount %q", pod.ServiceAccountName)
	}
	if a := pod.Affinity; a == nil || a.PodAntiAffinity == nil || len(a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution) != 1 ||
		a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution[0].PodAffinityTerm.TopologyKey != "kubernetes.io/hostname" {
		t.Errorf("shadowplane pod anti-affinity: %+v", a)
	}
	ctr := pod.Containers[0]
	args := strings.Join(ctr.Args, " ")
	for _, want := range []string{"serve ", "--policies /etc/shadowplane/policies", "--k8s ", "--k8s-namespace shadowplane", "--leader-elect", "--xds-addr 0.0.0.0:18000 --insecure-xds", "--admin-addr 0.0.0.0:9901"} {
		if !strings.Contains(args+" ", want) {
			t.Errorf("shadowplane args %q lack %q", args, want)
		}
	}
	if p := ctr.ReadinessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/readyz" || p.HTTPGet.Port.String() != "admin" {
		t.Errorf("shadowplane readiness probe: %+v", p)
	}
	if p := ctr.LivenessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/healthz" || p.HTTPGet.Port.String() != "admin" {
		t.Errorf("shadowplane liveness probe: %+v", p)
	}
	if !slices.ContainsFunc(ctr.Ports, func(p corev1.ContainerPort) bool { return p.Name == "admin" && p.ContainerPort == 9901 }) {
		t.Errorf("shadowplane ports %+v: want admin 9901", ctr.Ports)
	}
	checkAdminToken(t, pod, ctr)
	mounted := ""
	for _, v := range pod.Volumes {
		if v.ConfigMap != nil && slices.ContainsFunc(ctr.VolumeMounts, func(m corev1.VolumeMount) bool {
			return m.Name == v.Name && m.MountPath == "/etc/shadowplane/policies"
		}) {
			mounted = v.ConfigMap.Name
		}
	}
	if mounted == "" {
		t.Fatal("no ConfigMap is mounted on /etc/shadowplane/policies")
	}
	pdb := find[*policyv1.PodDisruptionBudget](t, docs, "shadowplane", "shadowplane")
	if pdb.Spec.MinAvailable == nil || pdb.Spec.MinAvailable.IntValue() != 2 {
		t.Errorf("PodDisruptionBudget minAvailable %v, want 2", pdb.Spec.MinAvailable)
	}
	svc := find[*corev1.Service](t, docs, "shadowplane", "shadowplane-xds")
	if svc.Spec.ClusterIP == corev1.ClusterIPNone || len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != 18000 || svc.Spec.Ports[0].Name != "grpc" {
		t.Errorf("Service shadowplane-xds: %+v", svc.Spec)
	}
	for k, v := range svc.Spec.Selector {
		if dep.Spec.Template.Labels[k] != v {
			t.Errorf("Service shadowplane-xds selects %s=%s, which shadowplane's pods lack", k, v)
		}
	}

	// The policies: every file of a labelled ConfigMap and of the mounted
	// one parses, and together they assemble without problems.
	var files []policy.File
	labelled := 0
	for _, d := range docs {
		cm, ok := d.obj.(*corev1.ConfigMap)
		if !ok || (cm.Labels["shadowplane.io/policy"] != "true" && !(cm.Namespace == "shadowplane" && cm.Name == mounted)) {
			continue
		}
		if cm.Labels["shadowplane.io/policy"] == "true" {
			labelled++
		}
		for _, key := range slices.Sorted(maps.Keys(cm.Data)) {
			path := cm.Namespace + "/" + cm.Name + "/" + key
			f, problems := policy.ParseFile(path, []byte(cm.Data[key]))
			if len(problems) > 0 {
				t.Errorf("%s: %v", path, policy.JoinProblems(problems))
			}
			if w := f.Warnings(); len(w) > 0 {
				t.Errorf("%s: warnings: %v", path, policy.JoinProblems(w))
			}
			files = append(files, f)
		}
	}
	if labelled == 0 {
		t.Fatal("no ConfigMap labelled shadowplane.io/policy: \"true\"")
	}
	model, problems := policy.Assemble(files)
	if len(problems) > 0 {
		t.Errorf("the policies do not assemble: %v", policy.JoinProblems(problems))
	}
	// Each Service a variant names is among the manifests, with that port.
	refs := model.Services()
	if len(refs) == 0 {
		t.Error("no variant names a Service")
	}
	for _, ref := range refs {
		s := find[*corev1.Service](t, docs, ref.Namespace, ref.Name)
		if !slices.ContainsFunc(s.Spec.Ports, func(p corev1.ServicePort) bool {
			n, isNumber := ref.PortNumber()
			return p.Name == ref.Port || isNumber && p.Port == n || ref.Port == "" && len(s.Spec.Ports) == 1
		}) {
			t.Errorf("variant Service %s: no such port in %+v", ref, s.Spec.Ports)
		}
	}

	// The gateway's bootstrap is what the command in its first line prints,
	// and points at the xDS Service.
	opts := gatewayBootstrap(t, find[*corev1.ConfigMap](t, docs, "demo", "gateway-envoy"))
	if wantAddr := fmt.Sprintf("%s.%s.svc:%d", svc.Name, svc.Namespace, svc.Spec.Ports[0].Port); opts.XDSAddress != wantAddr {
		t.Errorf("gateway bootstrap xDS address %s, want %s", opts.XDSAddress, wantAddr)
	}
	for _, name := range []string{"gateway", "web-v1", "web-v2"} {
		d := find[*appsv1.Deployment](t, docs, "demo", name)
		if d.Spec.Template.Spec.AutomountServiceAccountToken == nil || *d.Spec.Template.Spec.AutomountServiceAccountToken {
			t.Errorf("Deployment demo/%s mounts a ServiceAccount token it has no use for", name)
		}
	}
}

// gatewayBootstrap checks that the gateway's envoy.yaml is what the
// command in its first line prints, and returns that command's options.
func gatewayBootstrap(t *testing.T, gw *corev1.ConfigMap) bootstrap.Options {
	t.Helper()
	text := gw.Data["envoy.yaml"]
	first, _, _ := strings.Cut(text, "\n")
	command, ok := strings.CutPrefix(first, "# Generated by shadowplane bootstrap; regenerate with: ")
	if !ok {
		t.Fatalf("gateway envoy.yaml does not start with the command that generated it: %q", first)
	}
	opts, err := bootstrap.ParseCommand(command)
	if err != nil {
		t.Fatal(err)
	}
	b, err := bootstrap.Build(opts)
	if err != nil {
		t.Fatal(err)
	}
	want, err := bootstrap.Marshal(b, bootstrap.FormatYAML)
	if err != nil {
		t.Fatal(err)
	}
	if text != string(want) {
		t.Errorf("gateway envoy.yaml is not what `%s` prints; regenerate it", command)
	}
	return opts
}

// applyForReal applies the namespaces and the RBAC objects (server-side
// apply, so that it can run again on the same cluster).
func applyForReal(t *testing.T, c *kube.Cluster, docs []doc) {
	t.Helper()
	a := newApplier(t, c.Config)
	for _, d := range docs {
		switch d.u.GetKind() {
		case "Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding":
			if err := a.apply(d, false); err != nil {
				t.Fatalf("%s: %v", d, err)
			}
		}
	}
}

type applier struct {
	client   dynamic.Interface
	mapper   meta.RESTMapper
	mu       sync.Mutex
	warnings []string
}

func newApplier(t *testing.T, cfg *rest.Config) *applier {
	t.Helper()
	a := &applier{}
	cfg = rest.CopyConfig(cfg)
	cfg.WarningHandler = a
	var err error
	if a.client, err = dynamic.NewForConfig(cfg); err != nil {
		t.Fatal(err)
	}
	disco, err := clientset.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	a.mapper = restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(disco.Discovery()))
	return a
}

// HandleWarningHeader collects the API server's warnings (rest.WarningHandler).
func (a *applier) HandleWarningHeader(code int, agent, text string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.warnings = append(a.warnings, text)
}

func (a *applier) takeWarnings() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	w := a.warnings
	a.warnings = nil
	return w
}

// apply server-side applies d, only as a dry run when dryRun is set.
func (a *applier) apply(d doc, dryRun bool) error {
	gvk := d.u.GroupVersionKind()
	mapping, err := a.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return err
	}
	var r dynamic.ResourceInterface = a.client.Resource(mapping.Resource)
	if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
		r = a.client.Resource(mapping.Resource).Namespace(d.u.GetNamespace())
	}
	body, err := d.u.MarshalJSON()
	if err != nil {
		return err
	}
	opts := metav1.PatchOptions{FieldManager: "shadowplane-manifests-test", Force: ptr(true), FieldValidation: "Strict"}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = r.Patch(ctx, d.u.GetName(), types.ApplyPatchType, body, opts)
	return err
}

func ptr[T any](v T) *T { return &v }

// TestManifestsDryRun has the API server accept every object: the
// namespaces and RBAC for real, then everything as a server-side dry run
// (validation, defaulting and admission, Pod Security included, without
// storing). A warning fails the test too: with the namespaces' Pod
// Security "warn" label, that is how a non-compliant pod template shows.
func TestManifestsDryRun(t *testing.T) {
	t.Parallel()
	c := kube.Start(t)
	docs := manifests(t)
	applyForReal(t, c, docs)
	a := newApplier(t, c.Config)
	for _, d := range docs {
		if err := a.apply(d, true); err != nil {
			t.Errorf("%s: refused: %v", d, err)
		}
		if w := a.takeWarnings(); len(w) > 0 {
			t.Errorf("%s: warnings: %q", d, w)
		}
	}
	// A dry run stores nothing.
	_, err := c.Client.AppsV1().Deployments("shadowplane").Get(context.Background(), "shadowplane", metav1.GetOptions{})
	if !apierrors.IsNotFound(err) {
		t.Errorf("after a dry run, Deployment shadowplane/shadowplane: err = %v, want NotFound", err)
	}
}

// serviceAccount is who shadowplane's pods are to the API server.
const serviceAccount = "system:serviceaccount:shadowplane:shadowplane"

// asServiceAccount is a client for shadowplane's ServiceAccount: the
// administrator impersonating it, with the groups a token of it would have.
func asServiceAccount(t *testing.T, c *kube.Cluster) clientset.Interface {
	t.Helper()
	cfg := rest.CopyConfig(c.Config)
	cfg.Impersonate = rest.ImpersonationConfig{
		UserName: serviceAccount,
		Groups:   []string{"system:serviceaccounts", "system:serviceaccounts:shadowplane", "system:authenticated"},
	}
	client, err := clientset.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return client
}

// access is one check of the ServiceAccount's rights.
type access struct {
	group, resource, verb, namespace string
}

func (a access) String() string {
	ns := a.namespace
	if ns == "" {
		ns = "all namespaces"
	}
	g := a.group
	if g == "" {
		g = "core"
	}
	return fmt.Sprintf("%s %s.%s in %s", a.verb, a.resource, g, ns)
}

func (a access) allowed(t *testing.T, client clientset.Interface) bool {
	t.Helper()
	review := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
		ResourceAttributes: &authorizationv1.ResourceAttributes{Group: a.group, Resource: a.resource, Verb: a.verb, Namespace: a.namespace},
	}}
	res, err := client.AuthorizationV1().SelfSubjectAccessReviews().Create(context.Background(), review, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("SelfSubjectAccessReview %s: %v", a, err)
	}
	return res.Status.Allowed
}

// TestRBAC applies the RBAC manifests for real and checks, as shadowplane's
// ServiceAccount, that it can do what the Kubernetes source and leader
// election need and nothing else asked here.
func TestRBAC(t *testing.T) {
	t.Parallel()
	c := kube.Start(t)
	applyForReal(t, c, manifests(t))
	sa := asServiceAccount(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	// Who the API server takes the client for.
	who, err := sa.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if who.Status.UserInfo.Username != serviceAccount {
		t.Fatalf("impersonation: user %q, want %s", who.Status.UserInfo.Username, serviceAccount)
	}

	// The API server's RBAC authorizer learns of new bindings through its
	// own watch, a moment after they are stored: poll the first right until
	// it is granted.
	first := access{"discovery.k8s.io", "endpointslices", "list", ""}
	for deadline := time.Now().Add(30 * time.Second); !first.allowed(t, sa); {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not allowed 30 s after the RBAC manifests were applied", first)
		}
		time.Sleep(50 * time.Millisecond)
	}

	allowed := []access{
		// The source's informers, in every namespace.
		{"discovery.k8s.io", "endpointslices", "list", ""},
		{"discovery.k8s.io", "endpointslices", "watch", ""},
		{"", "services", "list", ""},
		{"", "services", "watch", ""},
		{"", "configmaps", "list", ""},
		{"", "configmaps", "watch", ""},
		// Events, wherever the objects are.
		{"", "events", "create", "demo"},
		{"", "events", "patch", "demo"},
		{"events.k8s.io", "events", "create", "demo"},
		{"events.k8s.io", "events", "patch", "demo"},
		// Leader election and state, in its own namespace.
		{"coordination.k8s.io", "leases", "get", "shadowplane"},
		{"coordination.k8s.io", "leases", "create", "shadowplane"},
		{"coordination.k8s.io", "leases", "update", "shadowplane"},
		{"", "configmaps", "get", "shadowplane"},
		{"", "configmaps", "create", "shadowplane"},
		{"", "configmaps", "update", "shadowplane"},
		{"", "configmaps", "delete", "shadowplane"},
	}
	denied := []access{
		{"", "secrets", "list", ""},
		{"", "secrets", "get", "shadowplane"},
		{"", "pods", "list", ""},
		{"apps", "deployments", "delete", "demo"},
		{"apps", "deployments", "list", ""},
		{"", "services", "update", "demo"},
		{"", "services", "get", "demo"},
		{"discovery.k8s.io", "endpointslices", "create", "demo"},
		// Writes outside its own namespace.
		{"", "configmaps", "create", "demo"},
		{"", "configmaps", "update", "demo"},
		{"", "configmaps", "delete", "demo"},
		{"coordination.k8s.io", "leases", "update", "demo"},
		{"coordination.k8s.io", "leases", "create", "demo"},
		// No more than election needs of its own Lease, nor of the rest.
		{"coordination.k8s.io", "leases", "delete", "shadowplane"},
		{"", "configmaps", "patch", "shadowplane"},
		{"", "serviceaccounts", "create", "shadowplane"},
		{"rbac.authorization.k8s.io", "rolebindings", "create", "shadowplane"},
		{"", "events", "delete", "demo"},
	}
	for _, a := range allowed {
		if !a.allowed(t, sa) {
			t.Errorf("%s: denied, want allowed", a)
		}
	}
	for _, a := range denied {
		if a.allowed(t, sa) {
			t.Errorf("%s: allowed, want denied", a)
		}
	}

	// The same through real requests.
	if _, err := sa.DiscoveryV1().EndpointSlices("").List(ctx, metav1.ListOptions{}); err != nil {
		t.Errorf("list EndpointSlices in all namespaces: %v", err)
	}
	w, err := sa.CoreV1().ConfigMaps("").Watch(ctx, metav1.ListOptions{LabelSelector: "shadowplane.io/policy=true"})
	if err != nil {
		t.Errorf("watch policy ConfigMaps in all namespaces: %v", err)
	} else {
		w.Stop()
	}
	lease := &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: "rbac-test-" + strings.ReplaceAll(strings.ToLower(t.Name()), "/", "-")},
		Spec:       coordinationv1.LeaseSpec{HolderIdentity: ptr("shadowplane-0")},
	}
	leases := sa.CoordinationV1().Leases("shadowplane")
	c.Client.CoordinationV1().Leases("shadowplane").Delete(ctx, lease.Name, metav1.DeleteOptions{}) // left by an earlier -count run
	if _, err := leases.Create(ctx, lease, metav1.CreateOptions{}); err != nil {
		t.Errorf("create Lease: %v", err)
	} else if got, err := leases.Get(ctx, lease.Name, metav1.GetOptions{}); err != nil {
		t.Errorf("get Lease: %v", err)
	} else {
		got.Spec.HolderIdentity = ptr("shadowplane-1")
		if _, err := leases.Update(ctx, got, metav1.UpdateOptions{}); err != nil {
			t.Errorf("update Lease: %v", err)
		}
		if err := leases.Delete(ctx, lease.Name, metav1.DeleteOptions{}); !apierrors.IsForbidden(err) {
			t.Errorf("delete Lease: err = %v, want Forbidden", err)
		}
		c.Client.CoordinationV1().Leases("shadowplane").Delete(ctx, lease.Name, metav1.DeleteOptions{})
	}
	state := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: lease.Name}, Data: map[string]string{"step": "1"}}
	cms := sa.CoreV1().ConfigMaps("shadowplane")
	c.Client.CoreV1().ConfigMaps("shadowplane").Delete(ctx, state.Name, metav1.DeleteOptions{}) // left by an earlier run
	if _, err := cms.Create(ctx, state, metav1.CreateOptions{}); err != nil {
		t.Errorf("create state ConfigMap: %v", err)
	} else {
		state.Data["step"] = "2"
		if _, err := cms.Update(ctx, state, metav1.UpdateOptions{}); err != nil {
			t.Errorf("update state ConfigMap: %v", err)
		}
		if err := cms.Delete(ctx, state.Name, metav1.DeleteOptions{}); err != nil {
			t.Errorf("delete state ConfigMap: %v", err)
		}
	}
	if _, err := sa.CoreV1().Secrets("").List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("list Secrets: err = %v, want Forbidden", err)
	}
	if err := sa.AppsV1().Deployments("demo").Delete(ctx, "web-v1", metav1.DeleteOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("delete Deployment demo/web-v1: err = %v, want Forbidden", err)
	}
	if _, err := sa.CoreV1().ConfigMaps("demo").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "x"}}, metav1.CreateOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("create ConfigMap in demo: err = %v, want Forbidden", err)
	}
}

// checkAdminToken: serve reads the admin token from a Secret mounted
// read-only, mode 0400, with the pod's fsGroup (so that the kubelet makes
// it readable by serve's group alone, which LoadToken accepts).
func checkAdminToken(t *testing.T, pod corev1.PodSpec, ctr corev1.Container) {
	t.Helper()
	i := slices.Index(ctr.Args, "--admin-token-file")
	if i < 0 || i+1 >= len(ctr.Args) {
		t.Errorf("shadowplane args %q lack --admin-token-file: serve refuses a non-loopback admin without it", ctr.Args)
		return
	}
	file := ctr.Args[i+1]
	dir, key := path.Dir(file), path.Base(file)
	m := slices.IndexFunc(ctr.VolumeMounts, func(m corev1.VolumeMount) bool { return m.MountPath == dir })
	if m < 0 || !ctr.VolumeMounts[m].ReadOnly {
		t.Errorf("no read-only volume is mounted on %s", dir)
		return
	}
	v := slices.IndexFunc(pod.Volumes, func(v corev1.Volume) bool { return v.Name == ctr.VolumeMounts[m].Name })
	if v < 0 || pod.Volumes[v].Secret == nil {
		t.Errorf("%s is not a Secret volume", dir)
		return
	}
	sec := pod.Volumes[v].Secret
	if sec.DefaultMode == nil || *sec.DefaultMode != 0o400 {
		t.Errorf("Secret %s defaultMode %v, want 0400", sec.SecretName, sec.DefaultMode)
	}
	if !slices.ContainsFunc(sec.Items, func(it corev1.KeyToPath) bool { return it.Path == key }) {
		t.Errorf("Secret %s does not project %s", sec.SecretName, key)
	}
	if sc := pod.SecurityContext; sc == nil || sc.FSGroup == nil || sc.RunAsGroup == nil || *sc.FSGroup != *sc.RunAsGroup {
		t.Errorf("pod securityContext %+v: want fsGroup equal to runAsGroup, or serve cannot read the token", sc)
	}
}
