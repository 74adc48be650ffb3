package kubee2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"

	adminapi "github.com/shadowplane/shadowplane/admin/api"
	"github.com/shadowplane/shadowplane/test/serveproc"
)

// waitFor is how long a change may take to be served before a test
// fails: far beyond the second it takes (the figure the tests log), so a
// busy machine does not fail them.
const waitFor = 30 * time.Second

// pollEvery is how often a test reads what is served: serve runs in
// another process, so there is no event to wait on.
const pollEvery = 20 * time.Millisecond

// controlPlane is a running `shadowplane serve --kubeconfig`.
type controlPlane struct {
	t     *testing.T
	proc  *serveproc.Proc
	admin string
	stop  context.CancelFunc
}

// startServe runs serve against the cluster, watching ns, with an empty
// policy directory unless extra names one.
func startServe(t *testing.T, kubeconfig, ns string, extra ...string) *controlPlane {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	args := append([]string{"--kubeconfig", kubeconfig, "--k8s-watch-namespace", ns}, extra...)
	p, err := serveproc.Start(ctx, binary, t.TempDir(), func(line string) { t.Log("shadowplane: " + line) }, args...)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	cp := &controlPlane{t: t, proc: p, admin: p.Admin, stop: cancel}
	t.Cleanup(func() {
		cancel()
		p.Wait()
	})
	return cp
}

func (cp *controlPlane) get(path string, v any) error {
	resp, err := http.Get(cp.admin + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", path, resp.Status, body)
	}
	return json.Unmarshal(body, v)
}

// served is what an Envoy of any cluster is served now.
type served struct {
	Routes    []json.RawMessage
	Clusters  []json.RawMessage
	Endpoints []struct {
		ClusterName string `json:"cluster_name"`
		Endpoints   []struct {
			LbEndpoints []struct {
				Endpoint struct {
					Address struct {
						SocketAddress struct {
							Address   string `json:"address"`
							PortValue int    `json:"port_value"`
						} `json:"socket_address"`
					} `json:"address"`
				} `json:"endpoint"`
			} `json:"lb_endpoints"`
		} `json:"endpoints"`
	}
}

func (cp *controlPlane) served() (*served, error) {
	var s served
	return &s, cp.get("/debug/config_dump?node=probe&cluster=edge", &s)
}

// mirrors reports whether the served routes mirror.
func (s *served) mirrors() bool {
	b, _ := json.Marshal(s.Routes)
	return strings.Contains(string(b), "request_mirror_policies")
}

// endpoints lists the served addresses of a cluster, "ip:port", sorted as
// served.
func (s *served) endpoints(cluster string) []string {
	var out []string
	for _, cla := range s.Endpoints {
		if cla.ClusterName != cluster {
			continue
		}
		for _, loc := range cla.Endpoints {
			for _, lb := range loc.LbEndpoints {
				a := lb.Endpoint.Address.SocketAddress
				out = append(out, fmt.Sprintf("%s:%d", a.Address, a.PortValue))
			}
		}
	}
	return out
}

// poll calls ok every pollEvery until it holds, failing t after waitFor,
// when onFail (if any) says what was seen. It returns how long it took.
func poll(t *testing.T, what string, ok func() bool, onFail ...func()) time.Duration {
	t.Helper()
	return pollWithin(t, waitFor, what, ok, onFail...)
}

// pollWithin is poll with its own limit.
func pollWithin(t *testing.T, limit time.Duration, what string, ok func() bool, onFail ...func()) time.Duration {
	t.Helper()
	start := time.Now()
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for !ok() {
		if time.Since(start) > limit {
			for _, f := range onFail {
				f()
			}
			t.Fatalf("not within %s: %s", limit, what)
		}
		<-tick.C
	}
	return time.Since(start)
}

// waitServed polls what is served until ok holds, and returns how long it
// took.
func (cp *controlPlane) waitServed(what string, ok func(*served) bool) time.Duration {
	cp.t.Helper()
	var last error
	return poll(cp.t, what, func() bool {
		s, err := cp.served()
		last = err
		return err == nil && ok(s)
	}, func() { cp.t.Logf("last error: %v", last) })
}

// waitPolicy polls /api/v1/policies until the document path's status
// satisfies ok, and returns it.
func (cp *controlPlane) waitPolicy(path, what string, ok func(adminapi.PolicyFile) bool) adminapi.PolicyFile {
	cp.t.Helper()
	var st adminapi.PolicyFile
	var all []adminapi.PolicyFile
	poll(cp.t, what, func() bool {
		all = cp.policyFiles()
		for _, f := range all {
			if f.Path == path {
				st = f
				return ok(f)
			}
		}
		return false
	}, func() { cp.t.Logf("policies: %+v", all) })
	return st
}

func (cp *controlPlane) policyFiles() []adminapi.PolicyFile {
	cp.t.Helper()
	var body adminapi.PolicyList
	if err := cp.get("/api/v1/policies", &body); err != nil {
		cp.t.Fatal(err)
	}
	return body.Files
}

// api is the objects a test makes, as the Kubernetes controllers would.
type api struct {
	t      *testing.T
	client kubernetes.Interface
	ns     string
}

func (a *api) ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	a.t.Cleanup(cancel)
	return ctx
}

// service creates a Service with port 80 named http, targeting 8080.
func (a *api) service(name string) {
	a.t.Helper()
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: a.ns},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{
			Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080), Protocol: corev1.ProtocolTCP,
		}}},
	}
	if _, err := a.client.CoreV1().Services(a.ns).Create(a.ctx(), svc, metav1.CreateOptions{}); err != nil {
		a.t.Fatal(err)
	}
}

// endpoint is one pod behind a slice.
type endpoint struct {
	ip    string
	ready bool
}

// slice creates or replaces the EndpointSlice name of service.
func (a *api) slice(service, name string, eps ...endpoint) {
	a.t.Helper()
	port, proto, portName := int32(8080), corev1.ProtocolTCP, "http"
	es := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: name, Namespace: a.ns, Labels: map[string]string{discoveryv1.LabelServiceName: service}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: &portName, Port: &port, Protocol: &proto}},
	}
	for _, e := range eps {
		ready := e.ready
		es.Endpoints = append(es.Endpoints, discoveryv1.Endpoint{Addresses: []string{e.ip}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}})
	}
	c := a.client.DiscoveryV1().EndpointSlices(a.ns)
	cur, err := c.Get(a.ctx(), name, metav1.GetOptions{})
	if err == nil {
		es.ResourceVersion = cur.ResourceVersion
		_, err = c.Update(a.ctx(), es, metav1.UpdateOptions{})
	} else {
		_, err = c.Create(a.ctx(), es, metav1.CreateOptions{})
	}
	if err != nil {
		a.t.Fatal(err)
	}
}

func (a *api) deleteSlice(name string) {
	a.t.Helper()
	if err := a.client.DiscoveryV1().EndpointSlices(a.ns).Delete(a.ctx(), name, metav1.DeleteOptions{}); err != nil {
		a.t.Fatal(err)
	}
}

// policy creates or replaces a ConfigMap labelled as holding policies.
func (a *api) policy(name, key, content string) {
	a.t.Helper()
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: a.ns, Labels: map[string]string{"shadowplane.io/policy": "true"}},
		Data:       map[string]string{key: content},
	}
	c := a.client.CoreV1().ConfigMaps(a.ns)
	cur, err := c.Get(a.ctx(), name, metav1.GetOptions{})
	if err == nil {
		cm.ResourceVersion = cur.ResourceVersion
		_, err = c.Update(a.ctx(), cm, metav1.UpdateOptions{})
	} else {
		_, err = c.Create(a.ctx(), cm, metav1.CreateOptions{})
	}
	if err != nil {
		a.t.Fatal(err)
	}
}

// seed002 is seed 002 (Istio's mirroring task) as a policy: all traffic
// to v1, a copy of every request to v2 while v2 has somewhere to go.
func seed002(ns string) string {
	return fmt.Sprintf(`kind: App
name: httpbin
hosts: [httpbin]
port: 10000
variants:
  - name: v1
    service: {name: httpbin-v1, namespace: %[1]s, port: http}
  - name: v2
    service: {name: httpbin-v2, namespace: %[1]s, port: "80"}
routes:
  - name: default
    split: [{variant: v1}]
    mirror: {variant: v2, percent: 100}
`, ns)
}
