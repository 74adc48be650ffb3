package policy

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// yaml.v3 reports problems as strings only. These patterns recognise the
// ones a policy author meets, so they can be reworded with the field path
// and what the field wants; anything else is passed on as yaml said it.
var (
	reSyntax       = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)
	reLine         = regexp.MustCompile(`^line (\d+): (.*)$`)
	reUnknownField = regexp.MustCompile(`^field (.+) not found in type (\S+)$`)
	reCannot       = regexp.MustCompile("^cannot unmarshal (!!\\w+)(?: `(.*)`)? into (.+)$")
	reDuplicateKey = regexp.MustCompile(`^mapping key (".*") already defined at line (\d+)$`)
)

// syntaxProblem turns a YAML syntax error into a problem at its line.
func syntaxProblem(file string, data []byte, err error) Problem {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if m := reSyntax.FindStringSubmatch(err.Error()); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	}
	if l := syntaxErrorLine(data); l > 0 {
		line = l
	}
	return Problem{File: file, Line: line, Message: "invalid YAML: " + msg}
}

// syntaxErrorLine finds the line of a syntax error: the first line that
// a prefix of the file, in whole lines, cannot be extended by. yaml.v3
// reports where the enclosing structure starts instead, often many lines
// before the mistake (a mis-indented key in a long list is reported at the
// list's first item), and sometimes one line off.
//
// Whether a prefix parses is found by binary search. A prefix that cuts a
// multi-line flow list or quoted string short fails to parse although the
// file is fine there, so when a later prefix (within lookahead lines)
// parses again, the search goes on after it. Very long files keep yaml's
// line (0 here): each probe parses the prefix anew.
func syntaxErrorLine(data []byte) int {
	const maxLines, lookahead = 5000, 20
	var ends []int // ends[k-1] is the offset just past line k
	for off := 0; off < len(data); {
		i := bytes.IndexByte(data[off:], '\n')
		if i < 0 {
			off = len(data)
		} else {
			off += i + 1
		}
		ends = append(ends, off)
	}
	n := len(ends)
	if n > maxLines {
		return 0
	}
	parses := func(k int) bool {
		if k == 0 {
			return true
		}
		_, err := ParseDocuments(data[:ends[k-1]])
		return err == nil
	}
	lo, hi := 0, n // the first lo lines parse; the first hi lines (the file) do not
	for {
		for hi-lo > 1 {
			if mid := (lo + hi) / 2; parses(mid) {
				lo = mid
			} else {
				hi = mid
			}
		}
		next := 0
		for k := hi + 1; k < n && k <= hi+lookahead && next == 0; k++ {
			if parses(k) {
				next = k
			}
		}
		if next == 0 {
			return hi
		}
		lo, hi = next, n
	}
}

// decodeProblems rewrites the errors of a strict decode of one document.
func decodeProblems(file string, err error, ix *lineIndex) []Problem {
	var te *yaml.TypeError
	if !errors.As(err, &te) { // not expected: the document parsed before
		return []Problem{{File: file, Line: ix.root, Message: err.Error()}}
	}
	problems := make([]Problem, 0, len(te.Errors))
	for _, e := range te.Errors {
		problems = append(problems, typeProblem(file, e, ix))
	}
	return problems
}

func typeProblem(file, e string, ix *lineIndex) Problem {
	m := reLine.FindStringSubmatch(e)
	if m == nil {
		return Problem{File: file, Line: ix.root, Message: e}
	}
	line, _ := strconv.Atoi(m[1])
	p := Problem{File: file, Line: line, Message: m[2]}
	if m := reUnknownField.FindStringSubmatch(p.Message); m != nil {
		p.Message = unknownField(m[1], m[2], ix.keyAt(line, m[1]))
	} else if m := reCannot.FindStringSubmatch(p.Message); m != nil {
		p.Message = wrongType(m[1], m[2], m[3], ix.valueAt(line, m[1], m[2]))
	} else if m := reDuplicateKey.FindStringSubmatch(p.Message); m != nil {
		key, _ := strconv.Unquote(m[1])
		p.Message = in(fmt.Sprintf("duplicate key %q (first at line %s)", key, m[2]), parentPath(ix.keyAt(line, key).path))
	}
	return p
}

// unknownField words an unknown key, suggesting the field that was
// probably meant.
func unknownField(name, goType string, at nodeEntry) string {
	msg := in(fmt.Sprintf("unknown field %q", name), parentPath(at.path))
	t, ok := modelStructs()[strings.TrimPrefix(goType, "*")]
	if !ok {
		return msg
	}
	var known []string
	for _, f := range yamlFields(t) {
		known = append(known, f.name)
	}
	if s := suggest(name, known); s != "" {
		return msg + fmt.Sprintf("; did you mean %q?", s)
	}
	return msg + "; known fields: " + strings.Join(known, ", ")
}

// wrongType words a value of the wrong type: "routes[0].split[1].weight:
// want a whole number from 0 to 4294967295, got -1".
func wrongType(tag, short, goType string, at nodeEntry) string {
	value := short
	if at.value != nil {
		value = at.value.Value // yaml.v3 cuts long values short
	}
	var got string
	switch tag {
	case "!!str":
		got = strconv.Quote(value)
	case "!!seq":
		got = "a list"
	case "!!map":
		got = "a mapping"
	case "!!null":
		got = "nothing"
	default:
		got = value
	}
	msg := fmt.Sprintf("want %s, got %s", describeType(goType), got)
	if at.path != "" {
		return at.path + ": " + msg
	}
	return msg
}

func describeType(goType string) string {
	goType = strings.TrimPrefix(goType, "*")
	switch goType {
	case "uint32":
		return "a whole number from 0 to 4294967295"
	case "int":
		return "a whole number"
	case "time.Duration":
		return `a duration such as "250ms", "1.5s" or "2m"`
	case "float64":
		return "a number"
	case "bool":
		return "true or false"
	case "string", "policy.MetricType", "policy.MetricOp": // strings, by enum
		return "a string"
	case "[]string":
		return "a list of strings"
	}
	if strings.HasPrefix(goType, "[]") {
		return "a list"
	}
	return "a mapping"
}

// in appends the place of a problem unless it is the document itself.
func in(msg, path string) string {
	if path == "" {
		return msg
	}
	return msg + " in " + path
}

// keyAt finds the mapping key written on line.
func (ix *lineIndex) keyAt(line int, key string) nodeEntry {
	ix.indexLines()
	for _, i := range ix.keyLines[line] {
		if e := ix.entries[i]; e.key == key {
			return e
		}
	}
	return nodeEntry{}
}

// valueAt finds the value yaml.v3 complained about: on line, with the tag
// it reported and a text that starts like the (possibly shortened) text it
// quoted.
func (ix *lineIndex) valueAt(line int, tag, short string) nodeEntry {
	ix.indexLines()
	prefix := strings.TrimSuffix(short, "...")
	for _, i := range ix.valueLines[line] {
		e := ix.entries[i]
		v := e.value
		switch {
		case tag == "!!seq" && v.Kind == yaml.SequenceNode,
			tag == "!!map" && v.Kind == yaml.MappingNode,
			v.Kind == yaml.ScalarNode && (v.Value == short || strings.HasPrefix(v.Value, prefix) && prefix != short):
			return e
		}
	}
	return nodeEntry{}
}

// indexLines groups the entries by the line of their key and of their
// value, in document order, once: a document can have as many type errors
// as entries, and looking each up by a scan of all entries would be
// quadratic.
func (ix *lineIndex) indexLines() {
	if ix.keyLines != nil {
		return
	}
	ix.keyLines = map[int][]int{}
	ix.valueLines = map[int][]int{}
	for i, e := range ix.entries {
		ix.keyLines[e.keyLine] = append(ix.keyLines[e.keyLine], i)
		ix.valueLines[e.value.Line] = append(ix.valueLines[e.value.Line], i)
	}
}

// suggest returns the known name closest to name when it is close enough
// to be a typo or a different spelling (case, '_' or '-' for camelCase).
func suggest(name string, known []string) string {
	fold := func(s string) string {
		return strings.NewReplacer("_", "", "-", "").Replace(strings.ToLower(s))
	}
	best, bestDist := "", 3
	for _, k := range known {
		if fold(k) == fold(name) {
			return k
		}
		if d := editDistance(name, k); d < bestDist {
			best, bestDist = k, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = slices.Min([]int{prev[j] + 1, cur[j-1] + 1, prev[j-1] + cost})
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
