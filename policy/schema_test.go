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
			// The schema describes App documents; Experiment documents are
			// checked by the decoder only (see docs/experiments.md).
			if m, ok := doc.(map[string]any); ok && m["kind"] == KindExperiment {
				continue
			}
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
// every struct reachable from App has a schema (App at the root, the others
// under $defs by type name) with exactly its YAML fields as properties,
// its fields without omitempty as required, and a $ref to the schema of
// each nested struct.
func TestSchemaMatchesStructs(t *testing.T) {
	var schema map[string]any
	if err := json.Unmarshal(Schema(), &schema); err != nil {
		t.Fatal(err)
	}
	defs, _ := schema["$defs"].(map[string]any)
	for name, typ := range modelStructs() {
		var node map[string]any
		if typ == reflect.TypeFor[App]() {
			node = schema
		} else {
			node, _ = defs[typ.Name()].(map[string]any)
		}
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
			if !hasOmitempty(typ, f.name) {
				required = append(required, f.name)
			}
			prop, _ := props[f.name].(map[string]any)
			if prop == nil {
				continue
			}
			if prop["description"] == nil && typ == reflect.TypeFor[App]() {
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
