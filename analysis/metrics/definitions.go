package metrics

import (
	"errors"
	"fmt"
	"sort"
)

// Definitions looks metrics up by name: the built-in ones and the user's.
// It is immutable once built and safe for concurrent use.
type Definitions struct {
	byName map[string]Definition
}

// NewDefinitions returns the built-in definitions plus user ones. Every user
// definition is validated; a name defined twice, or a built-in name, is an
// error, so an objective never silently reads a metric other than the one
// its author wrote. All problems are joined.
func NewDefinitions(user ...Definition) (*Definitions, error) {
	d := &Definitions{byName: map[string]Definition{}}
	var errs []error
	for _, def := range Builtin() {
		d.byName[def.Name] = def
	}
	for _, def := range user {
		if err := def.Validate(); err != nil {
			errs = append(errs, err)
			continue
		}
		if _, dup := d.byName[def.Name]; dup {
			errs = append(errs, fmt.Errorf("metric %q is defined twice (or is a built-in)", def.Name))
			continue
		}
		d.byName[def.Name] = def
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return d, nil
}

// Lookup returns the definition of a metric, a copy the caller may change.
func (d *Definitions) Lookup(name string) (Definition, bool) {
	def, ok := d.byName[name]
	return def.clone(), ok
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
		out = append(out, d.byName[n].clone())
	}
	return out
}

// clone copies d's matcher slices, the only state it shares.
func (d Definition) clone() Definition {
	for _, sel := range []*Selector{&d.Scrape.Histogram, &d.Scrape.Numerator, &d.Scrape.Denominator, &d.Scrape.Counter} {
		sel.Matchers = append([]Matcher(nil), sel.Matchers...)
	}
	d.Bounds = append([]float64(nil), d.Bounds...)
	return d
}
