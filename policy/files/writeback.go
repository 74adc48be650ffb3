package files

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/shadowplane/shadowplane/internal/atomicfile"
	"github.com/shadowplane/shadowplane/policy"
)

// WriteRoute rewrites one route of a policy file: the route named route
// of the App document named app gets split as its split, in that order,
// and loses its mirror when removeMirror is set. It is how a promotion
// sticks: once the policy says what the experiment served, removing the
// experiment moves no traffic.
//
// The app's document is edited through yaml.v3's node API and encoded
// again in its place; the other documents and the "---" lines stay byte
// for byte. In the app's document comments, key order, quoting and flow
// or block style stay; a split item whose variant stays keeps its node
// (and its comments), a weight is changed in place, items are added or
// removed. What yaml.v3 cannot keep is normalised: blank lines are
// dropped, the indentation becomes the document's smallest (block
// sequences are indented under their key), and a comment below a list
// may move out to the left. CRLF line endings are kept when every line
// had them.
//
// Route names are as the policy decodes them: "route-<index>" for a route
// that names none. A split item's weight is written as given; a nil
// weight is left out (allowed only for a split of one backend). An
// experiment that still names a variant dropped from the split makes its
// file invalid (refused here when the experiment is in the same file): to
// keep such an experiment valid until it is removed, pass the variant with
// weight 0 (KeepVariants).
//
// WriteRoute writes atomically (a temporary file renamed over path, with
// path's mode), so a Watcher takes the change as any saved edit, at once.
// It refuses, leaving the file untouched, when: path is a document of
// another source ("configmap/…": edit the ConfigMap), a symbolic link, not
// a regular file, over MaxFileSize or read-only; its content does not
// parse now; the app or route is not in it; or the result would not parse
// back to exactly the requested route with everything else unchanged
// (checked before the file is replaced: a broken file is never written).
// A route that already says so is left alone.
func WriteRoute(path, app, route string, split []policy.Backend, removeMirror bool) error {
	if err := writeRoute(path, app, route, split, removeMirror); err != nil {
		return fmt.Errorf("cannot write route %s/%s to %s: %w", app, route, path, err)
	}
	return nil
}

// KeepVariants returns split with every variant of current (the route's
// split as the policy says it) that split leaves out kept at weight 0: in
// current's order, then split's new variants. A promotion served as
// [v2 100] is written back as [v1 0, v2 100], the same traffic, so that an
// experiment that still names v1 — in this file or another, where
// WriteRoute cannot see it and the watcher would reject the file — stays
// valid until it is removed.
func KeepVariants(current, split []policy.Backend) []policy.Backend {
	out := make([]policy.Backend, 0, len(current)+len(split))
	for _, c := range current {
		b := policy.Backend{Variant: c.Variant, Weight: new(uint32)}
		if i := slices.IndexFunc(split, func(s policy.Backend) bool { return s.Variant == c.Variant }); i >= 0 {
			b = split[i]
		}
		out = append(out, b)
	}
	for _, s := range split {
		if !slices.ContainsFunc(current, func(c policy.Backend) bool { return c.Variant == s.Variant }) {
			out = append(out, s)
		}
	}
	return out
}

func writeRoute(path, app, route string, split []policy.Backend, removeMirror bool) error {
	if strings.HasPrefix(path, "configmap/") {
		return errors.New("it is a ConfigMap's document, not a file: edit the ConfigMap instead")
	}
	if len(split) == 0 {
		return errors.New("the split is empty")
	}
	info, err := writableFile(path)
	if err != nil {
		return err
	}
	data, err := ReadFile(path)
	if err != nil {
		return err
	}
	before, problems := policy.ParseFile(path, data)
	if len(problems) > 0 {
		return fmt.Errorf("its content does not parse now; fix it first:\n%w", policy.JoinProblems(problems))
	}
	want, err := findRoute(&before, app, route)
	if err != nil {
		return err
	}
	if routeSays(want, split, removeMirror) {
		return nil
	}
	out, err := editRoute(data, app, route, split, removeMirror)
	if err != nil {
		return err
	}
	if err := checkRewrite(path, before, out, app, route, split, removeMirror); err != nil {
		return err
	}
	// Refuse to overwrite an edit made since the file was read.
	now, err := ReadFile(path)
	if err != nil {
		return err
	}
	if !bytes.Equal(now, data) {
		return errors.New("the file changed while it was being rewritten: try again")
	}
	return atomicfile.Write(path, out, info.Mode().Perm())
}

// writableFile checks that path is a regular, writable file, not a link.
// A symbolic link is refused: Kubernetes mounts ConfigMap keys as links
// into its ..data directory, which the kubelet replaces on its next sync,
// and renaming over the link would break the mount's updates. The mode is
// checked, not access(2), so that root is refused a read-only file too:
// the rename would otherwise replace it regardless.
func writableFile(path string) (fs.FileInfo, error) {
	info, err := os.Lstat(path)
	if err != nil {
		return nil, err
	}
	if info.Mode()&fs.ModeSymlink != 0 {
		return nil, errors.New("it is a symbolic link (as Kubernetes mounts ConfigMap keys): edit the file it points to, or the ConfigMap")
	}
	if err := checkRegular(info, MaxFileSize, "policy file"); err != nil {
		return nil, err
	}
	if info.Mode().Perm()&0o200 == 0 {
		return nil, fmt.Errorf("it is read-only (mode %#o)", info.Mode().Perm())
	}
	return info, nil
}

// findRoute returns the decoded route, or says what is missing.
func findRoute(f *policy.File, app, route string) (*policy.Route, error) {
	for i := range f.Apps {
		a := &f.Apps[i]
		if a.Name != app {
			continue
		}
		var names []string
		for j := range a.Routes {
			if a.Routes[j].Name == route {
				return &a.Routes[j], nil
			}
			names = append(names, a.Routes[j].Name)
		}
		return nil, fmt.Errorf("app %q has no route %q (its routes: %s)", app, route, strings.Join(names, ", "))
	}
	return nil, fmt.Errorf("the file declares no app %q", app)
}

// routeSays reports whether r already has the split (with its defaults)
// and the mirror wanted.
func routeSays(r *policy.Route, split []policy.Backend, removeMirror bool) bool {
	return reflect.DeepEqual(r.Split, withDefaults(split)) && !(removeMirror && r.Mirror != nil)
}

// withDefaults is split as the policy decodes it: a single backend
// without a weight has weight 100.
func withDefaults(split []policy.Backend) []policy.Backend {
	out := slices.Clone(split)
	if len(out) == 1 && out[0].Weight == nil {
		w := uint32(100)
		out[0].Weight = &w
	}
	return out
}

// checkRewrite verifies the rewritten content: it parses, declares what
// before declared but for the route's split and mirror, and brings no
// new problem among the file's own apps and experiments (an experiment
// naming a variant dropped from the split).
func checkRewrite(path string, before policy.File, out []byte, app, route string, split []policy.Backend, removeMirror bool) error {
	after, problems := policy.ParseFile(path, out)
	if len(problems) > 0 {
		return fmt.Errorf("the rewritten file would not be valid:\n%w", policy.JoinProblems(problems))
	}
	_, oldProblems := policy.Assemble([]policy.File{before})
	_, newProblems := policy.Assemble([]policy.File{after})
	var added []policy.Problem
	for _, p := range newProblems {
		if !slices.ContainsFunc(oldProblems, func(o policy.Problem) bool { return o.Message == p.Message }) {
			added = append(added, p)
		}
	}
	if len(added) > 0 {
		return fmt.Errorf("the rewritten file would not be valid:\n%w", policy.JoinProblems(added))
	}
	r, err := findRoute(&before, app, route)
	if err != nil {
		return err
	}
	r.Split = withDefaults(split)
	if removeMirror {
		r.Mirror = nil
	}
	if !reflect.DeepEqual(declarations(before), declarations(after)) {
		return errors.New("the rewritten file would not declare exactly the requested route and nothing else changed; edit it by hand")
	}
	return nil
}

// declarations is what a File declares, without where.
func declarations(f policy.File) []any {
	apps, exps, metrics := slices.Clone(f.Apps), slices.Clone(f.Experiments), slices.Clone(f.Metrics)
	for i := range apps {
		apps[i].Source = policy.Source{}
	}
	for i := range exps {
		exps[i].Source = policy.Source{}
	}
	for i := range metrics {
		metrics[i].Source = policy.Source{}
	}
	return []any{apps, exps, metrics}
}

// editRoute returns data with the route edited through yaml.v3's nodes.
func editRoute(data []byte, app, route string, split []policy.Backend, removeMirror bool) ([]byte, error) {
	// yaml.v3 keeps a CR in comments and adds lines around them: the
	// nodes are parsed from LF endings, and CRs are put back after.
	n := bytes.Count(data, []byte("\n"))
	crlf := n > 0 && bytes.Count(data, []byte("\r\n")) == n
	if crlf {
		data = bytes.ReplaceAll(data, []byte("\r\n"), []byte("\n"))
	}
	docs, err := policy.ParseDocuments(data)
	if err != nil {
		return nil, err
	}
	var r *yaml.Node
	k := 0
	for ; k < len(docs); k++ {
		if r, err = routeNode(docs[k], app, route); r != nil || err != nil {
			break
		}
	}
	if err != nil {
		return nil, err
	}
	if r == nil {
		return nil, fmt.Errorf("the file declares no app %q with route %q", app, route)
	}
	if err := setSplit(r, split); err != nil {
		return nil, err
	}
	if removeMirror {
		deleteKey(r, "mirror")
	}
	out, err := replaceDocument(data, docs[k])
	if err != nil || !crlf {
		return out, err
	}
	return bytes.ReplaceAll(out, []byte("\n"), []byte("\r\n")), nil
}

// replaceDocument returns data with the text of doc's document replaced
// by doc encoded again: the lines between the "---" (or "...") markers
// around it. The other documents and the markers stay byte for byte. A
// document marker line cannot occur inside a document, so the markers
// bound it exactly; one that starts on its marker line ("--- {…}") is
// refused.
func replaceDocument(data []byte, doc *yaml.Node) ([]byte, error) {
	lines := strings.SplitAfter(string(data), "\n")
	first := doc.Content[0].Line - 1 // index of the root's first line
	if first < 0 || first >= len(lines) || isDocumentMarker(lines[first]) {
		return nil, errors.New("the app's document starts on its \"---\" line: edit it by hand")
	}
	start, end := 0, len(lines)
	for i := first - 1; i >= 0; i-- {
		if isDocumentMarker(lines[i]) {
			start = i + 1
			break
		}
	}
	for i := first + 1; i < len(lines); i++ {
		if isDocumentMarker(lines[i]) {
			end = i
			break
		}
	}
	var buf bytes.Buffer
	buf.WriteString(strings.Join(lines[:start], ""))
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(indentOf([]byte(strings.Join(lines[start:end], ""))))
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	buf.WriteString(strings.Join(lines[end:], ""))
	return buf.Bytes(), nil
}

// isDocumentMarker reports a "---" or "..." line.
func isDocumentMarker(line string) bool {
	for _, m := range []string{"---", "..."} {
		if rest, ok := strings.CutPrefix(line, m); ok && (rest == "" || rest[0] == ' ' || rest[0] == '\t' || rest[0] == '\n' || rest[0] == '\r') {
			return true
		}
	}
	return false
}

// routeNode finds the route's mapping node in one document, if the
// document is the app. Route names default as in policy.App.Defaults.
func routeNode(doc *yaml.Node, app, route string) (*yaml.Node, error) {
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, nil
	}
	root := doc.Content[0]
	if k := value(root, "kind"); k == nil || k.Value != policy.KindApp {
		return nil, nil
	}
	if n := value(root, "name"); n == nil || n.Value != app {
		return nil, nil
	}
	routes := value(root, "routes")
	if routes == nil || routes.Kind != yaml.SequenceNode {
		return nil, nil
	}
	for i, r := range routes.Content {
		name := fmt.Sprintf("route-%d", i)
		if r.Kind != yaml.MappingNode {
			return nil, fmt.Errorf("route %d of app %q is written through an alias: edit it by hand", i, app)
		}
		if n := value(r, "name"); n != nil && n.Value != "" {
			name = n.Value
		}
		if name == route {
			return r, nil
		}
	}
	return nil, nil
}

// setSplit makes the route's split the given backends. An item whose
// variant stays is kept, comments and style included, with its weight
// changed; new items take the style of the existing ones.
func setSplit(r *yaml.Node, split []policy.Backend) error {
	seq := value(r, "split")
	if seq == nil || seq.Kind != yaml.SequenceNode {
		return errors.New("the route's split is not written as a list: edit it by hand")
	}
	var itemStyle yaml.Style
	old := map[string]*yaml.Node{}
	for _, item := range seq.Content {
		if item.Kind != yaml.MappingNode {
			return errors.New("the route's split is written through an alias: edit it by hand")
		}
		itemStyle = item.Style
		if v := value(item, "variant"); v != nil {
			if _, dup := old[v.Value]; !dup {
				old[v.Value] = item
			}
		}
	}
	if seq.Style&yaml.FlowStyle != 0 {
		itemStyle = yaml.FlowStyle
	}
	items := make([]*yaml.Node, 0, len(split))
	for _, b := range split {
		item, ok := old[b.Variant]
		if ok {
			delete(old, b.Variant) // a variant given twice gets a new node; validation refuses it
		} else {
			item = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Style: itemStyle}
			item.Content = []*yaml.Node{scalar("variant", 0, "!!str"), scalar(b.Variant, 0, "!!str")}
		}
		if b.Weight == nil {
			deleteKey(item, "weight")
		} else if w := value(item, "weight"); w != nil {
			w.Kind, w.Tag, w.Value, w.Style = yaml.ScalarNode, "!!int", strconv.FormatUint(uint64(*b.Weight), 10), 0
		} else {
			item.Content = append(item.Content, scalar("weight", 0, "!!str"), scalar(strconv.FormatUint(uint64(*b.Weight), 10), 0, "!!int"))
		}
		items = append(items, item)
	}
	seq.Content = items
	return nil
}

func scalar(v string, style yaml.Style, tag string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: v, Style: style}
}

// value returns the value of key in mapping m, or nil.
func value(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// deleteKey removes key and its value from mapping m.
func deleteKey(m *yaml.Node, key string) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			m.Content = slices.Delete(m.Content, i, i+2)
			return
		}
	}
}

// indentOf is the smallest indentation of data's content lines, 2 when
// nothing is indented.
func indentOf(data []byte) int {
	indent := 0
	for line := range strings.Lines(string(data)) {
		trimmed := strings.TrimLeft(line, " ")
		n := len(line) - len(trimmed)
		if n == 0 || strings.TrimSpace(trimmed) == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		if indent == 0 || n < indent {
			indent = n
		}
	}
	if indent < 2 || indent > 9 {
		return 2
	}
	return indent
}
