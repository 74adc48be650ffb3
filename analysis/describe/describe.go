// Package describe renders experiments for a terminal, in the spirit of
// iter8ctl describe: stage, progress, weights, the last decision and why,
// and a per-version table of objective values against their limits.
package describe

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/shadowplane/shadowplane/analysis"
	"github.com/shadowplane/shadowplane/policy"
)

// Experiments writes every experiment, one block each.
func Experiments(w io.Writer, states []analysis.State) error {
	if len(states) == 0 {
		_, err := fmt.Fprintln(w, "No experiments. Add a `kind: Experiment` document to a policy file.")
		return err
	}
	for i := range states {
		if i > 0 {
			fmt.Fprintln(w)
		}
		if err := Experiment(w, &states[i]); err != nil {
			return err
		}
	}
	return nil
}

// Experiment writes one experiment.
func Experiment(w io.Writer, st *analysis.State) error {
	e := &st.Spec
	fmt.Fprintf(w, "Experiment %s — %s, %s, on %s route %s\n", e.Name, e.Testing, e.Deployment, e.App, e.Route)
	fmt.Fprintf(w, "  Stage:     %s %s\n", st.Stage, mark(st.Stage))
	fmt.Fprintf(w, "  Progress:  %s %d/%d iterations passed", bar(st.Iteration, e.Iterations), st.Iteration, e.Iterations)
	if st.NoData > 0 {
		fmt.Fprintf(w, "  (holding: %d/%d intervals without data)", st.NoData, e.MaxNoData)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "  Weights:   %s\n", weights(st.Route))
	if st.Winner != "" {
		fmt.Fprintf(w, "  Winner:    %s\n", st.Winner)
	}
	fmt.Fprintf(w, "  Decision:  %s\n", st.Reason)
	last := lastJudged(st.History)
	if last == nil {
		fmt.Fprintln(w, "  Objectives: no values yet")
		return nil
	}
	return objectives(w, e, last)
}

func mark(s analysis.Stage) string {
	switch s {
	case analysis.Completed:
		return "✔"
	case analysis.RolledBack, analysis.Failed, analysis.Halted:
		return "✘"
	}
	return "…"
}

func bar(n, of int) string {
	const width = 20
	if of <= 0 {
		return ""
	}
	filled := width * n / of
	if filled > width {
		filled = width
	}
	return "[" + strings.Repeat("#", filled) + strings.Repeat(".", width-filled) + "]"
}

func weights(r analysis.Route) string {
	var parts []string
	for _, b := range r.Split {
		w := uint32(0)
		if b.Weight != nil {
			w = *b.Weight
		}
		parts = append(parts, fmt.Sprintf("%s %d%%", b.Variant, w))
	}
	s := strings.Join(parts, "  ")
	if r.MirrorOff {
		s += "  (mirror off)"
	}
	return s
}

// lastJudged is the most recent record with values, so that a hold does
// not blank the table.
func lastJudged(h []analysis.Record) *analysis.Record {
	for i := len(h) - 1; i >= 0; i-- {
		if len(h[i].Observations) > 0 {
			return &h[i]
		}
	}
	return nil
}

func objectives(w io.Writer, e *policy.Experiment, r *analysis.Record) error {
	versions := e.Versions()
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  Objective\t")
	for _, v := range versions {
		fmt.Fprintf(tw, "%s\t", v)
	}
	fmt.Fprintln(tw)
	verdict := map[string]analysis.Verdict{}
	for _, vd := range r.Verdicts {
		verdict[vd.Version+"\x00"+vd.Metric] = vd
	}
	for _, o := range e.Objectives {
		fmt.Fprintf(tw, "  %s\t", limitText(o))
		for _, v := range versions {
			fmt.Fprintf(tw, "%s\t", cell(r.Observations[v][o.Metric], verdict, v, o.Metric))
		}
		fmt.Fprintln(tw)
	}
	fmt.Fprintf(tw, "  requests\t")
	for _, v := range versions {
		fmt.Fprintf(tw, "%s\t", samples(r.Observations[v]))
	}
	fmt.Fprintln(tw)
	return tw.Flush()
}

func limitText(o policy.Objective) string {
	rel := ""
	if o.RelativeTo != "" {
		rel = "×" + o.RelativeTo + " "
	}
	switch {
	case o.UpperLimit != nil && o.LowerLimit != nil:
		return fmt.Sprintf("%.4g ≤ %s ≤ %s%.4g", *o.LowerLimit, o.Metric, rel, *o.UpperLimit)
	case o.UpperLimit != nil:
		return fmt.Sprintf("%s ≤ %s%.4g", o.Metric, rel, *o.UpperLimit)
	case o.LowerLimit != nil:
		return fmt.Sprintf("%s ≥ %s%.4g", o.Metric, rel, *o.LowerLimit)
	}
	return o.Metric
}

func cell(ob analysis.Observation, verdict map[string]analysis.Verdict, version, metric string) string {
	if ob.Error != "" {
		return "error"
	}
	if ob.Samples == 0 && ob.Value == 0 {
		return "-"
	}
	s := fmt.Sprintf("%.4g", ob.Value)
	if math.IsNaN(ob.Value) {
		s = "NaN"
	}
	if vd, ok := verdict[version+"\x00"+metric]; ok {
		if vd.Pass {
			s += " ✔"
		} else {
			s += " ✘"
		}
	}
	return s
}

// samples is the largest sample count among a version's metrics.
func samples(obs map[string]analysis.Observation) string {
	if len(obs) == 0 {
		return "-"
	}
	var names []string
	for n := range obs {
		names = append(names, n)
	}
	sort.Strings(names)
	best := 0.0
	for _, n := range names {
		best = math.Max(best, obs[n].Samples)
	}
	return fmt.Sprintf("%.0f", best)
}
