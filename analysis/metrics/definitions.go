package metrics

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/shadowplane/shadowplane/policy"
)

// Definitions looks metrics up by name: the built-in ones and the user's.
// It is immutable once built and safe for concurrent use.
type Definitions struct {
	byName map[string]Definition
}

// NewDefinitions returns the built-in definitions plus every user one
// that validates and takes a name not taken before it. The Definitions are
// never nil: a bad definition leaves out itself alone, never the others.
// The error says what was left out, one policy.Problem a line, at each
// definition's source. A name is never defined twice, so an objective
// never silently reads a metric other than the one its author wrote.
//
// Metrics from an assembled policy.Model give no error: ParseFile and
// Assemble have refused their files already. The checks here guard
// definitions built in code.
func NewDefinitions(user ...Definition) (*Definitions, error) {
	d := &Definitions{byName: map[string]Definition{}}
	for _, def := range Builtin() {
		d.byName[def.Name] = def
	}
	var problems []policy.Problem
	for _, def := range user {
		err := def.Validate()
		if _, dup := d.byName[def.Name]; err == nil && dup {
			err = fmt.Errorf("%q is defined twice (or is a built-in)", def.Name)
		}
		if err != nil {
			// One problem, one line: the problems are printed a line each.
			problems = append(problems, policy.Problem{File: def.Source.File, Line: def.Source.Line,
				Message: fmt.Sprintf("metric %q is not defined: %s", def.Name, strings.ReplaceAll(err.Error(), "\n", "; "))})
			continue
		}
		d.byName[def.Name] = def
	}
	return d, policy.JoinProblems(problems)
}

// Lookup returns the definition of a metric, a copy the caller may change.
func (d *Definitions) Lookup(name string) (Definition, bool) {
	def, ok := d.byName[name]
	return clone(def), ok
}

// Names returns every metric name, sorted.
func (d *Definitions) Names() []string {
	names := make([]string, 0, len(d.byName))
	for n := range d.byName {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// All returns every definition, sorted by name.
func (d *Definitions) All() []Definition {
	out := make([]Definition, 0, len(d.byName))
	for _, n := range d.Names() {
		out = append(out, clone(d.byName[n]))
	}
	return out
}

// clone copies d's slices, the only state it shares.
func clone(d Definition) Definition {
	for _, sel := range []*Selector{&d.Scrape.Histogram, &d.Scrape.Numerator, &d.Scrape.Denominator, &d.Scrape.Counter} {
		sel.Matchers = slices.Clone(sel.Matchers)
	}
	d.Bounds = slices.Clone(d.Bounds)
	return d
}
