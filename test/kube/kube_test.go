package kube

import (
	"context"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

func TestMain(m *testing.M) { Main(m) }

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// objects creates a ConfigMap, a Service "web" with a port named http and
// an EndpointSlice for it with one ready endpoint in ns.
func objects(t *testing.T, client kubernetes.Interface, ns string) {
	t.Helper()
	ctx := ctx(t)
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "cfg", Labels: map[string]string{"shadowplane.io/policy": "true"}},
		Data:       map[string]string{"app.yaml": "kind: App\n"},
	}
	if _, err := client.CoreV1().ConfigMaps(ns).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create ConfigMap: %v", err)
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": "web"},
			Ports:    []corev1.ServicePort{{Name: "http", Port: 8080, TargetPort: intstr.FromInt32(9090)}},
		},
	}
	if _, err := client.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create Service: %v", err)
	}
	if _, err := client.DiscoveryV1().EndpointSlices(ns).Create(ctx, slice("web-1", "192.0.2.10"), metav1.CreateOptions{}); err != nil {
		t.Fatalf("create EndpointSlice: %v", err)
	}
}

func slice(name, addr string) *discoveryv1.EndpointSlice {
	ready := true
	port, portName := int32(9090), "http"
	return &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: name, Labels: map[string]string{discoveryv1.LabelServiceName: "web"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints: []discoveryv1.Endpoint{{
			Addresses:  []string{addr},
			Conditions: discoveryv1.EndpointConditions{Ready: &ready},
		}},
		Ports: []discoveryv1.EndpointPort{{Name: &portName, Port: &port}},
	}
}

// checkObjects lists what objects created.
func checkObjects(t *testing.T, client kubernetes.Interface, ns string) {
	t.Helper()
	ctx := ctx(t)
	cms, err := client.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{LabelSelector: "shadowplane.io/policy=true"})
	if err != nil {
		t.Fatalf("list ConfigMaps: %v", err)
	}
	if len(cms.Items) != 1 || cms.Items[0].Data["app.yaml"] != "kind: App\n" {
		t.Errorf("ConfigMaps labelled shadowplane.io/policy=true: %+v", cms.Items)
	}
	svcs, err := client.CoreV1().Services(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatalf("list Services: %v", err)
	}
	if len(svcs.Items) != 1 || svcs.Items[0].Name != "web" || svcs.Items[0].Spec.ClusterIP == "" {
		t.Errorf("Services: %+v", svcs.Items)
	}
	slices, err := client.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=web"})
	if err != nil {
		t.Fatalf("list EndpointSlices: %v", err)
	}
	if len(slices.Items) != 1 || len(slices.Items[0].Endpoints) != 1 || slices.Items[0].Endpoints[0].Addresses[0] != "192.0.2.10" {
		t.Errorf("EndpointSlices of web: %+v", slices.Items)
	}
}

// TestSharedCluster creates and lists the objects the Kubernetes source
// reads, in a namespace of its own.
func TestSharedCluster(t *testing.T) {
	t.Parallel()
	c := Start(t)
	ns := c.Namespace(t)
	if !strings.HasPrefix(ns, "t-testsharedcluster-") {
		t.Errorf("namespace %q: want it named after the test", ns)
	}
	objects(t, c.Client, ns)
	checkObjects(t, c.Client, ns)

	// What K8S-TESTING.md warns of: loopback endpoints are refused, so
	// tests use documentation addresses (192.0.2.0/24).
	_, err := c.Client.DiscoveryV1().EndpointSlices(ns).Create(ctx(t), slice("web-loopback", "127.0.0.1"), metav1.CreateOptions{})
	if !apierrors.IsInvalid(err) {
		t.Errorf("EndpointSlice with 127.0.0.1: err = %v, want Invalid", err)
	}

	// A second Namespace call gives another namespace.
	if ns2 := c.Namespace(t); ns2 == ns {
		t.Errorf("Namespace twice gave %q twice", ns)
	}
	// The same cluster for every caller.
	if c2 := Start(t); c2 != c {
		t.Error("Start returned another cluster")
	}
}

// TestKubeconfig reaches the API server through the kubeconfig file, as
// `shadowplane serve --kubeconfig` would.
func TestKubeconfig(t *testing.T) {
	t.Parallel()
	c := Start(t)
	ns := c.Namespace(t)
	cfg, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Insecure || len(cfg.CAData) == 0 {
		t.Errorf("kubeconfig does not verify the server: insecure %v, CA %d bytes", cfg.Insecure, len(cfg.CAData))
	}
	client := kubernetes.NewForConfigOrDie(cfg)
	if _, err := client.CoreV1().Namespaces().Get(ctx(t), ns, metav1.GetOptions{}); err != nil {
		t.Fatalf("get namespace %s through %s: %v", ns, c.Kubeconfig, err)
	}
}

// TestUserKubeconfig checks that a plain user has no rights until bound to
// a role, and then exactly those.
func TestUserKubeconfig(t *testing.T) {
	t.Parallel()
	c := Start(t)
	ns := c.Namespace(t)
	objects(t, c.Client, ns)
	path, cfg := c.UserKubeconfig(t, "viewer")
	fromFile, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		t.Fatal(err)
	}
	if fromFile.BearerToken != cfg.BearerToken || fromFile.Host != c.Config.Host || cfg.BearerToken == c.Config.BearerToken {
		t.Fatalf("UserKubeconfig: file and config disagree, or use the admin token")
	}
	viewer := kubernetes.NewForConfigOrDie(fromFile)
	ctx := ctx(t)

	// Who the server thinks the user is.
	review, err := viewer.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("SelfSubjectReview: %v", err)
	}
	if review.Status.UserInfo.Username != "viewer" {
		t.Errorf("SelfSubjectReview: user %q, want viewer", review.Status.UserInfo.Username)
	}

	if _, err := viewer.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("viewer lists ConfigMaps before any binding: err = %v, want Forbidden", err)
	}
	role := &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "configmap-reader"},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "list"}}},
	}
	if _, err := c.Client.RbacV1().Roles(ns).Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	binding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "viewer"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "viewer"}},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "configmap-reader"},
	}
	if _, err := c.Client.RbacV1().RoleBindings(ns).Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The API server's RBAC authorizer learns of the binding through its
	// own watch, a moment after the create returns: poll until it has.
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := viewer.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{})
		if err == nil {
			break
		}
		if !apierrors.IsForbidden(err) || time.Now().After(deadline) {
			t.Fatalf("viewer lists ConfigMaps after the binding: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := viewer.CoreV1().Services(ns).List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("viewer lists Services: err = %v, want Forbidden", err)
	}
	if err := viewer.CoreV1().ConfigMaps(ns).Delete(ctx, "cfg", metav1.DeleteOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("viewer deletes a ConfigMap: err = %v, want Forbidden", err)
	}
	// The other pre-registered user is someone else.
	_, other := c.UserKubeconfig(t, "shadowplane")
	if other.BearerToken == cfg.BearerToken {
		t.Error("users shadowplane and viewer share a token")
	}
}

// TestStopStartAPIServer stops the API server of a cluster of its own:
// requests fail; started again, it serves the same objects on the same
// address.
func TestStopStartAPIServer(t *testing.T) {
	t.Parallel()
	c := StartOwn(t)
	if c == shared {
		t.Fatal("StartOwn returned the shared cluster")
	}
	ns := c.Namespace(t)
	objects(t, c.Client, ns)
	before, err := c.Client.CoreV1().Services(ns).Get(ctx(t), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}

	// An open watch, as a source's informer keeps: the stop must not wait
	// for it, and it ends.
	w, err := c.Client.CoreV1().ConfigMaps(ns).Watch(ctx(t), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()

	began := time.Now()
	c.StopAPIServer(t)
	t.Logf("API server stopped in %s", time.Since(began).Round(time.Millisecond))
	ended := time.After(30 * time.Second)
	for open := true; open; {
		select {
		case _, open = <-w.ResultChan():
		case <-ended:
			t.Fatal("a watch still open 30 s after StopAPIServer")
		}
	}
	short, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = c.Client.CoreV1().Services(ns).Get(short, "web", metav1.GetOptions{})
	if err == nil {
		t.Fatal("Get succeeded with the API server stopped")
	}
	if _, isStatus := err.(apierrors.APIStatus); isStatus {
		t.Fatalf("Get with the API server stopped: %v, want a connection error", err)
	}

	began = time.Now()
	c.StartAPIServer(t)
	t.Logf("API server started again in %s", time.Since(began).Round(time.Millisecond))
	after, err := c.Client.CoreV1().Services(ns).Get(ctx(t), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("Get after StartAPIServer: %v", err)
	}
	if after.UID != before.UID || after.ResourceVersion != before.ResourceVersion || after.Spec.ClusterIP != before.Spec.ClusterIP {
		t.Errorf("Service after the restart: uid %s rv %s ip %s, before: uid %s rv %s ip %s",
			after.UID, after.ResourceVersion, after.Spec.ClusterIP, before.UID, before.ResourceVersion, before.Spec.ClusterIP)
	}
	checkObjects(t, c.Client, ns)
	// The kubeconfig file still points at it.
	cfg, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kubernetes.NewForConfigOrDie(cfg).CoreV1().Namespaces().Get(ctx(t), ns, metav1.GetOptions{}); err != nil {
		t.Errorf("through the kubeconfig after the restart: %v", err)
	}
}

func TestNamespaceName(t *testing.T) {
	for _, tc := range []struct {
		test string
		seq  int64
		want string
	}{
		{"TestX", 1, "t-testx-1"},
		{"TestX/sub_case#01", 12, "t-testx-sub-case-01-12"},
		{"Test__", 3, "t-test-3"},
		{"Test" + strings.Repeat("A", 100), 7, "t-test" + strings.Repeat("a", 55) + "-7"},
	} {
		got := namespaceName(tc.test, tc.seq)
		if got != tc.want || len(got) > 63 {
			t.Errorf("namespaceName(%q, %d) = %q (%d), want %q", tc.test, tc.seq, got, len(got), tc.want)
		}
	}
}
