package admin

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/shadowplane/shadowplane/analysis"
)

// FetchExperiments reads the experiments of the control plane whose admin
// API is at base (e.g. http://127.0.0.1:19000), for clients such as
// `shadowplane status` and the demo.
func FetchExperiments(ctx context.Context, c *http.Client, base string) ([]analysis.State, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/v1/experiments", nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("is shadowplane serve running? %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", req.URL, resp.Status)
	}
	var body struct {
		Experiments []analysis.State `json:"experiments"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, fmt.Errorf("%s: %w", req.URL, err)
	}
	return body.Experiments, nil
}
