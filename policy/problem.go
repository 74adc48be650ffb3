package policy

import (
	"errors"
	"fmt"
	"strings"
)

// Problem is one thing wrong with a policy file, at the line a user should
// look at. Line is 0 when the problem concerns the whole file (it cannot be
// read, say).
type Problem struct {
	File    string `json:"file"`
	Line    int    `json:"line,omitempty"`
	Message string `json:"message"`
}

func (p Problem) Error() string {
	if p.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", p.File, p.Line, p.Message)
	}
	return p.File + ": " + p.Message
}

// JoinProblems returns the problems as one error (nil for none), one
// problem per line, for callers that only want to print or fail.
func JoinProblems(ps []Problem) error {
	errs := make([]error, len(ps))
	for i, p := range ps {
		errs[i] = p
	}
	return errors.Join(errs...)
}

// FieldError is a validation failure of one field of an App. Path names the
// field the way a user wrote it, e.g. "routes[1].mirror.variant", so the
// decoder can turn it into a line of the file.
type FieldError struct {
	Path    string
	Message string
}

func (e FieldError) Error() string {
	if e.Path == "" {
		return e.Message
	}
	return e.Path + ": " + e.Message
}

// fieldErrors collects every problem of a validation pass, so one run
// reports them all instead of stopping at the first.
type fieldErrors []FieldError

func (fe *fieldErrors) add(path, format string, args ...any) {
	*fe = append(*fe, FieldError{Path: path, Message: fmt.Sprintf(format, args...)})
}

// join builds field paths: join("routes[1]", "mirror") is
// "routes[1].mirror", join("", "name") is "name".
func join(path, field string) string {
	if path == "" {
		return field
	}
	return path + "." + field
}

// index builds a path into a list: index("routes", 1) is "routes[1]".
func index(path string, i int) string { return fmt.Sprintf("%s[%d]", path, i) }

// parentPath drops the last element of a path: "routes[1].mirror" →
// "routes[1]" → "routes" → "".
func parentPath(path string) string {
	if strings.HasSuffix(path, "]") {
		if i := strings.LastIndexByte(path, '['); i >= 0 {
			return path[:i]
		}
	}
	if i := strings.LastIndexByte(path, '.'); i >= 0 {
		return path[:i]
	}
	return ""
}
