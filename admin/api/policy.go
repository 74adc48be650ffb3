package api

import "time"

// PolicyFile is one policy file and what became of it at the last
// reload: served, rejected with its problems, or rejected while an
// earlier good version is served.
type PolicyFile struct {
	Path string `json:"path"`
	// OK is true when the file's current content is valid and served.
	OK bool `json:"ok"`
	// Stale is true when the current content was rejected and an
	// earlier good version is served instead.
	Stale bool `json:"stale,omitempty"`
	// Restored is true when that earlier version was saved before a
	// restart: the file has not been good since.
	Restored bool `json:"restored,omitempty"`
	// Problems are those of the current content; empty when OK.
	Problems []Problem `json:"problems,omitempty"`
	// Warnings are those of the served version.
	Warnings []Problem `json:"warnings,omitempty"`
	// LoadedAt is when the served version was read; absent if none is.
	LoadedAt time.Time `json:"loadedAt,omitzero"`
	// Apps are the apps served from the file.
	Apps []string `json:"apps"`
	// Experiments are the experiments declared in the file.
	Experiments []string `json:"experiments,omitempty"`
}

// Problem is one thing wrong with a policy file, at a line when known.
type Problem struct {
	File    string `json:"file"`
	Line    int    `json:"line,omitempty"`
	Message string `json:"message"`
}

// ReloadStats count the reloads of the policy directory.
type ReloadStats struct {
	// Reloads counts rebuilds after file content changed, the first
	// load included.
	Reloads uint64 `json:"reloads"`
	// ReloadErrors counts reloads that rejected a changed file, and
	// attempts that could not read the directory.
	ReloadErrors uint64 `json:"reloadErrors"`
	// LastReloadDuration is how long the last reload took
	// (nanoseconds in JSON).
	LastReloadDuration time.Duration `json:"lastReloadDuration"`
	// LastReload is when the last reload started.
	LastReload time.Time `json:"lastReload"`
	// DirError says why the directory could not be read at the last
	// attempt; the last model is served meanwhile.
	DirError string `json:"dirError,omitempty"`
}

// PolicyList is the answer to GET /api/v1/policies: a page of the policy
// files by path, and the reload counters. The fields are in name order,
// as the API wrote them before it had types of its own.
type PolicyList struct {
	Files []PolicyFile `json:"files"`
	// Next, when set, is the ?after= of the next page.
	Next  string      `json:"next,omitempty"`
	Stats ReloadStats `json:"stats"`
	// Total counts every file, on every page.
	Total int `json:"total"`
}
