package files

import (
	"path/filepath"
	"testing"
)

// An experiment's file that sorts before the file of the app it drives is
// served at the first load (rebuild gives rejected files with experiments
// a second pass), so validate agrees with serve whatever the names.
func TestLoadDirExperimentBeforeItsApp(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "a-canary.yaml"), `kind: Experiment
name: canary
app: web
route: default
testing: Canary
baseline: v1
candidates: [v2]
objectives: [{metric: app/error-rate, upperLimit: 0.01}]
metrics: {targets: {"*": ["http://127.0.0.1:9/metrics"]}}
`)
	writeFile(t, filepath.Join(dir, "z-web.yaml"), `kind: App
name: web
hosts: [web.example.com]
variants:
  - {name: v1, endpoints: ["127.0.0.1:1"]}
  - {name: v2, endpoints: ["127.0.0.1:2"]}
routes:
  - name: default
    split: [{variant: v1, weight: 100}, {variant: v2, weight: 0}]
`)
	m, statuses, err := LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if ps := Problems(statuses); len(ps) > 0 {
		t.Fatalf("problems: %v", ps)
	}
	if len(m.Apps) != 1 || len(m.Experiments) != 1 {
		t.Errorf("%d apps, %d experiments; want 1 and 1", len(m.Apps), len(m.Experiments))
	}
}
