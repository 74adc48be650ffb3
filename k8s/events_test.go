package k8s

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"

	"github.com/shadowplane/shadowplane/policy"
	"github.com/shadowplane/shadowplane/policy/files"
)

func TestRejectionNotes(t *testing.T) {
	status := []files.FileStatus{
		{Path: "configmap/shop/web/web.yaml", OK: true},
		{Path: "configmap/shop/web/z.yml", Stale: true, Problems: []policy.Problem{
			{File: "configmap/shop/web/z.yml", Line: 3, Message: "unknown field"},
			{File: "configmap/shop/web/z.yml", Line: 9, Message: "weight over 100"},
		}},
		{Path: "configmap/shop/web/a.yaml", Problems: []policy.Problem{{File: "configmap/shop/web/a.yaml", Line: 1, Message: "not YAML"}}},
		{Path: "configmap/shop/api/api.yaml", OK: true},
		{Path: "web.yaml", Problems: []policy.Problem{{File: "web.yaml", Message: "a file, not a document"}}},
	}
	want := map[string]string{
		"shop/web": "a.yaml rejected (not served): configmap/shop/web/a.yaml:1: not YAML\n" +
			"z.yml rejected (its last good version keeps being served): configmap/shop/web/z.yml:3: unknown field; configmap/shop/web/z.yml:9: weight over 100",
	}
	if diff := cmp.Diff(want, rejectionNotes(status)); diff != "" {
		t.Errorf("notes (-want +got):\n%s", diff)
	}
}

func TestRejectionNoteBounded(t *testing.T) {
	var ps []policy.Problem
	for i := range 100 {
		ps = append(ps, policy.Problem{File: "configmap/ns/cm/p.yaml", Line: i + 1, Message: "naïve problem"})
	}
	note := rejectionNotes([]files.FileStatus{{Path: "configmap/ns/cm/p.yaml", Stale: true, Problems: ps}})["ns/cm"]
	if len(note) > maxNote || !utf8.ValidString(note) || !strings.HasSuffix(note, "…") {
		t.Errorf("note of %d bytes (valid UTF-8: %v), want at most %d ending in …", len(note), utf8.ValidString(note), maxNote)
	}
	if !strings.HasPrefix(note, "p.yaml rejected (its last good version keeps being served): configmap/ns/cm/p.yaml:1: ") {
		t.Errorf("note starts %q", note[:80])
	}
}

func TestDocumentPathRoundTrip(t *testing.T) {
	ns, name, key, ok := splitDocumentPath(documentPath("shop", "web", "v2.yaml"))
	if !ok || ns != "shop" || name != "web" || key != "v2.yaml" {
		t.Errorf("got %q %q %q %v", ns, name, key, ok)
	}
}

// Events are posted when a ConfigMap's problems change, not on every sync.
func TestProblemEventsOnChangeOnly(t *testing.T) {
	rec := events.NewFakeRecorder(10)
	pe := newProblemEvents(rec)
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "cm"}}
	other := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "other"}}
	bad := func(msg string) []files.FileStatus {
		return []files.FileStatus{{Path: "configmap/ns/cm/p.yaml", Stale: true,
			Problems: []policy.Problem{{File: "configmap/ns/cm/p.yaml", Line: 2, Message: msg}}}}
	}
	good := []files.FileStatus{{Path: "configmap/ns/cm/p.yaml", OK: true}}
	steps := []struct {
		cms    []*corev1.ConfigMap
		status []files.FileStatus
		want   []string
	}{
		{[]*corev1.ConfigMap{cm, other}, good, nil},
		{[]*corev1.ConfigMap{cm, other}, bad("one"), []string{"Warning PolicyRejected p.yaml rejected (its last good version keeps being served): configmap/ns/cm/p.yaml:2: one"}},
		{[]*corev1.ConfigMap{cm, other}, bad("one"), nil},
		{[]*corev1.ConfigMap{cm}, bad("one"), nil},
		{[]*corev1.ConfigMap{cm}, bad("two"), []string{"Warning PolicyRejected p.yaml rejected (its last good version keeps being served): configmap/ns/cm/p.yaml:2: two"}},
		{[]*corev1.ConfigMap{cm}, good, []string{"Normal PolicyAccepted every policy document is valid and served"}},
		{[]*corev1.ConfigMap{cm}, good, nil},
		{[]*corev1.ConfigMap{cm}, bad("three"), []string{"Warning PolicyRejected p.yaml rejected (its last good version keeps being served): configmap/ns/cm/p.yaml:2: three"}},
		// Deleted while bad: nothing to post on, and forgotten, so that a
		// new ConfigMap of the same name starts afresh.
		{nil, nil, nil},
		{[]*corev1.ConfigMap{cm}, good, nil},
	}
	for i, s := range steps {
		pe.report(s.cms, s.status)
		var got []string
		for len(rec.Events) > 0 { // FakeRecorder sends synchronously
			got = append(got, <-rec.Events)
		}
		if diff := cmp.Diff(s.want, got); diff != "" {
			t.Errorf("step %d: events (-want +got):\n%s", i, diff)
		}
	}
}
