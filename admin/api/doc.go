// Package api holds the types of shadowplane's admin HTTP API: what
// /api/v1/experiments, /api/v1/policies, /api/v1/proxies and the
// experiment controls answer and take, as JSON.
//
// They are the API's own, apart from the structs the control plane works
// with (analysis.State, files.FileStatus, server.Proxy): package admin
// converts those into these, so an internal change does not reach the
// web view, `shadowplane status` or an operator's script unless these
// types change too. The package does no I/O and imports only the
// standard library; a client needs nothing else to read the API.
//
// admin/testdata/api holds the JSON of every endpoint for fully
// populated values: the contract these types must keep.
package api
