package metrics

import (
	"fmt"
	"regexp"
)

// labelMatcher is a Matcher with its value rendered for one query.
type labelMatcher struct {
	label string
	op    Op
	value string
	re    *regexp.Regexp
}

// compile renders m's value with vars and compiles its regexp.
func (m Matcher) compile(path string, vars Vars) (labelMatcher, error) {
	v, err := render(path+".value", m.Value, vars)
	if err != nil {
		return labelMatcher{}, err
	}
	lm := labelMatcher{label: m.Label, op: m.Op, value: v}
	switch m.Op {
	case Equal, NotEqual:
	case RegexpOp, NotRegexp:
		// Anchored like PromQL: "5.." matches "500", never "1500".
		if lm.re, err = regexp.Compile("^(?:" + v + ")$"); err != nil {
			return labelMatcher{}, fmt.Errorf("%s.value: %w", path, err)
		}
	default:
		return labelMatcher{}, fmt.Errorf("%s.op %q: use =, !=, =~ or !~", path, m.Op)
	}
	return lm, nil
}

// matches reports whether labels satisfy m. A missing label is the empty
// string, as in PromQL.
func (m labelMatcher) matches(labels map[string]string) bool {
	v := labels[m.label]
	switch m.op {
	case Equal:
		return v == m.value
	case NotEqual:
		return v != m.value
	case RegexpOp:
		return m.re.MatchString(v)
	default:
		return !m.re.MatchString(v)
	}
}

// compiledSelector is a Selector ready to match scraped series.
type compiledSelector struct {
	family   string
	matchers []labelMatcher
}

func (s Selector) compile(path string, vars Vars) (compiledSelector, error) {
	cs := compiledSelector{family: s.Family}
	for i, m := range s.Matchers {
		lm, err := m.compile(fmt.Sprintf("%s.matchers[%d]", path, i), vars)
		if err != nil {
			return compiledSelector{}, err
		}
		cs.matchers = append(cs.matchers, lm)
	}
	return cs, nil
}

// matches reports whether a series' labels satisfy every matcher; the
// caller has already picked series by name.
func (s compiledSelector) matches(labels map[string]string) bool {
	for _, m := range s.matchers {
		if !m.matches(labels) {
			return false
		}
	}
	return true
}
