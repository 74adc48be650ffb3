package notify

import (
	"bytes"
	"encoding/json"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/shadowplane/shadowplane/analysis"
)

const payloadSchema = "../../docs/webhook-payload.schema.json"

// Payloads before and after a judgement, and at a gate, validate against
// the documented schema, whose properties are exactly Payload's.
func TestPayloadMatchesSchema(t *testing.T) {
	data, err := os.ReadFile(payloadSchema)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource("payload.json", doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("payload.json")
	if err != nil {
		t.Fatal(err)
	}

	spec := experiment()
	judged := state(spec, analysis.Running, 20, 1)
	judged.History[0] = analysis.Record{Verdicts: []analysis.Verdict{{Version: "v2", Metric: "app/error-rate",
		Checks: []analysis.Check{{Quantity: "error rate", Op: "<=", Limit: 1, Unit: "%", Estimate: 0.2, Outcome: analysis.Pending}}}}}
	samples := []Payload{
		NewPayload("started", state(spec, analysis.Running, 0, 0), t0),
		NewPayload("step", judged, t0),
		NewPayload(string(analysis.GatePromotion), judged, t0),
	}
	for _, p := range samples {
		js, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		v, err := jsonschema.UnmarshalJSON(bytes.NewReader(js))
		if err != nil {
			t.Fatal(err)
		}
		if err := sch.Validate(v); err != nil {
			t.Errorf("%s payload %s: %v", p.Event, js, err)
		}
	}
	bad := strings.Replace(mustJSON(t, samples[0]), `"version":"v1"`, `"version":"v2"`, 1)
	v, _ := jsonschema.UnmarshalJSON(strings.NewReader(bad))
	if sch.Validate(v) == nil {
		t.Error("schema accepts version v2")
	}

	var schema struct {
		Properties map[string]any `json:"properties"`
		Defs       struct {
			Objective struct {
				Properties map[string]any `json:"properties"`
			} `json:"objective"`
		} `json:"$defs"`
	}
	if err := json.Unmarshal(data, &schema); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		typ   reflect.Type
		props map[string]any
	}{{reflect.TypeFor[Payload](), schema.Properties}, {reflect.TypeFor[Objective](), schema.Defs.Objective.Properties}} {
		var fields, props []string
		for f := range c.typ.Fields() {
			fields = append(fields, strings.Split(f.Tag.Get("json"), ",")[0])
		}
		for p := range c.props {
			props = append(props, p)
		}
		slices.Sort(fields)
		slices.Sort(props)
		if !slices.Equal(fields, props) {
			t.Errorf("%s: fields %v, schema properties %v", c.typ.Name(), fields, props)
		}
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// A reason that quotes a metrics URL with credentials (a scrape error, say)
// reaches the receiver — often a chat channel — without them.
func TestPayloadReasonHidesCredentials(t *testing.T) {
	st := state(experiment(), analysis.Paused, 0, 0)
	st.Reason = `metrics down: Get "https://ops:hunter2@prom.example.com/api/v1/query?token=s3cr3t": connection refused`
	p := NewPayload("paused", st, t0)
	if strings.Contains(p.Reason, "hunter2") || strings.Contains(p.Reason, "s3cr3t") {
		t.Fatalf("payload reason shows a credential: %s", p.Reason)
	}
	if !strings.Contains(p.Reason, "prom.example.com") || !strings.Contains(p.Reason, "connection refused") {
		t.Errorf("payload reason lost what it says: %s", p.Reason)
	}
}
