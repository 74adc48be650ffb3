package k8s

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"

	"github.com/shadowplane/shadowplane/policy"
	"github.com/shadowplane/shadowplane/policy/files"
	"github.com/shadowplane/shadowplane/test/kube"
)

func TestDocuments(t *testing.T) {
	cms := []*corev1.ConfigMap{
		{
			ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web"},
			Data:       map[string]string{"web.yaml": "a", "v2.yml": "b", "README.md": "c", "yaml": "d"},
			BinaryData: map[string][]byte{"bin.yaml": []byte("e")},
		},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "other", Name: "web"}, Data: map[string]string{"web.yaml": "f"}},
	}
	want := map[string][]byte{
		"configmap/shop/web/web.yaml":  []byte("a"),
		"configmap/shop/web/v2.yml":    []byte("b"),
		"configmap/other/web/web.yaml": []byte("f"),
	}
	if diff := cmp.Diff(want, documents(cms, slog.New(slog.DiscardHandler))); diff != "" {
		t.Errorf("documents (-want +got):\n%s", diff)
	}
}

// signallingSink is the real Watcher's SetDocuments, keeping the last
// status and signalling after each call.
type signallingSink struct {
	w      *files.Watcher
	handed chan struct{}
	mu     sync.Mutex
	status []files.FileStatus
}

func (s *signallingSink) SetDocuments(source string, docs map[string][]byte) []files.FileStatus {
	st := s.w.SetDocuments(source, docs)
	s.mu.Lock()
	s.status = st
	s.mu.Unlock()
	select {
	case s.handed <- struct{}{}:
	default:
	}
	return st
}

func (s *signallingSink) lastStatus() []files.FileStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.status
}

// waitSink waits until ok holds of the watcher's model and the last
// status: it checks after each SetDocuments, until waitFor has passed.
func (s *signallingSink) wait(t *testing.T, what string, ok func(m *policy.Model, st []files.FileStatus) bool) {
	t.Helper()
	deadline := time.After(waitFor)
	for {
		if ok(s.w.Model(), s.lastStatus()) {
			return
		}
		select {
		case <-s.handed:
		case <-deadline:
			t.Fatalf("%s: not after %s; apps %v, status %+v", what, waitFor, appNames(s.w.Model()), s.lastStatus())
		}
	}
}

func appNames(m *policy.Model) []string {
	var out []string
	for _, a := range m.Apps {
		out = append(out, a.Name)
	}
	return out
}

// runPolicies runs a Policies source for namespace into a fresh Watcher
// (of an empty directory) until t ends.
func runPolicies(t *testing.T, client kubernetes.Interface, namespace string) (*Policies, *signallingSink) {
	t.Helper()
	w, err := files.NewWatcher(t.TempDir(), files.WatcherOptions{Sources: []string{ConfigMapSource}, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	sink := &signallingSink{w: w, handed: make(chan struct{}, 1)}
	p, err := NewPolicies(client, PoliciesOptions{Namespace: namespace, Sink: sink, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return p, sink
}

// statusOf is the status of path in st: one or none.
func statusOf(st []files.FileStatus, path string) []files.FileStatus {
	for _, s := range st {
		if s.Path == path {
			return []files.FileStatus{s}
		}
	}
	return nil
}

func policyConfigMap(ns, name string, labelled bool, data map[string]string) *corev1.ConfigMap {
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Data: data}
	if labelled {
		cm.Labels = map[string]string{DefaultPolicySelector: "true"}
	}
	return cm
}

const shopApp = `kind: App
name: shop
variants:
  - {name: v1, endpoints: ["192.0.2.1:8080"]}
  - {name: v2, endpoints: ["192.0.2.2:8080"]}
routes:
  - split: [{variant: v1, weight: 90}, {variant: v2, weight: 10}]
`

// A ConfigMap's policy is served, its bad edit reported at
// configmap/NS/NAME/KEY:LINE (status and a Warning Event) while the last
// good version stays, its fix served, its deletion withdrawn; an
// unlabelled ConfigMap is not read.
func TestPoliciesFromConfigMaps(t *testing.T) {
	t.Parallel()
	c := kube.Start(t)
	ns := c.Namespace(t)
	client := c.Client
	cms := client.CoreV1().ConfigMaps(ns)
	doc := documentPath(ns, "shop", "shop.yaml")

	plain := policyConfigMap(ns, "plain", false, map[string]string{"other.yaml": strings.ReplaceAll(shopApp, "name: shop", "name: other")})
	if _, err := cms.Create(apiContext(t), plain, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	base := policyConfigMap(ns, "base", true, map[string]string{"base.yaml": strings.ReplaceAll(shopApp, "name: shop", "name: base")})
	if _, err := cms.Create(apiContext(t), base, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Started after those exist: once WaitSynced returns, the model has
	// the labelled one, with no change to wait for.
	p, sink := runPolicies(t, client, ns)
	if !p.WaitSynced(apiContext(t)) {
		t.Fatalf("not synced after %s", waitFor)
	}
	if got := appNames(sink.w.Model()); !cmp.Equal(got, []string{"base"}) {
		t.Fatalf("apps at sync %v, want [base]", got)
	}

	cm := policyConfigMap(ns, "shop", true, map[string]string{"shop.yaml": shopApp, "README.md": "not a policy"})
	if _, err := cms.Create(apiContext(t), cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	sink.wait(t, "the good policy served", func(m *policy.Model, st []files.FileStatus) bool {
		return cmp.Equal(appNames(m), []string{"base", "shop"}) && len(statusOf(st, doc)) == 1 && statusOf(st, doc)[0].OK
	})

	// A bad edit: line 3 has an unknown field.
	cm.Data["shop.yaml"] = "kind: App\nname: shop\nbogus: 1\n"
	if _, err := cms.Update(apiContext(t), cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	sink.wait(t, "the bad edit reported", func(_ *policy.Model, st []files.FileStatus) bool {
		s := statusOf(st, doc)
		return len(s) == 1 && !s[0].OK && len(s[0].Problems) > 0
	})
	st := statusOf(sink.lastStatus(), doc)[0]
	if !st.Stale || !strings.HasPrefix(st.Problems[0].Error(), doc+":3: ") {
		t.Errorf("status %+v: want stale, with the problem at %s:3", st, doc)
	}
	if app, ok := sink.w.Model().App("shop"); !ok || len(app.Variants) != 2 {
		t.Errorf("the last good shop is not served: %+v", sink.w.Model().Apps)
	}
	ev := waitEvent(t, client, ns, "the PolicyRejected Event", func(e *eventsv1.Event) bool {
		return e.Reason == ReasonRejected
	})
	if ev.Type != corev1.EventTypeWarning || ev.Regarding.Kind != "ConfigMap" || ev.Regarding.Name != "shop" ||
		ev.ReportingController != EventController || !strings.Contains(ev.Note, doc+":3: ") ||
		!strings.Contains(ev.Note, "last good version keeps being served") {
		t.Errorf("Event %s %s on %s/%s by %s: %q", ev.Type, ev.Reason, ev.Regarding.Kind, ev.Regarding.Name, ev.ReportingController, ev.Note)
	}

	// The fix: a third variant.
	cm.Data["shop.yaml"] = strings.Replace(shopApp, "variants:\n", "variants:\n  - {name: v3, endpoints: [\"192.0.2.3:8080\"]}\n", 1)
	if _, err := cms.Update(apiContext(t), cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	sink.wait(t, "the fix served", func(m *policy.Model, st []files.FileStatus) bool {
		app, ok := m.App("shop")
		s := statusOf(st, doc)
		return ok && len(app.Variants) == 3 && len(s) == 1 && s[0].OK
	})
	waitEvent(t, client, ns, "the PolicyAccepted Event", func(e *eventsv1.Event) bool {
		return e.Reason == ReasonAccepted && e.Type == corev1.EventTypeNormal && e.Regarding.Name == "shop"
	})

	if err := cms.Delete(apiContext(t), "shop", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	sink.wait(t, "the deletion withdrawn", func(m *policy.Model, st []files.FileStatus) bool {
		return cmp.Equal(appNames(m), []string{"base"}) && len(statusOf(st, doc)) == 0
	})
}

// waitEvent waits for an events.k8s.io/v1 Event of namespace that match
// accepts and returns it: it lists, then watches from the list, until
// waitFor has passed. (The recorder posts asynchronously; the API server
// is the only place to see the Event.)
func waitEvent(t *testing.T, client kubernetes.Interface, namespace, what string, match func(*eventsv1.Event) bool) *eventsv1.Event {
	t.Helper()
	ctx := apiContext(t)
	api := client.EventsV1().Events(namespace)
	list, err := api.List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatalf("%s: list Events: %v", what, err)
	}
	for i := range list.Items {
		if match(&list.Items[i]) {
			return &list.Items[i]
		}
	}
	w, err := api.Watch(ctx, metav1.ListOptions{ResourceVersion: list.ResourceVersion})
	if err != nil {
		t.Fatalf("%s: watch Events: %v", what, err)
	}
	defer w.Stop()
	for {
		select {
		case r, ok := <-w.ResultChan():
			if !ok {
				t.Fatalf("%s: the Event watch ended", what)
			}
			if e, isEvent := r.Object.(*eventsv1.Event); isEvent && (r.Type == watch.Added || r.Type == watch.Modified) && match(e) {
				return e
			}
		case <-ctx.Done():
			t.Fatalf("%s: no such Event after %s", what, waitFor)
		}
	}
}
