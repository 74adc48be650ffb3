package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/shadowplane/shadowplane/analysis"
	"github.com/shadowplane/shadowplane/analysis/metrics"
	"github.com/shadowplane/shadowplane/policy"
	"github.com/shadowplane/shadowplane/policy/files"
)

// runValidate checks policy files and directories the way serve would load
// them, printing every problem as file:line: message, then every warning
// (file:line: warning: message). Exit status 1 means at least one problem;
// warnings alone leave it 0.
func runValidate(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("validate", stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: shadowplane validate [--state-dir DIR] PATH...")
		fmt.Fprintln(stderr, "\nCheck policy files, or every policy file of a directory, as serve would load them.")
		fs.PrintDefaults()
	}
	stateDir := fs.String("state-dir", ".shadowplane-state", "`DIR` where serve keeps experiment progress: warn about ended experiments whose removal would move traffic")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return errUsage
	}
	problems, warnings, apps, nFiles := validatePaths(fs.Args(), loadStates(*stateDir))
	for _, p := range problems {
		fmt.Fprintln(stdout, p)
	}
	for _, w := range warnings {
		fmt.Fprintln(stdout, w)
	}
	if len(problems) > 0 {
		fmt.Fprintf(stderr, "%d problem(s)\n", len(problems))
		return exitError{code: 1}
	}
	fmt.Fprintf(stdout, "ok: %d app(s) in %d file(s)", apps, nFiles)
	if len(warnings) > 0 {
		fmt.Fprintf(stdout, ", %d warning(s)", len(warnings))
	}
	fmt.Fprintln(stdout)
	return nil
}

// validatePaths loads each path: a directory as serve loads it, a file on
// its own (read the same way, so a FIFO, a device or a file over the size
// limit is a problem, not a hang); then checks all the files together,
// since apps in different files must not collide either.
//
// states are the experiments' saved states, for promotionWarnings; nil
// when there are none.
func validatePaths(paths []string, states map[string]*analysis.State) (problems, warnings []string, apps, nFiles int) {
	var all []policy.File
	for _, path := range paths {
		info, err := os.Stat(path)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", path, unwrapPath(err)))
			continue
		}
		if info.IsDir() {
			model, statuses, err := files.LoadDir(path)
			if err != nil {
				problems = append(problems, err.Error())
				continue
			}
			for _, p := range files.Problems(statuses) {
				problems = append(problems, p.Error())
			}
			for _, w := range files.Warnings(statuses) {
				warnings = append(warnings, w.Error())
			}
			ps, ws := experimentProblems(model)
			problems, warnings = append(problems, ps...), append(warnings, ws...)
			warnings = append(warnings, promotionWarnings(model, states)...)
			nFiles += len(statuses)
			apps += len(model.Apps)
			continue
		}
		// As serve reads it: a regular file within files.MaxFileSize.
		data, err := files.ReadFile(path)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", path, unwrapPath(err)))
			continue
		}
		f, ps := policy.ParseFile(path, data)
		for _, p := range ps {
			problems = append(problems, p.Error())
		}
		nFiles++
		if len(ps) == 0 {
			all = append(all, f)
			for _, w := range files.Warnings([]files.FileStatus{{Warnings: f.Warnings()}}) {
				warnings = append(warnings, w.Error())
			}
		}
	}
	if len(all) > 0 {
		model, ps := policy.Assemble(all)
		for _, p := range ps {
			problems = append(problems, p.Error())
		}
		eps, ews := experimentProblems(model)
		problems, warnings = append(problems, eps...), append(warnings, ews...)
		warnings = append(warnings, promotionWarnings(model, states)...)
		apps += len(model.Apps)
	}
	return problems, warnings, apps, nFiles
}

// unwrapPath drops the operation and path that os errors repeat.
func unwrapPath(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

// experimentProblems are what the analysis finds in the model's
// experiments: problems (they can never be decided: an unknown metric, a
// relative objective with no baseline traffic) and warnings.
func experimentProblems(m *policy.Model) (problems, warnings []string) {
	defs, err := metrics.NewDefinitions(m.Metrics...)
	if err != nil {
		problems = strings.Split(err.Error(), "\n")
	}
	ps, ws := analysis.CheckModel(m, defs)
	for _, p := range ps {
		problems = append(problems, p.Error())
	}
	for _, w := range ws {
		w.Message = "warning: " + w.Message
		warnings = append(warnings, w.Error())
	}
	return problems, warnings
}

// loadStates reads the experiments' saved states from dir, best effort:
// validate runs where serve may never have, so a missing or unreadable
// directory, or a state that cannot be read, only means fewer warnings.
// The directory is not created.
func loadStates(dir string) map[string]*analysis.State {
	if info, err := os.Stat(dir); err != nil || !info.IsDir() {
		return nil
	}
	store, err := analysis.NewStore(dir)
	if err != nil {
		return nil
	}
	states, _, _ := store.LoadAll()
	return states
}

// promotionWarnings warns about each experiment of m that has ended
// (promoted, completed, rolled back, failed) serving its route otherwise
// than the policy says: removing the experiment would move the traffic to
// what the policy says. A state saved for another app or route than the
// experiment names now is an old one, and not compared.
func promotionWarnings(m *policy.Model, states map[string]*analysis.State) []string {
	var out []string
	for i := range m.Experiments {
		e := &m.Experiments[i]
		st := states[e.Name]
		if st == nil || st.Spec.App != e.App || st.Spec.Route != e.Route {
			continue
		}
		app, ok := m.App(e.App)
		if !ok {
			continue
		}
		for j := range app.Routes {
			if app.Routes[j].Name != e.Route {
				continue
			}
			if msg := analysis.RemovalWarning(st, &app.Routes[j]); msg != "" {
				out = append(out, policy.Problem{File: e.Source.File, Line: e.Source.Line, Message: "warning: " + msg}.Error())
			}
		}
	}
	return out
}
