package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/shadowplane/shadowplane/admin/api"
)

// FetchExperiments reads the experiments of the control plane whose admin
// API is at base (e.g. http://127.0.0.1:19000), for clients such as
// `shadowplane status` and the demo, following the pages to the end.
func FetchExperiments(ctx context.Context, c *http.Client, base string) ([]api.Experiment, error) {
	var all []api.Experiment
	after := ""
	for {
		u := base + "/api/v1/experiments?limit=" + strconv.Itoa(MaxExperimentsPage)
		if after != "" {
			u += "&after=" + url.QueryEscape(after)
		}
		var body api.ExperimentList
		if err := getJSON(ctx, c, u, &body); err != nil {
			return nil, err
		}
		all = append(all, body.Experiments...)
		// A next that does not move on would loop forever.
		if body.Next == "" || body.Next <= after {
			return all, nil
		}
		after = body.Next
	}
}

// getJSON decodes the answer to GET u into v.
func getJSON(ctx context.Context, c *http.Client, u string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("is shadowplane serve running? %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", req.URL.Redacted(), resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("%s: %w", req.URL.Redacted(), err)
	}
	return nil
}

// ControlError is a control request the API refused: its HTTP status and
// the API's message.
type ControlError struct {
	Status  int
	Message string
}

func (e *ControlError) Error() string {
	var hint string
	switch e.Status {
	case http.StatusUnauthorized:
		hint = "not authorized"
	case http.StatusForbidden:
		hint = "forbidden"
	case http.StatusNotFound:
		hint = "no such experiment"
	case http.StatusConflict:
		hint = "not applicable now"
	case http.StatusServiceUnavailable:
		hint = "unavailable"
	case http.StatusBadRequest, http.StatusUnsupportedMediaType, http.StatusRequestEntityTooLarge:
		hint = "bad request"
	default:
		hint = http.StatusText(e.Status)
	}
	if e.Message == "" {
		return fmt.Sprintf("%s (HTTP %d)", hint, e.Status)
	}
	return fmt.Sprintf("%s (HTTP %d): %s", hint, e.Status, e.Message)
}

// Control asks the control plane whose admin API is at base to take
// action on experiment name, with the bearer token, and returns the new
// state. A refusal is a *ControlError. actor, when not empty, is who the
// history says acted.
func Control(ctx context.Context, c *http.Client, base, token, name string, action api.Action, body api.ControlRequest, actor string) (api.Experiment, error) {
	data, err := json.Marshal(body)
	if err != nil {
		return api.Experiment{}, err
	}
	u := base + "/api/v1/experiments/" + url.PathEscape(name) + "/" + url.PathEscape(string(action))
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(data))
	if err != nil {
		return api.Experiment{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if actor != "" {
		req.Header.Set(ActorHeader, actor)
	}
	resp, err := c.Do(req)
	if err != nil {
		return api.Experiment{}, fmt.Errorf("is shadowplane serve running? %w", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return api.Experiment{}, fmt.Errorf("%s: %w", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		var e api.Error
		if json.Unmarshal(raw, &e) != nil || e.Message == "" {
			e.Message = strings.TrimSpace(string(raw))
		}
		return api.Experiment{}, &ControlError{Status: resp.StatusCode, Message: e.Message}
	}
	var st api.Experiment
	if err := json.Unmarshal(raw, &st); err != nil {
		return api.Experiment{}, fmt.Errorf("%s: %w", u, err)
	}
	return st, nil
}
