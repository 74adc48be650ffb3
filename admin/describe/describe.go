// Package describe renders experiments, as the admin API shows them, for
// a terminal (`shadowplane status`, the demo), in the spirit of
// iter8ctl describe: stage, progress, weights, the last decision and why,
// and a per-version table of objective values against their limits.
package describe

import (
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"

	"github.com/shadowplane/shadowplane/admin/api"
)

// Experiments writes every experiment, one block each.
func Experiments(w io.Writer, states []api.Experiment) error {
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
func Experiment(w io.Writer, st *api.Experiment) error {
	e := &st.Spec
	fmt.Fprintf(w, "Experiment %s — %s, %s, on %s route %s\n", e.Name, e.Testing, e.Deployment, e.App, e.Route)
	fmt.Fprintf(w, "  Stage:     %s %s\n", st.Stage, mark(st.Stage))
	fmt.Fprintf(w, "  Progress:  %s %d/%d iterations", bar(st.Iteration, e.Iterations), st.Iteration, e.Iterations)
	if st.NoData > 0 {
		fmt.Fprintf(w, "  (metrics down: %d/%d looks)", st.NoData, e.MaxNoData)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "  Weights:   %s\n", weights(st.Route))
	if st.Winner != "" {
		fmt.Fprintf(w, "  Winner:    %s\n", st.Winner)
	}
	fmt.Fprintf(w, "  Decision:  %s\n", st.Reason)
	if st.Warning != "" {
		fmt.Fprintf(w, "  Warning:   %s\n", st.Warning)
	}
	if st.Stage == api.Running && !st.WindowStart.IsZero() {
		fmt.Fprintf(w, "  Step:      judged on every request since %s; undecided for at most %s (maxStepDuration); alpha %s\n",
			st.WindowStart.Format("15:04:05"), e.MaxStepDuration, percent(e.Alpha))
	}
	last := lastJudged(st.History)
	if last == nil {
		fmt.Fprintln(w, "  Objectives: no values yet")
		return nil
	}
	return objectives(w, e, last)
}

func mark(s api.Stage) string {
	switch s {
	case api.Completed:
		return "✔"
	case api.RolledBack, api.Failed, api.Halted:
		return "✘"
	case api.Paused:
		return "⏸ (waiting for a person)"
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

func weights(r api.Route) string {
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

// lastJudged is the most recent record with verdicts, so that a look
// during a metrics outage does not blank the table.
func lastJudged(h []api.Record) *api.Record {
	for i := len(h) - 1; i >= 0; i-- {
		if len(h[i].Verdicts) > 0 {
			return &h[i]
		}
	}
	return nil
}

// objectives writes one line per objective and version judged: the
// outcome, the estimate with its anytime-valid interval against the
// limit, and the requests behind it; then why each undecided or failing
// one is so.
func objectives(w io.Writer, e *api.ExperimentSpec, r *api.Record) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  Objective\tVersion\t\tEstimate\tInterval\tLimit\tRequests\t")
	for _, vd := range r.Verdicts {
		o := e.Objectives[vd.Objective]
		for i, ck := range vd.Checks {
			name, version := "", ""
			if i == 0 {
				name, version = objectiveText(o), vd.Version
			}
			est := value(ck.Estimate, ck.Unit)
			if ck.Quantity != vd.Metric {
				est = ck.Quantity + " " + est // a share over a latency, a ratio to the baseline's
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s %s\t%.0f\t\n", name, version, outcome(ck.Outcome),
				est, interval(ck), opText(ck.Op), value(ck.Limit, ck.Unit), vd.Samples)
		}
		if len(vd.Checks) == 0 {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t\t\t\t%.0f\t\n", objectiveText(o), vd.Version, outcome(vd.Outcome), vd.Samples)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, vd := range r.Verdicts {
		if vd.Outcome != api.Pass {
			fmt.Fprintf(w, "  %s %s: %s\n", outcome(vd.Outcome), vd.Version, vd.Why)
		}
	}
	return nil
}

func objectiveText(o api.Objective) string {
	rel := ""
	if o.RelativeTo != "" {
		rel = "× " + o.RelativeTo + "'s"
	}
	switch {
	case o.UpperLimit != nil && o.LowerLimit != nil:
		return fmt.Sprintf("%.4g%s ≤ %s ≤ %.4g%s", *o.LowerLimit, rel, o.Metric, *o.UpperLimit, rel)
	case o.UpperLimit != nil:
		return fmt.Sprintf("%s ≤ %.4g%s", o.Metric, *o.UpperLimit, rel)
	case o.LowerLimit != nil:
		return fmt.Sprintf("%s ≥ %.4g%s", o.Metric, *o.LowerLimit, rel)
	}
	return o.Metric
}

func outcome(o api.Outcome) string {
	switch o {
	case api.Pass:
		return "✔"
	case api.Fail:
		return "✘"
	}
	return "…"
}

func opText(op string) string {
	if op == ">=" {
		return "≥"
	}
	return "≤"
}

func interval(ck api.Check) string {
	lo, hi := "−∞", "∞"
	if ck.Low != nil {
		lo = value(*ck.Low, ck.Unit)
	}
	if ck.High != nil {
		hi = value(*ck.High, ck.Unit)
	}
	if ck.Low == nil && ck.High == nil {
		return "-"
	}
	return "[" + lo + ", " + hi + "]"
}

// value writes v in unit: rates and shares as percentages.
func value(v float64, unit string) string {
	switch unit {
	case "ratio", "share":
		return percent(v)
	case "×":
		return fmt.Sprintf("%.3g×", v)
	case "":
		return fmt.Sprintf("%.4g", v)
	}
	return fmt.Sprintf("%.4g %s", v, unit)
}

func percent(v float64) string {
	if math.IsNaN(v) {
		return "NaN"
	}
	return fmt.Sprintf("%.3g %%", 100*v)
}
