package xds

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/shadowplane/shadowplane/policy"
)

var update = flag.Bool("update", false, "rewrite testdata/out from the current translation")

// goldenCases are the examples (one per seed scenario) and the extra
// shapes in testdata/in: name → policy directory or file.
func goldenCases(t *testing.T) map[string]string {
	t.Helper()
	cases := map[string]string{}
	examples, err := filepath.Glob("../examples/*/app.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range examples {
		cases["example-"+filepath.Base(filepath.Dir(f))] = f
	}
	extra, err := filepath.Glob("testdata/in/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range extra {
		cases[strings.TrimSuffix(filepath.Base(f), ".yaml")] = f
	}
	if len(cases) < 5 {
		t.Fatalf("only %d golden cases found", len(cases))
	}
	return cases
}

func loadModel(t *testing.T, path string) *policy.Model {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, problems := policy.ParseFile(path, data)
	if len(problems) > 0 {
		t.Fatalf("%s: %v", path, policy.JoinProblems(problems))
	}
	m, problems := policy.Assemble([]policy.File{f})
	if len(problems) > 0 {
		t.Fatalf("%s: %v", path, policy.JoinProblems(problems))
	}
	return m
}

// renderAll dumps every group a model produces, as `shadowplane render`
// prints it.
func renderAll(t *testing.T, m *policy.Model) []byte {
	t.Helper()
	gen := NewGeneration(m)
	var dumps []*Dump
	for _, key := range gen.Keys() {
		snap, err := gen.Snapshot(key)
		if err != nil {
			t.Fatalf("group %s: %v", key, err)
		}
		d, err := NewDump(key, snap)
		if err != nil {
			t.Fatal(err)
		}
		dumps = append(dumps, d)
	}
	b, err := json.MarshalIndent(dumps, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	// Re-indent the raw resources too, so diffs read line by line.
	if err := json.Indent(&out, b, "", "  "); err != nil {
		t.Fatal(err)
	}
	out.WriteByte('\n')
	return out.Bytes()
}

// TestGolden translates each case and compares every group's resources
// with testdata/out/<case>.json. Run `go test ./xds -update` to accept a
// change; stale outputs are removed.
func TestGolden(t *testing.T) {
	cases := goldenCases(t)
	if *update {
		stale, _ := filepath.Glob("testdata/out/*.json")
		for _, f := range stale {
			if _, ok := cases[strings.TrimSuffix(filepath.Base(f), ".json")]; !ok {
				os.Remove(f)
			}
		}
	}
	for name, path := range cases {
		t.Run(name, func(t *testing.T) {
			got := renderAll(t, loadModel(t, path))
			golden := filepath.Join("testdata/out", name+".json")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./xds -update)", err)
			}
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("%s differs from %s (-want +got):\n%s", path, golden, diff)
			}
		})
	}
}

// TestTranslationIsDeterministic translates the same model twice, from
// separately decoded copies, and expects identical versions.
func TestTranslationIsDeterministic(t *testing.T) {
	for name, path := range goldenCases(t) {
		a, b := NewGeneration(loadModel(t, path)), NewGeneration(loadModel(t, path))
		for _, key := range a.Keys() {
			sa, err := a.Snapshot(key)
			if err != nil {
				t.Fatal(err)
			}
			sb, _ := b.Snapshot(key)
			if sa.Version != sb.Version {
				t.Errorf("%s group %s: versions %s and %s for one model", name, key, sa.Version, sb.Version)
			}
		}
	}
}
