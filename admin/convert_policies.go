package admin

import (
	"slices"

	"github.com/shadowplane/shadowplane/admin/api"
	"github.com/shadowplane/shadowplane/policy"
	"github.com/shadowplane/shadowplane/policy/files"
)

// policyFileOf is f as /api/v1/policies shows it.
func policyFileOf(f files.FileStatus) api.PolicyFile {
	return api.PolicyFile{
		Path:        f.Path,
		OK:          f.OK,
		Stale:       f.Stale,
		Restored:    f.Restored,
		Problems:    convertAll(f.Problems, problemOf),
		Warnings:    convertAll(f.Warnings, problemOf),
		LoadedAt:    f.LoadedAt,
		Apps:        slices.Clone(f.Apps),
		Experiments: slices.Clone(f.Experiments),
	}
}

func problemOf(p policy.Problem) api.Problem {
	return api.Problem{File: p.File, Line: p.Line, Message: p.Message}
}

func reloadStatsOf(s files.WatcherStats) api.ReloadStats {
	return api.ReloadStats{Reloads: s.Reloads, ReloadErrors: s.ReloadErrors, LastReloadDuration: s.LastReloadDuration,
		LastReload: s.LastReload, DirError: s.DirError}
}
