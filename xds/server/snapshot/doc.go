// Package snapshot holds what the ADS server serves: a group's resources
// marshalled once, versioned by their bytes and shared by every stream of
// the group (Snapshot); one model as served, its groups' snapshots built
// on first use (Generation); the stages of a make-before-break move from
// one generation to the next (Staged); and generations that rebuild only
// endpoints (WithEndpoints). Translation itself — policy model to
// resources — is package xds, pure; this package adds the serving side's
// costs and sharing, and does no I/O either.
package snapshot
