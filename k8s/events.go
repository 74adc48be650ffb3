package k8s

import (
	"slices"
	"strings"
	"unicode/utf8"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/events"

	"github.com/shadowplane/shadowplane/policy/files"
)

// Events about policy ConfigMaps, as `kubectl events` and `kubectl
// describe configmap` show them.
const (
	// EventController is the reporting controller of the Events.
	EventController = "shadowplane"
	// ReasonRejected is a Warning: a document of the ConfigMap was
	// rejected; the note gives each problem as PATH:LINE: message.
	ReasonRejected = "PolicyRejected"
	// ReasonAccepted is Normal: a ConfigMap that was rejected is good
	// again.
	ReasonAccepted = "PolicyAccepted"

	eventAction = "LoadPolicy"
	// maxNote is the API server's limit on an Event's note, in bytes.
	maxNote = 1024
)

// eventScheme names the kind of the objects Events are about: cached
// objects carry no TypeMeta.
var eventScheme = scheme.Scheme

// problemEvents posts an Event on a ConfigMap when its problems change:
// not on every sync, so that resyncs and changes to other ConfigMaps do
// not repeat it. The recorder sends asynchronously and aggregates repeats.
type problemEvents struct {
	rec events.EventRecorder
	// posted is the note of the last PolicyRejected Event of each
	// rejected ConfigMap, by "namespace/name".
	posted map[string]string
}

func newProblemEvents(rec events.EventRecorder) *problemEvents {
	return &problemEvents{rec: rec, posted: map[string]string{}}
}

// report posts what changed since the last report, given every selected
// ConfigMap and the status of their documents.
func (e *problemEvents) report(cms []*corev1.ConfigMap, status []files.FileStatus) {
	notes := rejectionNotes(status)
	present := map[string]bool{}
	for _, cm := range cms {
		k := cm.Namespace + "/" + cm.Name
		present[k] = true
		note, bad := notes[k]
		prev, wasBad := e.posted[k]
		switch {
		case bad && note != prev:
			e.rec.Eventf(cm, nil, corev1.EventTypeWarning, ReasonRejected, eventAction, "%s", note)
			e.posted[k] = note
		case !bad && wasBad:
			e.rec.Eventf(cm, nil, corev1.EventTypeNormal, ReasonAccepted, eventAction, "%s", "every policy document is valid and served")
			delete(e.posted, k)
		}
	}
	for k := range e.posted {
		if !present[k] {
			delete(e.posted, k) // deleted or unlabelled: nothing to post on
		}
	}
}

// rejectionNotes is, for each ConfigMap ("namespace/name") with a rejected
// document, the note of its PolicyRejected Event: per document, whether
// its last good version keeps being served, then its problems, at most
// maxNote bytes in all.
func rejectionNotes(status []files.FileStatus) map[string]string {
	lines := map[string][]string{}
	for _, fs := range status {
		if len(fs.Problems) == 0 {
			continue
		}
		ns, name, key, ok := splitDocumentPath(fs.Path)
		if !ok {
			continue
		}
		served := "not served"
		if fs.Stale {
			served = "its last good version keeps being served"
		}
		problems := make([]string, len(fs.Problems))
		for i, p := range fs.Problems {
			problems[i] = p.Error()
		}
		k := ns + "/" + name
		lines[k] = append(lines[k], key+" rejected ("+served+"): "+strings.Join(problems, "; "))
	}
	notes := make(map[string]string, len(lines))
	for k, ls := range lines {
		slices.Sort(ls)
		notes[k] = truncate(strings.Join(ls, "\n"), maxNote)
	}
	return notes
}

// splitDocumentPath is the inverse of documentPath.
func splitDocumentPath(path string) (namespace, name, key string, ok bool) {
	rest, ok := strings.CutPrefix(path, ConfigMapSource+"/")
	if !ok {
		return "", "", "", false
	}
	parts := strings.Split(rest, "/")
	if len(parts) != 3 {
		return "", "", "", false
	}
	return parts[0], parts[1], parts[2], true
}

// truncate cuts s to at most n bytes, on a character boundary, marking
// the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const mark = "…"
	cut := n - len(mark)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + mark
}
