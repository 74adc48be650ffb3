package xds_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/shadowplane/shadowplane/policy"
	"github.com/shadowplane/shadowplane/xds/server/snapshot"
)

// FuzzValidPolicyTranslates holds the promise that nothing a user writes
// can make the server panic or push an invalid snapshot: any input the
// policy package accepts must translate, for both client kinds and every
// group, into resources that pass ValidateAll, the reference checks and
// Consistent(). Seeds are the examples and the policy testdata.
func FuzzValidPolicyTranslates(f *testing.F) {
	for _, pattern := range []string{"../examples/*/app.yaml", "testdata/in/*.yaml", "../policy/testdata/*/*.yaml"} {
		files, _ := filepath.Glob(pattern)
		for _, file := range files {
			if data, err := os.ReadFile(file); err == nil {
				f.Add(data)
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		file, problems := policy.ParseFile("fuzz.yaml", data)
		if len(problems) > 0 {
			return
		}
		m, problems := policy.Assemble([]policy.File{file})
		if len(problems) > 0 {
			return
		}
		gen := snapshot.NewGeneration(m)
		for _, key := range gen.Keys() {
			if _, err := gen.Snapshot(key); err != nil {
				t.Fatalf("valid policy, invalid snapshot for %s: %v\n%s", key, err, data)
			}
		}
	})
}
