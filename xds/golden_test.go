package xds_test

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
	"github.com/shadowplane/shadowplane/xds"
	"github.com/shadowplane/shadowplane/xds/server/snapshot"
)

// The golden files pin the translation as `shadowplane render` prints it:
// resources and their versions, so they go through package snapshot, which
// imports xds — hence an external test package.

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

// renderAll dumps every group a model produces, as `shadowplane render`
// prints it.
func renderAll(t *testing.T, m *policy.Model) []byte {
	t.Helper()
	gen := snapshot.NewGeneration(m)
	var dumps []*snapshot.Dump
	for _, key := range gen.Keys() {
		snap, err := gen.Snapshot(key)
		if err != nil {
			t.Fatalf("group %s: %v", key, err)
		}
		d, err := snapshot.NewDump(key, snap)
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
			got := renderAll(t, xds.LoadModel(t, path))
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
		a, b := snapshot.NewGeneration(xds.LoadModel(t, path)), snapshot.NewGeneration(xds.LoadModel(t, path))
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
