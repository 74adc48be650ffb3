package metrics

import (
	"fmt"
	"math"
)

// Roles of the series a ScrapeSpec reads. Keyed by role, not name: a ratio
// may divide two selections of one family.
const (
	roleBucket  = "bucket"
	roleSum     = "sum"
	roleCount   = "count"
	roleNum     = "numerator"
	roleDen     = "denominator"
	roleCounter = "counter"
)

// roleSelector is one series selection of a ScrapeSpec, rendered for a
// query.
type roleSelector struct {
	role, name string
	sel        compiledSelector
	by         string // label to group increases by ("le" for buckets)
	family     string // for messages
}

// compileScrape renders the spec's matchers for one query.
func compileScrape(s ScrapeSpec, vars Vars) ([]roleSelector, error) {
	var out []roleSelector
	add := func(role, path string, sel Selector, name, by string) error {
		cs, err := compileSelector(path, sel, vars)
		if err != nil {
			return err
		}
		out = append(out, roleSelector{role: role, name: name, sel: cs, by: by, family: sel.Family})
		return nil
	}
	var err error
	if h := s.Histogram; h.Family != "" {
		for _, r := range []struct{ role, suffix, by string }{{roleBucket, "_bucket", "le"}, {roleSum, "_sum", ""}, {roleCount, "_count", ""}} {
			if err = add(r.role, "scrape.histogram", h, h.Family+r.suffix, r.by); err != nil {
				return nil, err
			}
		}
	}
	for _, r := range []struct {
		role, path string
		sel        Selector
	}{{roleNum, "scrape.numerator", s.Numerator}, {roleDen, "scrape.denominator", s.Denominator}, {roleCounter, "scrape.counter", s.Counter}} {
		if r.sel.Family == "" {
			continue
		}
		if err = add(r.role, r.path, r.sel, r.sel.Family, ""); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// increases are a window's summed counter increases, by role and group.
type increases struct {
	byRole  map[string]map[string]float64
	matched map[string]int
	names   map[string]string // role → series name, for messages
}

func newIncreases() increases {
	return increases{byRole: map[string]map[string]float64{}, matched: map[string]int{}, names: map[string]string{}}
}

func (in increases) add(rs roleSelector, sums map[string]float64, matched int) {
	m := in.byRole[rs.role]
	if m == nil {
		m = map[string]float64{}
		in.byRole[rs.role] = m
	}
	for k, v := range sums {
		m[k] += v
	}
	in.matched[rs.role] += matched
	in.names[rs.role] = rs.name
}

// total is a role's increase over all groups.
func (in increases) total(role string) float64 {
	t := 0.0
	for _, v := range in.byRole[role] {
		t += v
	}
	return t
}

// samples returns the increase of the role that counts requests, or
// ErrNoData when no series matched or none increased.
func (in increases) samples(role string) (float64, error) {
	if in.matched[role] == 0 {
		return 0, fmt.Errorf("no series %s matched: %w", in.names[role], ErrNoData)
	}
	n := in.total(role)
	if n == 0 {
		return 0, fmt.Errorf("%s did not increase in the window (no requests): %w", in.names[role], ErrNoData)
	}
	return n, nil
}

// value computes d from the increases, with the counts behind it.
func (in increases) value(d Definition) (Value, error) {
	var out Value
	var err error
	switch d.Type {
	case Mean, Quantile:
		if out.Samples, err = in.samples(roleCount); err != nil {
			return Value{}, err
		}
		var bs []bucket
		for le, c := range in.byRole[roleBucket] {
			ub, err := parseBound(le)
			if err != nil {
				return Value{}, fmt.Errorf("%s: %w", in.names[roleBucket], err)
			}
			bs = append(bs, bucket{upper: ub, count: c})
		}
		if out.Buckets, err = normalBuckets(bs, d.Scale); err != nil {
			return Value{}, fmt.Errorf("%s: %w", in.names[roleBucket], err)
		}
		out.Sum = scaled(d, in.total(roleSum))
		if d.Type == Mean {
			out.Value = out.Sum / out.Samples
		} else if out.Value = scaled(d, bucketQuantile(d.Quantile, bs)); math.IsNaN(out.Value) {
			return Value{}, fmt.Errorf("%s: %d requests but no usable buckets (a +Inf bucket and another are needed)", in.names[roleBucket], int64(out.Samples))
		}
	case Ratio:
		if out.Samples, err = in.samples(roleDen); err != nil {
			return Value{}, err
		}
		// A numerator with no series yet is 0: Envoy creates its 5xx
		// counter at the first 5xx.
		out.Events = in.total(roleNum)
		out.Value = scaled(d, out.Events/out.Samples)
	case Count:
		if out.Samples, err = in.samples(roleCounter); err != nil {
			return Value{}, err
		}
		out.Value = scaled(d, out.Samples)
	default:
		return Value{}, fmt.Errorf("unknown metric type %q", d.Type)
	}
	if math.IsNaN(out.Value) || math.IsInf(out.Value, 0) {
		return Value{}, fmt.Errorf("value %v from %v samples", out.Value, out.Samples)
	}
	return out, nil
}
