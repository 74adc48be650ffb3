package policy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"

	"go.yaml.in/yaml/v3"
)

// File is what one policy file declares: its apps, decoded strictly, given
// their defaults and validated. Assemble combines Files into a Model.
type File struct {
	// Path is the file's name as given to ParseFile; problems and each
	// App's Source use it.
	Path        string
	Apps        []App
	Experiments []Experiment
	Metrics     []Metric

	// lines holds, per app, where its fields are written, so that Assemble
	// can point a conflict at the host that causes it. Nil for Files built
	// in code; problems then fall back to App.Source.
	lines    []*lineIndex
	expLines []*lineIndex
}

// ParseFile decodes the policy file at path from data. It reports every
// problem it finds, each at its line; when there is any, the File holds no
// apps and must not be served. An empty file, or one of comments only, is
// valid and declares no apps.
//
// Each YAML document ("---") is one App and must say "kind: App". Unknown
// fields and values of the wrong type are problems, as are the rules of
// (*App).Validate and two apps of the file claiming the same name or host.
func ParseFile(path string, data []byte) (File, []Problem) {
	f := File{Path: path}
	docs, err := ParseDocuments(data)
	if err != nil {
		return f, capProblems(path, []Problem{syntaxProblem(path, data, err)})
	}
	if len(docs) > MaxDocumentsPerFile {
		return f, []Problem{{File: path, Line: docs[MaxDocumentsPerFile].Line, Message: fmt.Sprintf("more than the maximum of %d documents in one file: split it", MaxDocumentsPerFile)}}
	}

	// A second pass decodes into App: yaml.v3 only rejects unknown fields
	// when decoding from a Decoder with KnownFields, never from a Node.
	// Both passes see the same documents in the same order.
	// The second pass skips the documents the first refused only when a
	// later one is decoded: a refused last document, however large, is
	// not parsed twice.
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	decoded := 0 // documents dec has read
	stepTo := func(i int) {
		for ; decoded < i; decoded++ {
			dec.Decode(&yaml.Node{}) // stay in step with docs
		}
		decoded++ // the caller decodes docs[i]
	}
	problems := problemList{file: path}
	apps := 0
	for i, doc := range docs {
		if isEmptyDocument(doc) {
			continue
		}
		root := doc.Content[0]
		kind, p, ok := checkEnvelope(path, root)
		if ok {
			p, ok = checkSizes(path, kind, root)
		}
		if ok && kind == KindApp {
			if apps++; apps > MaxAppsPerFile {
				p, ok = Problem{File: path, Line: root.Line, Message: fmt.Sprintf("more than the maximum of %d apps in one file: split it", MaxAppsPerFile)}, false
			}
		}
		if !ok {
			problems.add(p)
			if apps > MaxAppsPerFile {
				break
			}
			continue
		}
		ix := indexDocument(root)
		stepTo(i)
		switch kind {
		case KindExperiment:
			problems.add(f.decodeExperiment(dec, root, ix)...)
			continue
		case KindMetric:
			problems.add(f.decodeMetric(dec, root, ix)...)
			continue
		}
		var app App
		if derr := dec.Decode(&app); derr != nil {
			problems.add(decodeProblems(path, derr, ix)...)
			continue
		}
		var fe fieldErrors
		checkWholeNumbers(&fe, root, reflect.TypeFor[App](), "")
		if len(fe) == 0 {
			app.Source = Source{File: path, Line: root.Line}
			app.Defaults()
			ix.alias("hosts", "name")
			fe = app.validate()
		}
		for _, e := range fe {
			problems.add(Problem{File: path, Line: ix.line(e.Path), Message: e.Error()})
		}
		f.Apps = append(f.Apps, app)
		f.lines = append(f.lines, ix)
	}
	if problems.len() == 0 {
		problems.add(f.conflicts()...)
	}
	if problems.len() > 0 {
		return File{Path: path}, problems.list()
	}
	return f, nil
}

// ParseDocuments parses every document of data into nodes, or fails on the
// first syntax error. It stops after MaxDocumentsPerFile+1 documents: the
// caller refuses a file with more, and the rest need not be parsed.
func ParseDocuments(data []byte) ([]*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs []*yaml.Node
	for len(docs) <= MaxDocumentsPerFile {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, err
		}
		docs = append(docs, &doc)
	}
	return docs, nil
}

// isEmptyDocument reports a document with nothing but comments, such as
// the one between two "---" lines.
func isEmptyDocument(doc *yaml.Node) bool {
	if len(doc.Content) == 0 {
		return true
	}
	n := doc.Content[0]
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// checkEnvelope checks that a document declares a kind shadowplane knows
// before its fields are decoded as one: the field errors of some other kind
// of document would only hide the real mistake. It returns the kind.
func checkEnvelope(file string, root *yaml.Node) (string, Problem, bool) {
	if root.Kind != yaml.MappingNode {
		return "", Problem{File: file, Line: root.Line, Message: fmt.Sprintf("a policy document must be a mapping with kind: %s or %s, got %s", KindApp, KindExperiment, nodeKind(root))}, false
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		if k, v := root.Content[i], root.Content[i+1]; k.Value == "kind" {
			if v.Kind != yaml.ScalarNode || (v.Value != KindApp && v.Value != KindExperiment && v.Value != KindMetric) {
				return "", Problem{File: file, Line: k.Line, Message: fmt.Sprintf("kind %s is not supported: want %s, %s or %s", nodeKind(v), KindApp, KindExperiment, KindMetric)}, false
			}
			return v.Value, Problem{}, true
		}
	}
	return "", Problem{File: file, Line: root.Line, Message: fmt.Sprintf("kind is required: add \"kind: %s\"", KindApp)}, false
}

// decodeMetric decodes and validates one Metric document. Its problems,
// templates and selectors included, are its file's: the file is rejected
// whole, its last good version served, and other files' metrics are not
// affected.
func (f *File) decodeMetric(dec *yaml.Decoder, root *yaml.Node, ix *lineIndex) []Problem {
	var m Metric
	if derr := dec.Decode(&m); derr != nil {
		return decodeProblems(f.Path, derr, ix)
	}
	m.Source = Source{File: f.Path, Line: root.Line}
	fe := m.validate()
	if slices.Contains(builtinMetrics, m.Name) {
		fe.add("name", "%q is a built-in metric: choose another name", m.Name)
	}
	// A quantile metric that lacks its quantile is missing it on the line
	// that says it is one.
	ix.alias("quantile", "type")
	var problems []Problem
	for _, e := range fe {
		problems = append(problems, Problem{File: f.Path, Line: ix.line(e.Path), Message: e.Error()})
	}
	f.Metrics = append(f.Metrics, m)
	return problems
}

// decodeExperiment decodes, defaults and validates one Experiment document.
func (f *File) decodeExperiment(dec *yaml.Decoder, root *yaml.Node, ix *lineIndex) []Problem {
	var exp Experiment
	if derr := dec.Decode(&exp); derr != nil {
		return decodeProblems(f.Path, derr, ix)
	}
	var fe fieldErrors
	checkWholeNumbers(&fe, root, reflect.TypeFor[Experiment](), "")
	if len(fe) == 0 {
		exp.Source = Source{File: f.Path, Line: root.Line}
		exp.Defaults()
		fe = exp.validate()
	}
	var problems []Problem
	for _, e := range fe {
		problems = append(problems, Problem{File: f.Path, Line: ix.line(e.Path), Message: e.Error()})
	}
	f.Experiments = append(f.Experiments, exp)
	f.expLines = append(f.expLines, ix)
	return problems
}

func nodeKind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("%q", n.Value)
	case yaml.AliasNode:
		return "an alias"
	}
	return "a mapping"
}
