package kubernetes

import (
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/shadowplane/shadowplane/test/kube"
	"github.com/shadowplane/shadowplane/test/serveproc"
)

// TestServeAsServiceAccount runs `shadowplane serve` with the arguments of
// the manifests' Deployment, as the ServiceAccount the RBAC manifests bind
// (the administrator impersonating it), against the demo's Services and
// policy ConfigMap: it must become ready, win the Lease, serve the
// endpoints of the EndpointSlices, and never be refused a request. Only the
// addresses change (loopback, free ports), and --k8s becomes --kubeconfig:
// there is no in-cluster configuration here.
func TestServeAsServiceAccount(t *testing.T) {
	t.Parallel()
	c := kube.Start(t)
	docs := manifests(t)
	applyForReal(t, c, docs)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	// The demo's Services and policy for real, and the EndpointSlices the
	// controller would make of their ready pods (documentation addresses,
	// which nothing sends traffic to).
	a := newApplier(t, c.Config)
	for _, d := range docs {
		if d.u.GetNamespace() == "demo" && (d.u.GetKind() == "Service" || d.u.GetKind() == "ConfigMap") {
			if err := a.apply(d, false); err != nil {
				t.Fatalf("%s: %v", d, err)
			}
		}
	}
	addrs := map[string]string{"web-v1": "192.0.2.11", "web-v2": "192.0.2.12"}
	for svc, addr := range addrs {
		es := endpointSlice(svc, addr, 8080)
		_, err := c.Client.DiscoveryV1().EndpointSlices("demo").Create(ctx, es, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) { // made by an earlier -count run
			t.Fatalf("EndpointSlice %s: %v", es.Name, err)
		}
	}
	// A Lease left by an earlier run would hold the election until it
	// expires.
	leases := c.Client.CoordinationV1().Leases("shadowplane")
	leases.Delete(ctx, "shadowplane-leader", metav1.DeleteOptions{})
	t.Cleanup(func() { leases.Delete(context.Background(), "shadowplane-leader", metav1.DeleteOptions{}) })

	// A kubeconfig for the ServiceAccount.
	kc, err := clientcmd.LoadFromFile(c.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	for _, user := range kc.AuthInfos {
		user.Impersonate = serviceAccount
		user.ImpersonateGroups = []string{"system:serviceaccounts", "system:serviceaccounts:shadowplane", "system:authenticated"}
	}
	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, kubeconfig); err != nil {
		t.Fatal(err)
	}

	// The Deployment's arguments, the mounted policy directory included.
	dep := find[*appsv1.Deployment](t, docs, "shadowplane", "shadowplane")
	policies := filepath.Join(dir, "policies")
	if err := os.Mkdir(policies, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, d := range docs {
		if d.u.GetKind() == "ConfigMap" && d.u.GetNamespace() == "shadowplane" && d.u.GetName() == "shadowplane-policies" {
			data, _, _ := unstructured.NestedStringMap(d.u.Object, "data")
			for k, v := range data {
				if err := os.WriteFile(filepath.Join(policies, k), []byte(v), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	extra := serveArgs(t, dep.Spec.Template.Spec.Containers[0].Args, kubeconfig, filepath.Join(dir, "state"))

	bin := buildShadowplane(t)
	var logMu sync.Mutex
	var logs []string
	logf := func(line string) {
		logMu.Lock()
		logs = append(logs, line)
		logMu.Unlock()
	}
	t.Cleanup(func() {
		if t.Failed() {
			logMu.Lock()
			t.Logf("shadowplane serve logged:\n%s", strings.Join(logs, "\n"))
			logMu.Unlock()
		}
	})
	serveCtx, stop := context.WithCancel(ctx)
	p, err := serveproc.Start(serveCtx, bin, policies, logf, extra...)
	if err != nil {
		stop()
		t.Fatalf("shadowplane serve %s: %v", strings.Join(extra, " "), err)
	}
	t.Cleanup(func() { stop(); p.Wait() })

	// shadowplane is another process: poll its admin API and the Lease,
	// with a deadline, for what it does in its own time.
	deadline := time.Now().Add(2 * time.Minute)
	wait := func(what string, ok func() bool) {
		t.Helper()
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("shadowplane serve: %s: not within 2 minutes", what)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	get := func(path string) (int, string) {
		resp, err := http.Get(p.Admin + path)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	wait("ready (/readyz)", func() bool { code, _ := get("/readyz"); return code == http.StatusOK })
	wait("the Lease held", func() bool {
		l, err := leases.Get(ctx, "shadowplane-leader", metav1.GetOptions{})
		return err == nil && l.Spec.HolderIdentity != nil && *l.Spec.HolderIdentity != ""
	})
	// What the gateway's Envoys (node cluster "gateway", as their
	// bootstrap says) are served.
	gw := find[*corev1.ConfigMap](t, docs, "demo", "gateway-envoy")
	opts := gatewayBootstrap(t, gw)
	dumpPath := "/debug/config_dump?node=" + opts.NodeID + "&cluster=" + opts.NodeCluster
	wait("the EndpointSlices' addresses served to the gateway", func() bool {
		_, dump := get(dumpPath)
		return strings.Contains(dump, addrs["web-v1"]) && strings.Contains(dump, addrs["web-v2"])
	})
	if _, dump := get(dumpPath); !strings.Contains(dump, "web.example.com") || !strings.Contains(dump, "10000") {
		t.Errorf("%s lacks the app web's host or listener port:\n%s", dumpPath, dump)
	}
	if _, pol := get("/api/v1/policies"); !strings.Contains(pol, "web") {
		t.Errorf("/api/v1/policies does not list the app web:\n%s", pol)
	}

	logMu.Lock()
	defer logMu.Unlock()
	for _, line := range logs {
		if strings.Contains(strings.ToLower(line), "forbidden") {
			t.Errorf("refused a request: %s", line)
		}
	}
}

// serveArgs are the Deployment's arguments for serveproc.Start, which sets
// the policy directory and loopback addresses itself and reads the text
// log: those are left out, --k8s becomes --kubeconfig and the state
// directory a temporary one.
func serveArgs(t *testing.T, args []string, kubeconfig, stateDir string) []string {
	t.Helper()
	if len(args) == 0 || args[0] != "serve" {
		t.Fatalf("shadowplane args %q do not start with serve", args)
	}
	var out []string
	for i := 1; i < len(args); i++ {
		switch args[i] {
		case "--policies", "--xds-addr", "--admin-addr":
			i++ // and its value
		case "--state-dir":
			i++
			out = append(out, "--state-dir", stateDir)
		case "--k8s":
			out = append(out, "--kubeconfig", kubeconfig)
		case "--admin-token-file":
			// The Secret's file, here a file of the test's own.
			i++
			tok := filepath.Join(t.TempDir(), "admin-token")
			if err := os.WriteFile(tok, []byte("test-token\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			out = append(out, "--admin-token-file", tok)
		case "--log-json":
			// serveproc reads the addresses from the text log.
		default:
			out = append(out, args[i])
		}
	}
	if !slices.Contains(out, "--kubeconfig") {
		t.Fatalf("shadowplane args %q lack --k8s", args)
	}
	return out
}

func endpointSlice(service, addr string, port int32) *discoveryv1.EndpointSlice {
	name := "http"
	return &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: service + "-test", Labels: map[string]string{discoveryv1.LabelServiceName: service}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints: []discoveryv1.Endpoint{{
			Addresses:  []string{addr},
			Conditions: discoveryv1.EndpointConditions{Ready: ptr(true)},
		}},
		Ports: []discoveryv1.EndpointPort{{Name: &name, Port: &port}},
	}
}

// buildShadowplane builds the command into a temporary directory.
func buildShadowplane(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	out, err := exec.Command("go", "build", "-o", dir, "github.com/shadowplane/shadowplane/cmd/shadowplane").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return filepath.Join(dir, "shadowplane")
}
