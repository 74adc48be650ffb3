package files

import (
	"fmt"

	"github.com/shadowplane/shadowplane/policy"
)

// logProblemsShown is how many of a rejected file's problems its log line
// quotes. A file has up to policy.MaxProblemsPerFile of up to
// policy.MaxMessageBytes each: some 100 KB in one line if all were
// quoted, on every rejection. The rest are in /api/v1/policies and
// validate's output.
const logProblemsShown = 5

// logProblems is the first problems of a file, one a line, for its log
// line; "and N more" says what was left out.
func logProblems(ps []policy.Problem) string {
	if len(ps) == 0 {
		return ""
	}
	if len(ps) <= logProblemsShown {
		return policy.JoinProblems(ps).Error()
	}
	more := policy.Problem{File: ps[0].File, Message: fmt.Sprintf("%d more in /api/v1/policies and shadowplane validate", len(ps)-logProblemsShown)}
	return policy.JoinProblems(append(ps[:logProblemsShown:logProblemsShown], more)).Error()
}
