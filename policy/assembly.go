package policy

import (
	"slices"
	"strings"
)

// Assembly is a set of files that fit together, as Assemble would accept
// them all, changed one file at a time. A source that must check every
// changed file against everything the other files serve (policy/files
// does, so that of two conflicting files the one that changed last is
// rejected) used to call Assemble once per changed file: O(N²) for N
// files, 389 s for 10,000. Replace costs what the file and the
// experiments naming its apps hold, not what the set holds.
//
// The zero Assembly is empty and ready to use.
type Assembly struct {
	files  map[string]*File
	claims claims // apps and hosts of every file in the set
	// The experiments and metrics of the set, indexed as
	// checkExperiments needs them to judge one more file.
	experiments map[string]*Experiment            // by name
	routes      map[string]*Experiment            // by "app/route"
	refs        map[string]map[*Experiment]string // app name → experiments naming it, with their file
	metrics     map[string]*Metric                // by name
}

// Replace puts f in the set in place of the file with the same path, if
// f fits beside every other file: no app name or host claimed twice
// (as Assemble), and every experiment of the set, f's included, still
// names an app, a route and variants that exist, no two driving one
// route. Otherwise the set is left as it was and the problems are
// returned (capped like a file's); a problem may name another file
// whose experiment f would break.
func (a *Assembly) Replace(f *File) []Problem {
	old := a.files[f.Path]
	if old != nil {
		a.remove(old)
	}
	problems := a.check(f, old)
	if len(problems) > 0 {
		if old != nil {
			a.add(old)
		}
		return problems
	}
	a.add(f)
	return nil
}

// Model returns the apps, experiments and metrics of every file of the
// set, each sorted by name (files taken in path order, as Assemble).
func (a *Assembly) Model() *Model {
	paths := make([]string, 0, len(a.files))
	for p := range a.files {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	m := &Model{}
	for _, p := range paths {
		f := a.files[p]
		m.Apps = append(m.Apps, f.Apps...)
		m.Experiments = append(m.Experiments, f.Experiments...)
		m.Metrics = append(m.Metrics, f.Metrics...)
	}
	slices.SortStableFunc(m.Apps, func(a, b App) int { return strings.Compare(a.Name, b.Name) })
	slices.SortStableFunc(m.Experiments, func(a, b Experiment) int { return strings.Compare(a.Name, b.Name) })
	slices.SortStableFunc(m.Metrics, func(a, b Metric) int { return strings.Compare(a.Name, b.Name) })
	return m
}

// check judges f against the set, which does not hold f's path now; old
// is the version f replaces, if any.
func (a *Assembly) check(f, old *File) []Problem {
	var own claims
	var problems []Problem
	for j := range f.Apps {
		c := f.claim(j)
		problems = append(problems, a.claims.conflicts(c)...)
		problems = append(problems, own.conflicts(c)...)
		own.add(c)
	}
	if len(problems) > 0 {
		return capProblems(f.Path, problems)
	}
	if ps := a.around(f, old).checkExperiments(); len(ps) > 0 {
		return capProblems(f.Path, ps)
	}
	return nil
}

// around is the part of the set that f's experiments and metrics, and the
// experiments naming f's apps (old or new), can conflict with, then f's:
// checkExperiments on it finds what it would find on the whole set with
// f, since the rest of the set was found to fit already. The set's parts
// come first, so that a name used twice is reported at f's.
func (a *Assembly) around(f, old *File) *Model {
	m := &Model{}
	seen := map[*Experiment]bool{}
	addExp := func(e *Experiment) {
		if e != nil && !seen[e] {
			seen[e] = true
			m.Experiments = append(m.Experiments, *e)
		}
	}
	for i := range f.Experiments {
		e := &f.Experiments[i]
		addExp(a.experiments[e.Name])
		addExp(a.routes[e.App+"/"+e.Route])
	}
	var names []string
	for _, file := range []*File{old, f} {
		if file == nil {
			continue
		}
		for i := range file.Apps {
			names = append(names, file.Apps[i].Name)
		}
	}
	for _, name := range names {
		// Sorted, so that problems come in the same order every time.
		exps := make([]*Experiment, 0, len(a.refs[name]))
		for e := range a.refs[name] {
			exps = append(exps, e)
		}
		slices.SortFunc(exps, func(x, y *Experiment) int {
			return strings.Compare(a.refs[name][x]+"\x00"+x.Name, a.refs[name][y]+"\x00"+y.Name)
		})
		for _, e := range exps {
			addExp(e)
		}
	}
	for i := range f.Experiments {
		addExp(&f.Experiments[i])
	}
	apps := map[string]bool{}
	for _, e := range m.Experiments {
		if apps[e.App] {
			continue
		}
		apps[e.App] = true
		if app := findApp(f, e.App); app != nil {
			m.Apps = append(m.Apps, *app)
		} else if c, ok := a.claims.names[e.App]; ok {
			m.Apps = append(m.Apps, *c.app)
		}
	}
	for i := range f.Metrics {
		if mt := a.metrics[f.Metrics[i].Name]; mt != nil {
			m.Metrics = append(m.Metrics, *mt)
		}
	}
	m.Metrics = append(m.Metrics, f.Metrics...)
	return m
}

func findApp(f *File, name string) *App {
	for i := range f.Apps {
		if f.Apps[i].Name == name {
			return &f.Apps[i]
		}
	}
	return nil
}

func (a *Assembly) add(f *File) {
	if a.files == nil {
		a.files = map[string]*File{}
		a.experiments = map[string]*Experiment{}
		a.routes = map[string]*Experiment{}
		a.refs = map[string]map[*Experiment]string{}
		a.metrics = map[string]*Metric{}
	}
	a.files[f.Path] = f
	for j := range f.Apps {
		a.claims.add(f.claim(j))
	}
	for i := range f.Experiments {
		e := &f.Experiments[i]
		a.experiments[e.Name] = e
		a.routes[e.App+"/"+e.Route] = e
		if a.refs[e.App] == nil {
			a.refs[e.App] = map[*Experiment]string{}
		}
		a.refs[e.App][e] = f.Path
	}
	for i := range f.Metrics {
		a.metrics[f.Metrics[i].Name] = &f.Metrics[i]
	}
}

func (a *Assembly) remove(f *File) {
	delete(a.files, f.Path)
	for j := range f.Apps {
		a.claims.remove(&f.Apps[j])
	}
	for i := range f.Experiments {
		e := &f.Experiments[i]
		if a.experiments[e.Name] == e {
			delete(a.experiments, e.Name)
		}
		if key := e.App + "/" + e.Route; a.routes[key] == e {
			delete(a.routes, key)
		}
		delete(a.refs[e.App], e)
		if len(a.refs[e.App]) == 0 {
			delete(a.refs, e.App)
		}
	}
	for i := range f.Metrics {
		if a.metrics[f.Metrics[i].Name] == &f.Metrics[i] {
			delete(a.metrics, f.Metrics[i].Name)
		}
	}
}

// remove withdraws what app claims. The set's claims never conflict, so
// each name, and each host on a port, has one owner; a host's first
// claim is found again among the rest when its owner leaves.
func (cs *claims) remove(app *App) {
	if c, ok := cs.names[app.Name]; ok && c.app == app {
		delete(cs.names, app.Name)
	}
	for _, h := range app.Hosts {
		cl, ok := cs.hosts[h]
		if !ok {
			continue
		}
		if hc, ok := cl.byPort[app.Port]; ok && hc.owner.app == app {
			delete(cl.byPort, app.Port)
		}
		if cl.first.owner.app != app {
			continue
		}
		if len(cl.byPort) == 0 {
			delete(cs.hosts, h)
			continue
		}
		first := true
		for _, hc := range cl.byPort {
			if first || hc.seq < cl.first.seq {
				cl.first, first = hc, false
			}
		}
	}
}
