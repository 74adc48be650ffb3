package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"
)

func compileSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(Schema()))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	if err := c.AddResource("schema.json", doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("schema.json")
	if err != nil {
		t.Fatal(err)
	}
	return sch
}

// yamlDocuments decodes each non-empty document of a YAML file into the
// JSON data model the schema validator takes.
func yamlDocuments(t *testing.T, path string) []any {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs []any
	for {
		var v any
		err := dec.Decode(&v)
		if errors.Is(err, io.EOF) {
			return docs
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if v == nil {
			continue
		}
		js, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(js))
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, doc)
	}
}

func TestSchemaAcceptsGoodFiles(t *testing.T) {
	sch := compileSchema(t)
	// The policy examples; other YAML under examples/ (a compose file)
	// is not policy.
	examples, _ := filepath.Glob("../examples/*/app.yaml")
	compose, _ := filepath.Glob("../examples/compose/policies/*/*.yaml")
	examples = append(examples, compose...)
	good, _ := filepath.Glob("testdata/good/*.yaml")
	if len(examples) < 5 || len(good) == 0 {
		t.Fatalf("found %d examples and %d good files", len(examples), len(good))
	}
	for _, path := range append(examples, good...) {
		for i, doc := range yamlDocuments(t, path) {
			if err := sch.Validate(doc); err != nil {
				t.Errorf("%s, document %d: %v", path, i, err)
			}
		}
	}
}

// Bad files the schema can catch. The others break rules a schema cannot
// state (an unknown variant, an unreachable route) or are not valid YAML.
var schemaRejects = []string{
	"bad-api-version", "bad-app-name", "bad-port", "bad-route-name",
	"duration-bad", "duration-int", "empty-selector", "endpoint-no-port",
	"endpoints-and-dns", "fractional-weight", "header-no-name",
	"header-two-kinds", "huge-weight", "method-lower-case", "method-twice",
	"method-unknown", "missing-kind", "negative-weight", "no-routes",
	"no-variants", "not-a-mapping", "overflow-weight", "path-empty",
	"path-two-kinds", "percent-150", "percent-negative", "percent-string",
	"retries-bad-on", "retries-many", "retries-zero", "split-empty",
	"split-missing", "unknown-field", "unknown-route-field", "wrong-kind",
	"wrong-type-port",
	"experiment-conformance-two", "experiment-unknown-pattern",
	"experiment-approval-empty", "experiment-approval-weight",
}

func TestSchemaRejectsBadFiles(t *testing.T) {
	sch := compileSchema(t)
	for _, name := range schemaRejects {
		t.Run(name, func(t *testing.T) {
			docs := yamlDocuments(t, filepath.Join("testdata/bad", name+".yaml"))
			if len(docs) != 1 {
				t.Fatalf("%d documents, want 1", len(docs))
			}
			if err := sch.Validate(docs[0]); err == nil {
				t.Error("schema accepts it")
			}
		})
	}
}

// TestSchemaMatchesStructs keeps schema.json in step with the Go types:
// every struct reachable from App or Experiment has a schema under $defs,
// by type name, with exactly its YAML fields as properties, each described,
// its fields without omitempty as required, and a $ref to the schema of
// each nested struct. The root picks $defs/App, $defs/Experiment or
// $defs/Metric by kind.
func TestSchemaMatchesStructs(t *testing.T) {
	var schema map[string]any
	if err := json.Unmarshal(Schema(), &schema); err != nil {
		t.Fatal(err)
	}
	if ref := refOf(schema["then"]); ref != "#/$defs/Experiment" {
		t.Errorf("root then: $ref %v, want #/$defs/Experiment", ref)
	}
	inner, _ := schema["else"].(map[string]any)
	if ref := refOf(inner["then"]); ref != "#/$defs/Metric" {
		t.Errorf("root else/then: $ref %v, want #/$defs/Metric", ref)
	}
	if ref := refOf(inner["else"]); ref != "#/$defs/App" {
		t.Errorf("root else/else: $ref %v, want #/$defs/App", ref)
	}
	defs, _ := schema["$defs"].(map[string]any)
	structs := schemaStructs(reflect.TypeFor[App](), reflect.TypeFor[Experiment](), reflect.TypeFor[Metric]())
	for _, want := range []string{"App", "Experiment", "Route", "Steps", "Objective", "Reward", "MetricsSource", "Metric", "MetricSelector"} {
		if _, ok := structs["policy."+want]; !ok {
			t.Errorf("policy.%s is not checked", want)
		}
	}
	for name, typ := range structs {
		node, _ := defs[typ.Name()].(map[string]any)
		if node == nil {
			t.Errorf("%s: no $defs/%s in schema.json", name, typ.Name())
			continue
		}
		if node["additionalProperties"] != false {
			t.Errorf("%s: schema allows additional properties", name)
		}
		props, _ := node["properties"].(map[string]any)
		var goFields, required []string
		for _, f := range yamlFields(typ) {
			goFields = append(goFields, f.name)
			if !hasOmitempty(typ, f.name) && !requiredByRule[typ.Name()+"."+f.name] {
				required = append(required, f.name)
			}
			if requiredByRule[typ.Name()+"."+f.name] && !requiresSomewhere(node["allOf"], f.name) {
				t.Errorf("%s.%s: not required by any rule of allOf", name, f.name)
			}
			prop, _ := props[f.name].(map[string]any)
			if prop == nil {
				continue
			}
			if d, _ := prop["description"].(string); d == "" {
				t.Errorf("%s.%s: no description", name, f.name)
			}
			if st, ok := modelStruct(f.typ); ok {
				ref := prop["$ref"]
				if items, ok := prop["items"].(map[string]any); ok {
					ref = items["$ref"]
				}
				if want := "#/$defs/" + st.Name(); ref != want {
					t.Errorf("%s.%s: $ref %v, want %s", name, f.name, ref, want)
				}
			}
		}
		var schemaFields []string
		for p := range props {
			schemaFields = append(schemaFields, p)
		}
		slices.Sort(goFields)
		slices.Sort(schemaFields)
		if !slices.Equal(goFields, schemaFields) {
			t.Errorf("%s: Go fields %v, schema properties %v", name, goFields, schemaFields)
		}
		var schemaRequired []string
		if rs, ok := node["required"].([]any); ok {
			for _, r := range rs {
				schemaRequired = append(schemaRequired, r.(string))
			}
		}
		slices.Sort(required)
		slices.Sort(schemaRequired)
		if !slices.Equal(required, schemaRequired) {
			t.Errorf("%s: fields without omitempty %v, schema requires %v", name, required, schemaRequired)
		}
	}
}

// requiredByRule lists the fields whose omitempty tag does not say whether
// a document needs them. The schema requires them in an allOf rule instead
// of its "required" list.
var requiredByRule = map[string]bool{
	// Not omitempty, but AB experiments may leave it out.
	"Experiment.objectives": true,
	// omitempty, but always needed: the scrape provider (the default) needs
	// targets, the prometheus provider a URL.
	"Experiment.metrics": true,
}

// schemaStructs is every struct type reachable from roots through YAML
// fields, by the name yaml.v3 prints in its errors ("policy.Route").
func schemaStructs(roots ...reflect.Type) map[string]reflect.Type {
	seen := map[string]reflect.Type{}
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		if _, ok := seen[t.String()]; ok {
			return
		}
		seen[t.String()] = t
		for _, f := range yamlFields(t) {
			if st, ok := modelStruct(f.typ); ok {
				walk(st)
			}
		}
	}
	for _, r := range roots {
		walk(r)
	}
	return seen
}

// refOf returns the $ref of a schema node, or nil.
func refOf(node any) any {
	m, _ := node.(map[string]any)
	return m["$ref"]
}

// requiresSomewhere reports whether a "required" list anywhere in the
// schema fragment v names field.
func requiresSomewhere(v any, field string) bool {
	switch v := v.(type) {
	case map[string]any:
		if rs, ok := v["required"].([]any); ok && slices.Contains(rs, any(field)) {
			return true
		}
		for _, c := range v {
			if requiresSomewhere(c, field) {
				return true
			}
		}
	case []any:
		for _, c := range v {
			if requiresSomewhere(c, field) {
				return true
			}
		}
	}
	return false
}

// hasOmitempty reports whether the YAML field name of t (or of a struct
// inlined in t) is tagged omitempty.
func hasOmitempty(t reflect.Type, name string) bool {
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("yaml")
		n, opts, _ := strings.Cut(tag, ",")
		if strings.Contains(","+opts+",", ",inline,") {
			if hasOmitempty(f.Type, name) {
				return true
			}
			continue
		}
		if n == name {
			return strings.Contains(","+opts+",", ",omitempty,")
		}
	}
	return false
}

// TestSchemaExperimentRules checks the rules of $defs/Experiment on small
// documents, and that the decoder agrees with the schema on each: the
// schema must reject only what shadowplane rejects.
func TestSchemaExperimentRules(t *testing.T) {
	const canary = `kind: Experiment
name: canary
app: web
route: default
testing: Canary
baseline: v1
candidates: [v2]
objectives: [{metric: app/error-rate, upperLimit: 0.01}]
metrics: {targets: {v1: ["http://127.0.0.1:9001/metrics"], v2: ["http://127.0.0.1:9002/metrics"]}}
`
	const conformance = `kind: Experiment
name: dark
app: web
route: default
testing: Conformance
candidates: [v2]
objectives: [{metric: envoy/error-rate, upperLimit: 0.01}]
metrics: {provider: prometheus, prometheus: "http://127.0.0.1:9090"}
`
	const ab = `kind: Experiment
name: ab
app: web
route: default
testing: AB
baseline: v1
candidates: [v2, v3]
reward: {metric: app/request-count, preferHigher: true}
metrics: {targets: {"*": ["https://envoy:9901/stats/prometheus"]}}
`
	tests := []struct {
		name, doc string
		ok        bool
	}{
		{"canary", canary, true},
		{"conformance", conformance, true},
		{"ab without objectives", ab, true},
		{"every field", canary + "apiVersion: shadowplane.dev/v1alpha1\ndeployment: BlueGreen\nsteps: {maxWeight: 80, stepWeight: 20}\ninterval: 1m30s\niterations: 5\nminSamples: 1\nmaxNoData: 2\nonSuccess: keep\nonFailure: keep\n", true},
		{"app field", canary + "variants: [{name: v1}]\n", false},
		{"unknown deployment", canary + "deployment: Rolling\n", false},
		{"unknown onSuccess", canary + "onSuccess: Promote\n", false},
		{"rollback is no onFailure", canary + "onFailure: promote\n", false},
		{"bad name", strings.Replace(canary, "name: canary", "name: Canary", 1), false},
		{"bad app", strings.Replace(canary, "app: web", "app: web_1", 1), false},
		{"bad candidate", strings.Replace(canary, "[v2]", "[V2]", 1), false},
		{"no candidates", strings.Replace(canary, "[v2]", "[]", 1), false},
		{"canary two candidates", strings.Replace(canary, "[v2]", "[v2, v3]", 1), false},
		{"canary no baseline", strings.Replace(canary, "baseline: v1\n", "", 1), false},
		{"canary no objectives", strings.Replace(canary, "objectives: [{metric: app/error-rate, upperLimit: 0.01}]\n", "", 1), false},
		{"canary empty objectives", strings.Replace(canary, "[{metric: app/error-rate, upperLimit: 0.01}]", "[]", 1), false},
		{"canary reward", canary + "reward: {metric: app/request-count}\n", false},
		{"relative to baseline", strings.Replace(canary, "upperLimit: 0.01}", "upperLimit: 1.2, relativeTo: baseline}", 1), true},
		{"relative to other", strings.Replace(canary, "upperLimit: 0.01}", "upperLimit: 1.2, relativeTo: v1}", 1), false},
		{"no limit", strings.Replace(canary, ", upperLimit: 0.01", "", 1), false},
		{"lower limit only", strings.Replace(canary, "upperLimit: 0.01", "lowerLimit: -1", 1), true},
		{"negative upper limit", strings.Replace(canary, "upperLimit: 0.01", "upperLimit: -1", 1), false},
		{"no metric", strings.Replace(canary, "metric: app/error-rate, ", "", 1), false},
		{"conformance baseline", conformance + "baseline: v1\n", false},
		{"conformance progressive", conformance + "deployment: Progressive\n", false},
		{"conformance relative", strings.Replace(conformance, "upperLimit: 0.01}", "upperLimit: 1.2, relativeTo: baseline}", 1), false},
		{"ab no reward", strings.Replace(ab, "reward: {metric: app/request-count, preferHigher: true}\n", "", 1), false},
		{"ab empty reward metric", strings.Replace(ab, "metric: app/request-count", "metric: \"\"", 1), false},
		{"ab no baseline", strings.Replace(ab, "baseline: v1\n", "", 1), false},
		{"ab progressive", ab + "deployment: Progressive\n", false},
		{"ab progressive one candidate", strings.Replace(ab, "[v2, v3]", "[v2]", 1) + "deployment: Progressive\n", true},
		{"candidate twice", strings.Replace(ab, "[v2, v3]", "[v2, v2]", 1), false},
		{"steps over 100", canary + "steps: {maxWeight: 101}\n", false},
		{"steps fractional", canary + "steps: {stepWeight: 2.5}\n", false},
		{"interval without unit", canary + "interval: \"10\"\n", false},
		{"interval as a number", canary + "interval: 10\n", false},
		{"interval negative", canary + "interval: -10s\n", false},
		{"iterations over 10000", canary + "iterations: 10001\n", false},
		{"minSamples negative", canary + "minSamples: -1\n", false},
		{"maxNoData negative", canary + "maxNoData: -1\n", false},
		{"no metrics", strings.Replace(canary, canary[strings.Index(canary, "metrics:"):], "", 1), false},
		{"scrape without targets", strings.Replace(canary, canary[strings.Index(canary, "metrics:"):], "metrics: {provider: scrape}\n", 1), false},
		{"prometheus without URL", strings.Replace(conformance, ", prometheus: \"http://127.0.0.1:9090\"", "", 1), false},
		{"prometheus not a URL", strings.Replace(conformance, "http://127.0.0.1:9090", "127.0.0.1:9090", 1), false},
		{"unknown provider", strings.Replace(conformance, "provider: prometheus", "provider: datadog", 1), false},
		{"target not a URL", strings.Replace(canary, "http://127.0.0.1:9001/metrics", "ftp://127.0.0.1/metrics", 1), false},
		{"target key not a version", strings.Replace(canary, "{v1:", "{V1:", 1), false},
		{"targets not lists", strings.Replace(ab, `["https://envoy:9901/stats/prometheus"]`, `"https://envoy:9901/stats/prometheus"`, 1), false},
		{"unknown metrics field", strings.Replace(conformance, "provider: prometheus", "provider: prometheus, query: up", 1), false},
		{"approval gates", canary + "approval: {beforeWeight: 50, beforePromotion: true}\nwriteBack: true\n", true},
		{"approval before promotion", canary + "approval: {beforePromotion: true}\n", true},
		{"approval as a word", canary + "approval: beforePromotion\n", false},
		{"approval empty", canary + "approval: {}\n", false},
		{"approval unknown gate", canary + "approval: {beforeStep: 2}\n", false},
		{"approval weight zero", canary + "approval: {beforeWeight: 0}\n", false},
		{"approval weight over 100", canary + "approval: {beforeWeight: 101}\n", false},
		{"writeBack not a bool", canary + "writeBack: yes please\n", false},
		{"webhooks", canary + "webhooks: [{name: a, url: \"https://u:p@h.example/x\", events: [step, aborted], format: slack, timeout: 2s, retries: 0}, {name: g, url: \"http://127.0.0.1:1/c\", type: confirm-promotion}]\n", true},
		{"webhook without url", canary + "webhooks: [{name: a}]\n", false},
		{"webhook ftp url", canary + "webhooks: [{name: a, url: \"ftp://h/x\"}]\n", false},
		{"webhook unknown event", canary + "webhooks: [{name: a, url: \"http://h/x\", events: [finished]}]\n", false},
		{"webhook unknown type", canary + "webhooks: [{name: a, url: \"http://h/x\", type: confirm}]\n", false},
		{"webhook unknown format", canary + "webhooks: [{name: a, url: \"http://h/x\", format: teams}]\n", false},
		{"webhook retries over 10", canary + "webhooks: [{name: a, url: \"http://h/x\", retries: 11}]\n", false},
		{"webhook unknown field", canary + "webhooks: [{name: a, url: \"http://h/x\", secret: s}]\n", false},
	}
	sch := compileSchema(t)
	dir := t.TempDir()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "-")+".yaml")
			if err := os.WriteFile(path, []byte(tt.doc), 0o644); err != nil {
				t.Fatal(err)
			}
			docs := yamlDocuments(t, path)
			if len(docs) != 1 {
				t.Fatalf("%d documents, want 1", len(docs))
			}
			err := sch.Validate(docs[0])
			if (err == nil) != tt.ok {
				t.Errorf("schema: %v, want ok %v", err, tt.ok)
			}
			_, problems := ParseFile(path, []byte(tt.doc))
			if (len(problems) == 0) != tt.ok {
				t.Errorf("decoder: %v, want ok %v", problems, tt.ok)
			}
		})
	}
}
