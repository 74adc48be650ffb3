package policy

import (
	"fmt"
	"slices"
	"strings"
)

// Assemble combines files into one Model. Files are taken in the order
// given, and a file is accepted or rejected whole: it is rejected when one
// of its apps has the name of an app accepted before it, or claims a host
// an accepted app already claims on the same port (a host of a port-0,
// proxyless gRPC app must be unique across all ports, as gRPC clients
// name a route configuration by host alone). Every returned Problem names
// a rejected file, and only rejected files are named.
//
// Earlier files win, so a caller chooses who keeps a contested name by
// the order: the directory source (policy/files) puts the files it
// already serves first, so that the file that introduced a conflict is
// the one rejected.
func Assemble(files []File) (*Model, []Problem) {
	var accepted claims
	var problems []Problem
	m := &Model{}
	for i := range files {
		f := &files[i]
		var own claims // the file's own apps, checked against each other too
		var fileProblems []Problem
		for j := range f.Apps {
			c := f.claim(j)
			fileProblems = append(fileProblems, accepted.conflicts(c)...)
			fileProblems = append(fileProblems, own.conflicts(c)...)
			own.add(c)
		}
		if len(fileProblems) > 0 {
			problems = append(problems, capProblems(f.Path, fileProblems)...)
			continue
		}
		for _, c := range own.apps {
			accepted.add(c)
		}
		m.Apps = append(m.Apps, f.Apps...)
		m.Experiments = append(m.Experiments, f.Experiments...)
		m.Metrics = append(m.Metrics, f.Metrics...)
	}
	if refProblems := m.checkExperiments(); len(refProblems) > 0 {
		// A file whose experiment names what does not exist is rejected
		// whole, like a file whose app conflicts; assemble again without.
		bad := map[string]bool{}
		for _, p := range refProblems {
			bad[p.File] = true
		}
		var kept []File
		for _, f := range files {
			if !bad[f.Path] {
				kept = append(kept, f)
			}
		}
		// The conflicts are found again without those files (some may
		// be gone, as a rejected file's apps claim nothing).
		m2, more := Assemble(kept)
		return m2, append(refProblems, more...)
	}
	slices.SortStableFunc(m.Apps, func(a, b App) int { return strings.Compare(a.Name, b.Name) })
	slices.SortStableFunc(m.Experiments, func(a, b Experiment) int { return strings.Compare(a.Name, b.Name) })
	slices.SortStableFunc(m.Metrics, func(a, b Metric) int { return strings.Compare(a.Name, b.Name) })
	return m, problems
}

// conflicts reports the apps of one file that claim the same name or host.
func (f *File) conflicts() []Problem {
	var own claims
	var problems []Problem
	for j := range f.Apps {
		c := f.claim(j)
		problems = append(problems, own.conflicts(c)...)
		own.add(c)
	}
	return problems
}

// appClaim is what one app claims: its name, and its hosts on its port,
// each with where it is written.
type appClaim struct {
	app   *App
	file  string
	line  int   // of the name
	hosts []int // line of each host
}

func (f *File) claim(j int) appClaim {
	a := &f.Apps[j]
	c := appClaim{app: a, file: f.Path, line: a.Source.Line, hosts: make([]int, len(a.Hosts))}
	var ix *lineIndex
	if j < len(f.lines) {
		ix = f.lines[j]
	}
	if l := ix.line("name"); l > 0 {
		c.line = l
	}
	for k := range a.Hosts {
		c.hosts[k] = c.line
		if l := ix.line(index("hosts", k)); l > 0 {
			c.hosts[k] = l
		}
	}
	return c
}

// claims is the set of names and hosts taken so far.
type claims struct {
	apps  []appClaim
	names map[string]appClaim
	hosts map[string]*hostClaims
}

type hostClaim struct {
	owner appClaim
	port  int
	line  int
	seq   int // order of the claim, to find the first that conflicts
}

// hostClaims is what conflicts needs of the claims on one host: the first
// claim on each port (port 0 included) and the first claim of all. Keeping
// every claim and scanning them made many apps claiming one host on
// different ports quadratic.
type hostClaims struct {
	first  hostClaim
	byPort map[int]hostClaim
}

func (cs *claims) add(c appClaim) {
	if cs.names == nil {
		cs.names = map[string]appClaim{}
		cs.hosts = map[string]*hostClaims{}
	}
	cs.apps = append(cs.apps, c)
	cs.names[c.app.Name] = c
	for k, h := range c.app.Hosts {
		hc := hostClaim{owner: c, port: c.app.Port, line: c.hosts[k], seq: len(cs.apps)}
		cl, ok := cs.hosts[h]
		if !ok {
			cl = &hostClaims{first: hc, byPort: map[int]hostClaim{}}
			cs.hosts[h] = cl
		}
		if _, ok := cl.byPort[hc.port]; !ok {
			cl.byPort[hc.port] = hc
		}
	}
}

func (cs *claims) conflicts(c appClaim) []Problem {
	var problems []Problem
	if other, ok := cs.names[c.app.Name]; ok {
		problems = append(problems, Problem{File: c.file, Line: c.line,
			Message: fmt.Sprintf("app %q is already declared at %s", c.app.Name, where(other.file, other.line, c.file))})
	}
	port := c.app.Port
	for k, h := range c.app.Hosts {
		cl, ok := cs.hosts[h]
		if !ok {
			continue
		}
		// The first earlier claim that conflicts: any claim for a
		// port-0 app; else the first on the same port or on port 0.
		other, ok := cl.first, port == 0
		if !ok {
			same, okSame := cl.byPort[port]
			zero, okZero := cl.byPort[0]
			switch {
			case okSame && (!okZero || same.seq < zero.seq):
				other, ok = same, true
			case okZero:
				other, ok = zero, true
			}
		}
		if !ok {
			continue
		}
		var msg string
		if other.port == port && port != 0 {
			msg = fmt.Sprintf("host %q on port %d is already claimed by app %q at %s", h, port, other.owner.app.Name, where(other.owner.file, other.line, c.file))
		} else {
			msg = fmt.Sprintf("host %q is already claimed by app %q at %s; the hosts of a proxyless gRPC app (port 0) must be unique across all ports", h, other.owner.app.Name, where(other.owner.file, other.line, c.file))
		}
		problems = append(problems, Problem{File: c.file, Line: c.hosts[k], Message: msg})
	}
	return problems
}

// where names a place in a file, shortly when it is the file at hand.
func where(file string, line int, from string) string {
	if file == from {
		return fmt.Sprintf("line %d", line)
	}
	return fmt.Sprintf("%s:%d", file, line)
}
