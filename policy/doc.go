// Package policy holds shadowplane's routing model: apps, their variants and
// their ordered routes, as written by users in YAML policy files.
//
// The model knows nothing of Envoy or xDS. It is decoded strictly, given its
// defaults in one place (Defaults), and validated in its own step (Validate),
// so that every consumer — the xDS translator, the analysis loop, the CLI —
// sees the same plain, checked values.
//
// The package does no I/O. It works on bytes and values alone: ParseFile
// decodes and validates the bytes of one file, Assemble puts the files
// together into a Model and settles conflicts between them. Where the bytes
// come from, and what is served while a source's content is bad, is the
// business of a source, each in a package of its own beside this one:
// policy/files reads a directory of YAML files (the one source today); a
// Kubernetes source is to come. Sources depend on this package, never the
// other way round.
package policy
