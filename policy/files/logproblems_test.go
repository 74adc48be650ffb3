package files

import (
	"fmt"
	"strings"
	"testing"

	"github.com/shadowplane/shadowplane/policy"
)

// A rejected file's log line quotes a few problems and counts the rest,
// however many the file has.
func TestLogProblemsBounded(t *testing.T) {
	var ps []policy.Problem
	for i := range policy.MaxProblemsPerFile {
		ps = append(ps, policy.Problem{File: "a.yaml", Line: i + 1, Message: strings.Repeat("x", policy.MaxMessageBytes)})
	}
	got := logProblems(ps)
	if lines := strings.Split(got, "\n"); len(lines) != logProblemsShown+1 || !strings.HasPrefix(lines[0], "a.yaml:1: ") {
		t.Errorf("%d lines, want %d, starting at a.yaml:1", len(lines), logProblemsShown+1)
	}
	if want := fmt.Sprintf("a.yaml: %d more in /api/v1/policies", policy.MaxProblemsPerFile-logProblemsShown); !strings.Contains(got, want) {
		t.Errorf("no %q in the log line", want)
	}
	if len(got) > (logProblemsShown+1)*(policy.MaxMessageBytes+64) {
		t.Errorf("log line of %d bytes", len(got))
	}
	if got := logProblems(ps[:2]); strings.Count(got, "\n") != 1 {
		t.Errorf("two problems: %q", got)
	}
	if got := logProblems(nil); got != "" {
		t.Errorf("no problems: %q", got)
	}
}
