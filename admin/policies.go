package admin

import (
	"net/http"

	"github.com/shadowplane/shadowplane/admin/api"
	"github.com/shadowplane/shadowplane/policy"
	"github.com/shadowplane/shadowplane/policy/files"
)

// Pages of /api/v1/policies. A file's problems are capped (policy:
// MaxProblemsPerFile messages of MaxMessageBytes) but a directory of
// 10,000 rejected files is still some 1 GB of them, and the web view
// polls every 1.5 s: a page holds at most limit files and, past its
// first file, about MaxPoliciesPageBytes of paths, problems and names.
const (
	DefaultPoliciesPage  = 100
	MaxPoliciesPage      = 1000
	MaxPoliciesPageBytes = 1 << 20
	// MaxReadyzFiles bounds the rejected files /readyz names; the rest
	// are counted, and listed by /api/v1/policies. A probe reads it often.
	MaxReadyzFiles = 20
)

// handlePolicies answers GET /api/v1/policies[?limit=N&after=PATH]: a
// page of the policy files with their problems, by path, the number of
// files, "next" when there are more, and the reload counters. It reads
// what the last reload published, so a reload in progress does not
// hold it (files.Watcher.Status).
func handlePolicies(p Policies) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q, err := parsePage(r, DefaultPoliciesPage, MaxPoliciesPage)
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		all := p.Status()
		statuses, next := policiesPage(all, q)
		body := api.PolicyList{Files: make([]api.PolicyFile, len(statuses)), Stats: reloadStatsOf(p.Stats()), Total: len(all), Next: next}
		for i, f := range statuses {
			body.Files[i] = policyFileOf(f)
		}
		writeJSON(w, http.StatusOK, body)
	}
}

// policiesPage is page, cut short once the files it holds pass
// MaxPoliciesPageBytes; it always holds one file, if any is left.
func policiesPage(all []files.FileStatus, q pageQuery) ([]files.FileStatus, string) {
	statuses, next := page(all, func(f files.FileStatus) string { return f.Path }, q)
	size := 0
	for i, f := range statuses {
		size += statusBytes(f)
		if size > MaxPoliciesPageBytes && i > 0 {
			return statuses[:i], statuses[i-1].Path
		}
	}
	return statuses, next
}

// statusBytes is about what a file's status takes in JSON: its
// strings, each with the path of its problems.
func statusBytes(f files.FileStatus) int {
	n := 2 * len(f.Path)
	for _, ps := range [][]policy.Problem{f.Problems, f.Warnings} {
		for _, p := range ps {
			n += len(p.File) + len(p.Message) + 32
		}
	}
	for _, names := range [][]string{f.Apps, f.Experiments} {
		for _, s := range names {
			n += len(s) + 4
		}
	}
	return n
}
