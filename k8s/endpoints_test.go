package k8s

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/shadowplane/shadowplane/policy"
	"github.com/shadowplane/shadowplane/test/kube"
)

// waitFor bounds every wait on the API server and the informers.
const waitFor = 30 * time.Second

func apiContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	t.Cleanup(cancel)
	return ctx
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// notifier is an OnChange that never blocks: one pending signal is all a
// waiter needs, since it reads the cache after each.
func notifier() (func(), <-chan struct{}) {
	ch := make(chan struct{}, 1)
	return func() {
		select {
		case ch <- struct{}{}:
		default:
		}
	}, ch
}

// runEndpoints runs an Endpoints source until t ends; its OnChange
// signals the returned channel.
func runEndpoints(t *testing.T, client kubernetes.Interface, namespace string) (*Endpoints, <-chan struct{}) {
	t.Helper()
	onChange, changed := notifier()
	e, err := NewEndpoints(client, EndpointsOptions{Namespace: namespace, OnChange: onChange, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return e, changed
}

// waitTable waits until e's Table for refs is want: it reads the table
// after each OnChange (which comes after the cache changed), until
// waitFor has passed.
func waitTable(t *testing.T, e *Endpoints, changed <-chan struct{}, refs []policy.ServiceRef, want policy.EndpointTable) {
	t.Helper()
	deadline := time.After(waitFor)
	for {
		got := e.Table(refs)
		if maps.EqualFunc(got, want, func(a, b []string) bool { return cmp.Equal(a, b) }) {
			return
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("table not as expected after %s (-want +got):\n%s\nproblems: %v", waitFor, cmp.Diff(want, got), e.Problems(refs))
		}
	}
}

func createService(t *testing.T, client kubernetes.Interface, ns, name string, ports ...corev1.ServicePort) {
	t.Helper()
	svc := service(ns, name, ports...)
	svc.Spec.Selector = map[string]string{"app": name} // no controller runs: slices are made by the test
	if _, err := client.CoreV1().Services(ns).Create(apiContext(t), svc, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create Service %s: %v", name, err)
	}
}

func createSlice(t *testing.T, client kubernetes.Interface, s *discoveryv1.EndpointSlice) {
	t.Helper()
	if _, err := client.DiscoveryV1().EndpointSlices(s.Namespace).Create(apiContext(t), s, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create EndpointSlice %s: %v", s.Name, err)
	}
}

// Endpoints follow a Service scaled up and down, ready endpoints only,
// and the Service's removal.
func TestEndpointsFollowScaling(t *testing.T) {
	t.Parallel()
	c := kube.Start(t)
	ns := c.Namespace(t)
	client := c.Client
	e, changed := runEndpoints(t, client, ns)
	ref := policy.ServiceRef{Name: "web", Namespace: ns, Port: "http"}
	refs := []policy.ServiceRef{ref}
	ports := []discoveryv1.EndpointPort{slicePortOf("http", 8080)}
	want := func(addrs ...string) policy.EndpointTable {
		if len(addrs) == 0 {
			return policy.EndpointTable{}
		}
		eps := make([]string, len(addrs))
		for i, a := range addrs {
			eps[i] = a + ":8080"
		}
		return policy.EndpointTable{ref: eps}
	}

	createService(t, client, ns, "web", servicePort("http", 80, 8080))
	createSlice(t, client, endpointSlice(ns, "web", "web-1", discoveryv1.AddressTypeIPv4, ports, endpoint("ready", "192.0.2.1")))
	waitTable(t, e, changed, refs, want("192.0.2.1"))

	// Scale up: a new pod is ready (conditions unset count as ready), one
	// is starting, one is shutting down.
	s1 := endpointSlice(ns, "web", "web-1", discoveryv1.AddressTypeIPv4, ports,
		endpoint("ready", "192.0.2.1"), endpoint("", "192.0.2.2"),
		endpoint("not-ready", "192.0.2.3"), endpoint("terminating", "192.0.2.4"))
	if _, err := client.DiscoveryV1().EndpointSlices(ns).Update(apiContext(t), s1, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitTable(t, e, changed, refs, want("192.0.2.1", "192.0.2.2"))

	// A second slice: the union, an endpoint in both listed once.
	createSlice(t, client, endpointSlice(ns, "web", "web-2", discoveryv1.AddressTypeIPv4, ports,
		endpoint("ready", "192.0.2.5"), endpoint("ready", "192.0.2.2")))
	waitTable(t, e, changed, refs, want("192.0.2.1", "192.0.2.2", "192.0.2.5"))

	// Scale down.
	if err := client.DiscoveryV1().EndpointSlices(ns).Delete(apiContext(t), "web-1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitTable(t, e, changed, refs, want("192.0.2.2", "192.0.2.5"))

	// The Service removed (no controller-manager here to delete its
	// slices, so the test does).
	if err := client.CoreV1().Services(ns).Delete(apiContext(t), "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := client.DiscoveryV1().EndpointSlices(ns).Delete(apiContext(t), "web-2", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitTable(t, e, changed, refs, want())
	if got, want := e.Problems(refs)[ref], fmt.Sprintf("Service %s/web not found", ns); got != want {
		t.Errorf("problem %q, want %q", got, want)
	}
}

// A Service port is found by number or name, or left out for a Service
// with a single port; a ref that matches no port has no endpoints and
// says why. The source watches all namespaces here, and starts after the
// objects were made.
func TestEndpointsPortResolution(t *testing.T) {
	t.Parallel()
	c := kube.Start(t)
	ns := c.Namespace(t)
	client := c.Client

	createService(t, client, ns, "multi", servicePort("http", 80, 8080), servicePort("admin", 9000, 9901))
	createSlice(t, client, endpointSlice(ns, "multi", "multi-1", discoveryv1.AddressTypeIPv4,
		[]discoveryv1.EndpointPort{slicePortOf("http", 8080), slicePortOf("admin", 9901)}, endpoint("ready", "192.0.2.10")))
	createService(t, client, ns, "single", servicePort("", 80, 8081))
	createSlice(t, client, endpointSlice(ns, "single", "single-1", discoveryv1.AddressTypeIPv4,
		[]discoveryv1.EndpointPort{slicePortOf("", 8081)}, endpoint("ready", "192.0.2.11")))

	byNumber := policy.ServiceRef{Name: "multi", Namespace: ns, Port: "80"}
	byName := policy.ServiceRef{Name: "multi", Namespace: ns, Port: "admin"}
	singleNoPort := policy.ServiceRef{Name: "single", Namespace: ns}
	singleByNumber := policy.ServiceRef{Name: "single", Namespace: ns, Port: "80"}
	multiNoPort := policy.ServiceRef{Name: "multi", Namespace: ns}
	badName := policy.ServiceRef{Name: "multi", Namespace: ns, Port: "grpc"}
	badNumber := policy.ServiceRef{Name: "multi", Namespace: ns, Port: "8080"}
	refs := []policy.ServiceRef{byNumber, byName, singleNoPort, singleByNumber, multiNoPort, badName, badNumber}

	// Started after the objects exist: once WaitSynced returns, Table
	// has them all, with no change to wait for.
	e, _ := runEndpoints(t, client, "")
	if !e.WaitSynced(apiContext(t)) {
		t.Fatalf("not synced after %s", waitFor)
	}
	wantTable := policy.EndpointTable{
		byNumber:       {"192.0.2.10:8080"},
		byName:         {"192.0.2.10:9901"},
		singleNoPort:   {"192.0.2.11:8081"},
		singleByNumber: {"192.0.2.11:8081"},
	}
	if diff := cmp.Diff(wantTable, e.Table(refs)); diff != "" {
		t.Errorf("table (-want +got):\n%s", diff)
	}
	want := map[policy.ServiceRef]string{
		multiNoPort: fmt.Sprintf("Service %s/multi has 2 ports (http=80, admin=9000): name one in service.port", ns),
		badName:     fmt.Sprintf("port grpc not in Service %s/multi (ports: http=80, admin=9000)", ns),
		badNumber:   fmt.Sprintf("port 8080 not in Service %s/multi (ports: http=80, admin=9000)", ns),
	}
	if diff := cmp.Diff(want, e.Problems(refs)); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
}
