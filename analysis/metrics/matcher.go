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

// compileMatcher renders m's value with vars and compiles its regexp, the
// way validation did with sample variables.
func compileMatcher(path string, m Matcher, vars Vars) (labelMatcher, error) {
	v, re, err := m.Render(path+".value", vars)
	if err != nil {
		return labelMatcher{}, fmt.Errorf("%s.%w", path, err)
	}
	return labelMatcher{label: m.Label, op: m.Op, value: v, re: re}, nil
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

func compileSelector(path string, s Selector, vars Vars) (compiledSelector, error) {
	cs := compiledSelector{family: s.Family}
	for i, m := range s.Matchers {
		lm, err := compileMatcher(fmt.Sprintf("%s.matchers[%d]", path, i), m, vars)
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
