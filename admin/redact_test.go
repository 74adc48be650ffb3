package admin

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/shadowplane/shadowplane/admin/api"
	"github.com/shadowplane/shadowplane/analysis"
	"github.com/shadowplane/shadowplane/policy"
)

type fixedExperiments []analysis.State

func (f fixedExperiments) States() []analysis.State { return f }

func TestExperimentsHidePasswordsInMetricsURLs(t *testing.T) {
	st := analysis.State{Experiment: "e", Spec: policy.Experiment{Name: "e", Metrics: policy.MetricsSource{
		Provider:   policy.ProviderPrometheus,
		Prometheus: "https://reader:s3cret@prom.example:9090/",
		Targets:    map[string][]string{"v1": {"http://scraper:hunter2@v1:8080/metrics", "http://v1b:8080/metrics"}},
	}}}
	states := fixedExperiments{st}
	r := httptest.NewRequest(http.MethodGet, "http://127.0.0.1:19000/api/v1/experiments", nil)
	w := httptest.NewRecorder()
	NewHandler(Config{Experiments: states}).ServeHTTP(w, r)
	body := w.Body.String()
	for _, secret := range []string{"s3cret", "hunter2"} {
		if strings.Contains(body, secret) {
			t.Errorf("/api/v1/experiments shows the password %q:\n%s", secret, body)
		}
	}
	if w.Code != http.StatusOK {
		t.Fatalf("status %d: %s", w.Code, body)
	}
	var got api.ExperimentList
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	m := got.Experiments[0].Spec.Metrics
	if m.Prometheus != "https://redacted@prom.example:9090/" || m.Targets["v1"][1] != "http://v1b:8080/metrics" {
		t.Errorf("metrics shown as %+v, want the URLs with only the passwords hidden", m)
	}
	if states[0].Spec.Metrics.Prometheus != "https://reader:s3cret@prom.example:9090/" {
		t.Error("redaction changed the runner's own state")
	}
}
