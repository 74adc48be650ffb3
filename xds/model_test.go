package xds

import (
	"os"
	"testing"

	"github.com/shadowplane/shadowplane/policy"
)

// loadModel parses and assembles one policy file, failing the test on any
// problem.
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

// LoadModel is loadModel for the external tests (golden_test.go), which
// serve through package snapshot and so cannot be in package xds.
func LoadModel(t *testing.T, path string) *policy.Model { return loadModel(t, path) }
