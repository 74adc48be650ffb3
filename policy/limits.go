package policy

import (
	"fmt"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// Limits on what one policy file may hold. A file under the directory
// source's size cap can still describe millions of hosts ("[a,a,…]" is two
// bytes a host), and every host costs decoding, validation, a problem, a
// log line and bytes of the policies API. These caps keep the work for one
// file bounded. They are far above any real policy: a real app has a
// handful of hosts, variants and routes, a match a few headers; a real
// file a few documents. Exceeding a cap is one problem, at the line of
// the list, and the document is not checked further.
const (
	// MaxDocumentsPerFile bounds the YAML documents ("---") of a file,
	// apps, experiments and metrics together.
	MaxDocumentsPerFile = 2000
	// MaxAppsPerFile bounds the App documents of a file.
	MaxAppsPerFile = 1000
	// MaxHostsPerApp bounds an app's hosts.
	MaxHostsPerApp = 1000
	// MaxRoutesPerApp bounds an app's routes. Routes are tried in order,
	// so their count is also the cost of every request's match in Envoy.
	MaxRoutesPerApp = 1000
	// MaxVariantsPerApp bounds an app's variants (each is an Envoy
	// cluster).
	MaxVariantsPerApp = 1000
	// MaxHeadersPerMatch bounds the header conditions of one match.
	MaxHeadersPerMatch = 100
	// MaxListItems bounds every other list (endpoints, a split, methods,
	// retry conditions, selectors, objectives…) and the entries of every
	// mapping.
	MaxListItems = 1000
	// MaxNodesPerDocument bounds the values, keys and list items of one
	// document as decoding sees them, aliases expanded. An alias costs a
	// few bytes and can stand for a whole list, itself of aliases: such a
	// "billion laughs" document would multiply the work of a small file,
	// and the caps on lists, which count what is written, do not see it.
	// yaml.v3 refuses only some of these, by a ratio of aliases to values.
	MaxNodesPerDocument = 1_000_000
	// MaxProblemsPerFile bounds the problems reported for one file; the
	// rest are counted in one final "and N more problems".
	MaxProblemsPerFile = 100
	// MaxMessageBytes bounds one problem's message, which quotes what the
	// file says: a 4 MiB host name is one line of the file, but should not
	// be one of the log or of the policies API.
	MaxMessageBytes = 1024
)

// listLimit is the cap of the list or mapping at path in a document of
// kind, and what its items are called.
func listLimit(kind, path string) (int, string) {
	if kind == KindApp {
		switch path {
		case "hosts":
			return MaxHostsPerApp, "hosts"
		case "routes":
			return MaxRoutesPerApp, "routes"
		case "variants":
			return MaxVariantsPerApp, "variants"
		}
		if parentPath(path) != "" && lastField(path) == "headers" && lastField(parentPath(path)) == "match" {
			return MaxHeadersPerMatch, "headers"
		}
	}
	return MaxListItems, "items"
}

// lastField is the last field name of a path: "routes[1].match" → "match".
func lastField(path string) string {
	for i := len(path) - 1; i >= 0; i-- {
		if path[i] == '.' {
			return path[i+1:]
		}
	}
	return path
}

// checkSizes reports the first list or mapping of a document that holds
// more than its cap allows, before the document is decoded: one problem,
// not one per item, and no work on the items.
func checkSizes(file, kind string, root *yaml.Node) (Problem, bool) {
	var bad *Problem
	var walk func(n *yaml.Node, path string, line int)
	walk = func(n *yaml.Node, path string, line int) {
		if bad != nil {
			return
		}
		// Aliases are not followed, as in indexDocument.
		switch n.Kind {
		case yaml.MappingNode:
			if entries := len(n.Content) / 2; entries > MaxListItems {
				bad = &Problem{File: file, Line: line, Message: in(fmt.Sprintf("%d entries, more than the maximum of %d", entries, MaxListItems), path)}
				return
			}
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				walk(v, join(path, k.Value), k.Line)
			}
		case yaml.SequenceNode:
			if max, what := listLimit(kind, path); len(n.Content) > max {
				msg := fmt.Sprintf("%d %s, more than the maximum of %d", len(n.Content), what, max)
				if path != "" {
					msg = path + ": " + msg
				}
				bad = &Problem{File: file, Line: line, Message: msg}
				return
			}
			for i, v := range n.Content {
				walk(v, index(path, i), v.Line)
			}
		}
	}
	walk(root, "", root.Line)
	if bad != nil {
		return *bad, false
	}
	if n := expandedSize(root, map[*yaml.Node]int{}); n > MaxNodesPerDocument {
		return Problem{File: file, Line: root.Line, Message: fmt.Sprintf("the document expands to more than %d values once its aliases (*name) are expanded: write the values out, or use fewer aliases", MaxNodesPerDocument)}, false
	}
	return Problem{}, true
}

// expandedSize counts the nodes of n with its aliases expanded, up to a
// little over MaxNodesPerDocument. Anchored nodes are counted once and
// remembered in sizes, so the count costs one visit per node written.
func expandedSize(n *yaml.Node, sizes map[*yaml.Node]int) int {
	if n.Kind == yaml.AliasNode {
		if n.Alias == nil {
			return 1
		}
		n = n.Alias
	}
	if s, ok := sizes[n]; ok {
		return s
	}
	if n.Anchor != "" {
		sizes[n] = 1 // while counting: an anchor inside itself counts once
	}
	size := 1
	for _, c := range n.Content {
		if size += expandedSize(c, sizes); size > MaxNodesPerDocument {
			break
		}
	}
	if n.Anchor != "" {
		sizes[n] = size
	}
	return size
}

// problemList collects the problems of one file up to MaxProblemsPerFile
// and counts the rest, so a pathological file yields a bounded list.
type problemList struct {
	file  string
	items []Problem
	more  int
}

func (pl *problemList) add(ps ...Problem) {
	for _, p := range ps {
		if len(pl.items) < MaxProblemsPerFile {
			p.Message = shorten(p.Message)
			pl.items = append(pl.items, p)
		} else {
			pl.more++
		}
	}
}

func (pl *problemList) len() int { return len(pl.items) + pl.more }

// list returns the problems kept, then "file: and N more problems" for
// those counted only.
func (pl *problemList) list() []Problem {
	if pl.more == 0 {
		return pl.items
	}
	return append(pl.items, Problem{File: pl.file, Message: fmt.Sprintf("and %d more problems", pl.more)})
}

// capProblems bounds problems found for one file.
func capProblems(file string, ps []Problem) []Problem {
	pl := problemList{file: file}
	pl.add(ps...)
	return pl.list()
}

// shorten cuts a message longer than MaxMessageBytes, at a character.
func shorten(msg string) string {
	if len(msg) <= MaxMessageBytes {
		return msg
	}
	cut := MaxMessageBytes
	for cut > 0 && !utf8.RuneStart(msg[cut]) {
		cut--
	}
	return fmt.Sprintf("%s… (%d bytes more)", msg[:cut], len(msg)-cut)
}
