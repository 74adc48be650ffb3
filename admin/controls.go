package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"
	"unicode"

	"github.com/shadowplane/shadowplane/admin/api"
	"github.com/shadowplane/shadowplane/analysis"
)

// Controls steers experiments: *analysis.Runner. Control records the
// action in the experiment's history, with opts.By and opts.Reason, saves
// it, then acts, and returns the new state. Its errors wrap
// analysis.ErrUnknownExperiment, ErrNotApplicable or ErrNotLeader when
// those are the cause. ctx bounds the call; it is the request's.
type Controls interface {
	Control(ctx context.Context, name string, a analysis.Action, opts analysis.ControlOptions) (analysis.State, error)
}

// ControlActions are the actions POST /api/v1/experiments/{name}/{action}
// takes, in the order the web view shows them.
var ControlActions = analysis.Actions

// ActorHeader names who acts, for the history, when several people
// share the token; without it the history says "token".
const ActorHeader = "X-Shadowplane-Actor"

const (
	maxControlBody = 64 << 10
	maxReason      = 1000 // runes
	maxActor       = 64   // runes
)

// handleControl serves POST /api/v1/experiments/{name}/{action}; the
// caller has been authenticated (requireToken).
func handleControl(c Controls) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		name, action := r.PathValue("name"), analysis.Action(r.PathValue("action"))
		if !slices.Contains(ControlActions, action) {
			writeError(w, http.StatusBadRequest, "unknown action "+quoteHost(string(action))+": want one of pause, resume, abort, promote, approve, retry")
			return
		}
		req, code, err := readControlRequest(w, r)
		if err != nil {
			writeError(w, code, err.Error())
			return
		}
		if req.Write && action != analysis.ActionPromote {
			writeError(w, http.StatusBadRequest, `"write" applies to promote only`)
			return
		}
		if c == nil {
			writeError(w, http.StatusServiceUnavailable, "this control plane runs no experiments")
			return
		}
		by := "token"
		if a := cleanText(r.Header.Get(ActorHeader), maxActor); a != "" {
			by = a
		}
		st, err := c.Control(r.Context(), name, action, analysis.ControlOptions{By: by, Reason: req.Reason, Write: req.Write})
		switch {
		case err == nil:
			writeJSON(w, http.StatusOK, redactedExperiment(st))
		case errors.Is(err, analysis.ErrUnknownExperiment):
			writeError(w, http.StatusNotFound, err.Error())
		case errors.Is(err, analysis.ErrNotApplicable):
			writeError(w, http.StatusConflict, err.Error())
		case errors.Is(err, analysis.ErrNotLeader):
			writeError(w, http.StatusServiceUnavailable, err.Error())
		default:
			writeError(w, http.StatusInternalServerError, err.Error())
		}
	}
}

// readControlRequest decodes the body: nothing, or one JSON object of at
// most maxControlBody bytes with known fields only.
func readControlRequest(w http.ResponseWriter, r *http.Request) (api.ControlRequest, int, error) {
	var req api.ControlRequest
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxControlBody))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return req, http.StatusRequestEntityTooLarge, errors.New("request body over 64 KiB")
		}
		return req, http.StatusBadRequest, err
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return req, 0, nil
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		return req, http.StatusUnsupportedMediaType, errors.New(`the body must be JSON, sent as Content-Type: application/json: {"reason": "...", "write": false}`)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return req, http.StatusBadRequest, errors.New(`bad body: ` + err.Error() + `; want {"reason": "...", "write": false}`)
	}
	if dec.More() {
		return req, http.StatusBadRequest, errors.New("bad body: more than one JSON value")
	}
	if len([]rune(req.Reason)) > maxReason {
		return req, http.StatusBadRequest, errors.New("reason over 1000 characters")
	}
	req.Reason = cleanText(req.Reason, maxReason)
	return req, 0, nil
}

// cleanText makes a client's text fit for the history: valid UTF-8,
// control characters as spaces, trimmed, at most max runes.
func cleanText(s string, max int) string {
	s = strings.ToValidUTF8(s, "?")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return ' '
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if r := []rune(s); len(r) > max {
		s = string(r[:max])
	}
	return s
}
