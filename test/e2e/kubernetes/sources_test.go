package kubee2e

import (
	"context"
	"slices"
	"strings"
	"testing"

	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	adminapi "github.com/shadowplane/shadowplane/admin/api"
	"github.com/shadowplane/shadowplane/test/kube"
)

// Seed 002 on Kubernetes: the mirror to v2 appears when v2's Service has
// a ready endpoint and is withdrawn when it has none or is deleted,
// without any file edit; v1's endpoints follow a scale-up and a
// scale-down, served as endpoints only.
func TestSeed002MirrorFollowsV2(t *testing.T) {
	t.Parallel()
	c := kube.Start(t)
	a := &api{t: t, client: c.Client, ns: c.Namespace(t)}
	a.service("httpbin-v1")
	a.slice("httpbin-v1", "httpbin-v1-a", endpoint{"192.0.2.1", true})
	a.policy("httpbin", "httpbin.yaml", seed002(a.ns))
	cp := startServe(t, c.Kubeconfig, a.ns)

	cp.waitServed("httpbin to v1, no mirror: v2 has no Service", func(s *served) bool {
		return slices.Equal(s.endpoints("httpbin_v1"), []string{"192.0.2.1:8080"}) && !s.mirrors()
	})

	a.service("httpbin-v2")
	a.slice("httpbin-v2", "httpbin-v2-a", endpoint{"192.0.2.20", false})
	// Not ready: still no mirror. Then ready: the mirror appears.
	a.slice("httpbin-v2", "httpbin-v2-a", endpoint{"192.0.2.20", true})
	took := cp.waitServed("the mirror to v2, now that it has a ready endpoint", func(s *served) bool {
		return s.mirrors() && slices.Equal(s.endpoints("httpbin_v2"), []string{"192.0.2.20:8080"})
	})
	t.Logf("v2 ready → mirror served in %s", took)

	// v1 scaled up, across two slices, one pod not ready yet; then down.
	a.slice("httpbin-v1", "httpbin-v1-a", endpoint{"192.0.2.1", true}, endpoint{"192.0.2.2", true})
	a.slice("httpbin-v1", "httpbin-v1-b", endpoint{"192.0.2.3", true}, endpoint{"192.0.2.4", false})
	took = cp.waitServed("v1 scaled up to three ready pods", func(s *served) bool {
		return slices.Equal(s.endpoints("httpbin_v1"), []string{"192.0.2.1:8080", "192.0.2.2:8080", "192.0.2.3:8080"}) && s.mirrors()
	})
	t.Logf("v1 scaled up → endpoints served in %s", took)
	a.deleteSlice("httpbin-v1-b")
	a.slice("httpbin-v1", "httpbin-v1-a", endpoint{"192.0.2.2", true})
	cp.waitServed("v1 scaled down to one pod", func(s *served) bool {
		return slices.Equal(s.endpoints("httpbin_v1"), []string{"192.0.2.2:8080"})
	})

	// v2's last pod goes (not ready while terminating): the mirror is
	// withdrawn. Back, then the Service and its slice deleted: withdrawn.
	a.slice("httpbin-v2", "httpbin-v2-a", endpoint{"192.0.2.20", false})
	took = cp.waitServed("no mirror: v2's only pod is not ready", func(s *served) bool { return !s.mirrors() })
	t.Logf("v2 not ready → mirror withdrawn in %s", took)
	a.slice("httpbin-v2", "httpbin-v2-a", endpoint{"192.0.2.21", true})
	cp.waitServed("the mirror back", func(s *served) bool { return s.mirrors() })
	a.deleteSlice("httpbin-v2-a")
	if err := c.Client.CoreV1().Services(a.ns).Delete(a.ctx(), "httpbin-v2", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	took = cp.waitServed("no mirror: v2 deleted", func(s *served) bool { return !s.mirrors() })
	t.Logf("v2 deleted → mirror withdrawn in %s", took)
}

// A ConfigMap whose policy turns bad is reported at its key and line, in
// /api/v1/policies and as a Warning Event on the ConfigMap, while its last
// good version keeps being served; fixed, it is served.
func TestBadConfigMapKeepsLastGood(t *testing.T) {
	t.Parallel()
	c := kube.Start(t)
	a := &api{t: t, client: c.Client, ns: c.Namespace(t)}
	a.service("httpbin-v1")
	a.slice("httpbin-v1", "httpbin-v1-a", endpoint{"192.0.2.1", true})
	a.service("httpbin-v2")
	a.slice("httpbin-v2", "httpbin-v2-a", endpoint{"192.0.2.2", true})
	a.policy("httpbin", "httpbin.yaml", seed002(a.ns))
	cp := startServe(t, c.Kubeconfig, a.ns)
	cp.waitServed("seed 002", func(s *served) bool { return s.mirrors() })

	bad := strings.Replace(seed002(a.ns), "percent: 100", "percent: 250", 1)
	a.policy("httpbin", "httpbin.yaml", bad)
	doc := "configmap/" + a.ns + "/httpbin/httpbin.yaml"
	st := cp.waitPolicy(doc, "the bad policy reported", func(f adminapi.PolicyFile) bool { return !f.OK })
	if !st.Stale || len(st.Problems) == 0 || st.Problems[0].Line != 13 {
		t.Fatalf("status %+v: want the problem at line 13 and the last good version served", st)
	}
	t.Logf("reported: %s:%d: %s", st.Problems[0].File, st.Problems[0].Line, st.Problems[0].Message)
	if s, err := cp.served(); err != nil || !s.mirrors() {
		t.Fatalf("the last good policy is not served after a bad edit (err %v)", err)
	}
	waitEvent(t, a, "httpbin", "PolicyRejected", "httpbin.yaml:13")

	a.policy("httpbin", "httpbin.yaml", strings.Replace(seed002(a.ns), "percent: 100", "percent: 50", 1))
	cp.waitPolicy(doc, "the fixed policy served", func(f adminapi.PolicyFile) bool { return f.OK && !f.Stale })
	waitEvent(t, a, "httpbin", "PolicyAccepted", "")
}

// waitEvent waits for an Event on the ConfigMap name with reason and a
// note containing note.
func waitEvent(t *testing.T, a *api, name, reason, note string) {
	t.Helper()
	var seen []eventsv1.Event
	poll(t, "a "+reason+" Event on ConfigMap "+name+" containing "+note, func() bool {
		list, err := a.client.EventsV1().Events(a.ns).List(context.Background(), metav1.ListOptions{})
		if err != nil {
			return false
		}
		seen = list.Items
		return slices.ContainsFunc(list.Items, func(e eventsv1.Event) bool {
			return e.Regarding.Kind == "ConfigMap" && e.Regarding.Name == name && e.Reason == reason && strings.Contains(e.Note, note)
		})
	}, func() { t.Logf("events: %+v", seen) })
}
