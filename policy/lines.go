package policy

import (
	"math"
	"reflect"
	"strconv"
	"time"

	"go.yaml.in/yaml/v3"
)

// lineIndex maps the field paths of one YAML document ("routes[1].mirror")
// to the lines they are written on, so that problems found on decoded
// values, which have no positions, can still point into the file.
type lineIndex struct {
	root    int            // line of the document's top-level mapping
	lines   map[string]int // path → line of its key (or list item)
	entries []nodeEntry    // every key and item, in document order

	// keyLines and valueLines index entries by the line of their key and
	// of their value; built on first use by indexLines.
	keyLines, valueLines map[int][]int
}

// nodeEntry is one mapping key or list item of a document.
type nodeEntry struct {
	path    string
	key     string // the mapping key; "" for a list item
	keyLine int
	value   *yaml.Node
}

func indexDocument(root *yaml.Node) *lineIndex {
	ix := &lineIndex{root: root.Line, lines: map[string]int{}}
	ix.walk(root, "")
	return ix
}

func (ix *lineIndex) walk(n *yaml.Node, path string) {
	// Aliases are not followed: their content is indexed where the anchor
	// is, and following them could loop.
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := join(path, k.Value)
			ix.add(nodeEntry{path: p, key: k.Value, keyLine: k.Line, value: v})
			ix.walk(v, p)
		}
	case yaml.SequenceNode:
		for i, v := range n.Content {
			p := index(path, i)
			ix.add(nodeEntry{path: p, keyLine: v.Line, value: v})
			ix.walk(v, p)
		}
	}
}

func (ix *lineIndex) add(e nodeEntry) {
	ix.entries = append(ix.entries, e)
	if _, dup := ix.lines[e.path]; !dup { // a duplicate key is an error elsewhere; keep the first
		ix.lines[e.path] = e.keyLine
	}
}

// line returns the line of path, or of its nearest written ancestor: a
// missing "routes[0].split" is reported on the line of "routes[0]".
func (ix *lineIndex) line(path string) int {
	if ix == nil {
		return 0
	}
	for p := path; p != ""; p = parentPath(p) {
		if l, ok := ix.lines[p]; ok {
			return l
		}
	}
	return ix.root
}

// alias makes path resolve to the line of target when path itself is not
// written, for fields filled in by Defaults ("hosts" comes from "name").
func (ix *lineIndex) alias(path, target string) {
	if _, ok := ix.lines[path]; ok {
		return
	}
	if l, ok := ix.lines[target]; ok {
		ix.lines[path] = l
	}
}

// checkWholeNumbers reports integer fields written as fractions. yaml.v3
// truncates 1.5 into an integer field without complaint, which would turn
// a weight of 0.5 into 0 silently. Out-of-range values are already
// rejected by the decoder.
func checkWholeNumbers(fe *fieldErrors, n *yaml.Node, t reflect.Type, path string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case n.Kind == yaml.MappingNode && t.Kind() == reflect.Struct:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if ft, ok := yamlFieldType(t, k.Value); ok {
				checkWholeNumbers(fe, v, ft, join(path, k.Value))
			}
		}
	case n.Kind == yaml.SequenceNode && t.Kind() == reflect.Slice:
		for i, v := range n.Content {
			checkWholeNumbers(fe, v, t.Elem(), index(path, i))
		}
	case n.Kind == yaml.ScalarNode && isInteger(t) && n.ShortTag() == "!!float":
		f, err := strconv.ParseFloat(n.Value, 64)
		if err == nil && f != math.Trunc(f) {
			fe.add(path, "want a whole number, got %s", n.Value)
		}
	}
}

func isInteger(t reflect.Type) bool {
	if t == reflect.TypeFor[time.Duration]() {
		return false
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return true
	}
	return false
}
