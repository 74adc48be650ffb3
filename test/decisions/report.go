package decisions

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"
)

// Row is one case simulated under both rules.
type Row struct {
	Case     Case
	New, Old Tally
}

// Run simulates every case runs times under both rules.
func Run(cases []Case, runs int, progress func(Row)) []Row {
	var rows []Row
	for _, c := range cases {
		r := Row{Case: c, New: Simulate(c, runs, Case.RunNew), Old: Simulate(c, runs, Case.RunOld)}
		if progress != nil {
			progress(r)
		}
		rows = append(rows, r)
	}
	return rows
}

// Target is one of the targets, checked on the rows.
type Target struct {
	Text string
	Met  bool
	// Seen says what the rows showed.
	Seen string
	// Accepted, when set, says why missing the target is a choice: the
	// report shows it, and the bench and the test do not fail on it.
	Accepted string
}

func target(text string, met bool, seen string) Target {
	return Target{Text: text, Met: met, Seen: seen}
}

// Failed reports whether the target is missed and not by choice.
func (t Target) Failed() bool { return !t.Met && t.Accepted == "" }

// Targets checks the rows against what shadowplane promises of its
// decisions: few wrong rollbacks at every rate, no wrong pause where
// there is traffic enough to decide, regressions caught.
func Targets(rows []Row) []Target {
	var out []Target
	worst := func(pick func(Row) bool, value func(Row) float64, higherIsWorse bool) (float64, string) {
		w, where := -1.0, ""
		for _, r := range rows {
			if !pick(r) {
				continue
			}
			v := value(r)
			if w < 0 || (higherIsWorse && v > w) || (!higherIsWorse && v < w) {
				w, where = v, r.Case.Name
			}
		}
		return w, where
	}
	good := func(r Row) bool { return !r.Case.Bad && !r.Case.AtLimit }
	v, at := worst(good, func(r Row) float64 { return r.New.Rate(r.New.RolledBack) }, true)
	out = append(out, target("A/A: rolled back in ≤ 5 % of runs at every rate (1–200 rps), every error rate (0–0.5 %), relative objectives included", v <= 0.05, pct(v)+" at worst ("+at+")"))
	v, at = worst(func(r Row) bool { return good(r) && r.Case.RPS >= 10 }, func(r Row) float64 { return r.New.Rate(r.New.Paused + r.New.Other) }, true)
	out = append(out, target("A/A: paused (undecided) in ≤ 5 % of runs at ≥ 10 rps (at 1–4 rps an honest pause is allowed)", v <= 0.05, pct(v)+" at worst ("+at+")"))
	detect := func(group string, minRPS float64, want float64) {
		v, at := worst(func(r Row) bool { return r.Case.Group == group && r.Case.RPS >= minRPS },
			func(r Row) float64 { return r.New.Rate(r.New.RolledBack) }, false)
		out = append(out, target(fmt.Sprintf("%s caught in ≥ %s of runs at ≥ %g rps", group, pct(want), minRPS), v >= want, pct(v)+" at worst ("+at+")"))
	}
	v, at = worst(func(r Row) bool { return r.Case.Bad }, func(r Row) float64 { return r.New.Rate(r.New.Promoted) }, true)
	out = append(out, target("no candidate that misses an objective promoted in more than 5 % of runs (regressions, a near miss at 1.5 % against 1 %, a version failing only at full load)", v <= 0.05, pct(v)+" at worst ("+at+")"))
	v, at = worst(func(r Row) bool { return r.Case.AtLimit }, func(r Row) float64 { return math.Max(r.New.Rate(r.New.Promoted), r.New.Rate(r.New.RolledBack)) }, true)
	out = append(out, target("a candidate exactly at its limit: neither promoted nor rolled back in more than 5 % of runs (either verdict would claim what the data cannot show)", v <= 0.05, pct(v)+" at worst ("+at+")"))
	detect("+2 points of errors (3 %), stepWeight 10", 10, 0.95)
	detect("2× mean latency (10 → 20 ms), relative 1.2×", 10, 0.95)
	detect("300 ms dark version, 40 % mirror", 2, 0.95)
	for _, r := range rows {
		if r.Case.Group == "20 % errors, stepWeight 10" && r.Case.RPS >= 40 {
			p90 := r.New.P90
			out = append(out, target(fmt.Sprintf("20 %% errors caught within 2 intervals at %g rps", r.Case.RPS),
				r.New.Rate(r.New.RolledBack) >= 0.95 && p90 <= 20*time.Second, fmt.Sprintf("%s caught, 90 %% within %s", pct(r.New.Rate(r.New.RolledBack)), p90)))
		}
	}
	// Clear cases: gross regressions with traffic enough to see them in a
	// window or two. The new rule may take one interval more.
	later := func(groups ...string) (time.Duration, string) {
		slowest, where := time.Duration(0), "never later"
		for _, r := range rows {
			if r.Case.Bad && r.Case.RPS >= 10 && slices.Contains(groups, r.Case.Group) {
				if d := r.New.Median - r.Old.Median; d > slowest {
					slowest, where = d, r.Case.Name
				}
			}
		}
		return slowest, where
	}
	d, where := later("20 % errors, stepWeight 10", "300 ms dark version, 40 % mirror")
	out = append(out, Target{Text: "clear regressions (20 % errors, a 300 ms dark version, at ≥ 10 rps): median time to rollback at most one interval (10 s) after the old rule's",
		Met: d <= 10*time.Second, Seen: fmt.Sprintf("%s later at worst (%s)", d, where)})
	d, where = later("2× mean latency (10 → 20 ms), relative 1.2×")
	out = append(out, Target{Text: "a 2× latency regression under a relative objective, at ≥ 10 rps: median time to rollback at most one interval after the old rule's",
		Met: d <= 10*time.Second, Seen: fmt.Sprintf("%s later at worst (%s)", d, where),
		Accepted: "a mean's interval takes the largest variance the histogram buckets allow, with no assumption on where latencies sit inside a bucket; " +
			"with the sample app's 1-2-5 buckets that is 3–4× the variance, so a few dozen requests more are needed at 1 request a second (10 % of 10 rps). " +
			"The old rule's speed there came from judging 20 requests on a point estimate, which rolled back about half of the healthy candidates with the same objective"})
	return out
}

func pct(v float64) string {
	if v < 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.1f %%", 100*v)
}

// KeptMarker starts the part of docs/decision-quality.md that
// make bench-decisions keeps as it is: results of runs through real
// processes, written by hand from make e2e-seeds.
const KeptMarker = "<!-- Below: kept by make bench-decisions. -->"

// WriteMarkdown writes the report: the targets, then one table per kind
// of case with the new rule's and the old rule's figures per rate.
func WriteMarkdown(w io.Writer, rows []Row, runs int, machine string, took time.Duration) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# Decision quality\n\n")
	fmt.Fprintf(&b, "Generated by `make bench-decisions` — %d simulated experiments per case and rule, fixed seeds, on %s in %s. "+
		"Every experiment runs through the real decision code (`analysis.Evaluate` and `State.Apply`, as the Runner calls them); "+
		"the old rule (one point estimate per window, before evidence accumulated) runs on the same simulated traffic. "+
		"The model and the method are in [experiments.md](experiments.md#how-it-decides); the choice in [decision 0008](decisions/0008-anytime-valid-decisions.md).\n\n", runs, machine, took.Round(time.Second))
	b.WriteString("Traffic: Poisson arrivals at the route's rate × each version's weight (or the mirror's 40 %), Bernoulli errors, " +
		"lognormal latency (median 20 ms, σ 0.5: mean ≈ 23 ms, p95 ≈ 46 ms) counted in the sample app's histogram buckets " +
		"(1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500 ms, +Inf). Experiments: the seeds' objectives (mean < 50 ms, p95 < 100 ms, " +
		"errors < 1 %) unless the row says otherwise, a look every 10 s, 10 iterations, minSamples 20, and every other setting at its default " +
		"(alpha 0.05, failureLimit 1, maxStepDuration 30m, onInconclusive pause).\n\n")
	b.WriteString("![False rollbacks and detection against traffic, new rule and old](decision-quality.svg)\n\n")
	b.WriteString("## Targets\n\n")
	for _, t := range Targets(rows) {
		mark := "✔"
		if !t.Met {
			mark = "✘"
		}
		fmt.Fprintf(&b, "- %s %s — %s", mark, t.Text, t.Seen)
		if !t.Met && t.Accepted != "" {
			fmt.Fprintf(&b, ". *Missed by choice:* %s", t.Accepted)
		}
		b.WriteString("\n")
	}
	b.WriteString("\n")
	table := func(title, legend string, pick func(Case) bool, cell func(Tally) string) {
		fmt.Fprintf(&b, "## %s\n\n%s\n\n", title, legend)
		var rates []float64
		var groups []string
		for _, r := range rows {
			if !pick(r.Case) {
				continue
			}
			if !slices.Contains(rates, r.Case.RPS) {
				rates = append(rates, r.Case.RPS)
			}
			if !slices.Contains(groups, r.Case.Group) {
				groups = append(groups, r.Case.Group)
			}
		}
		slices.Sort(rates)
		b.WriteString("| case | rule |")
		for _, rps := range rates {
			fmt.Fprintf(&b, " %g rps |", rps)
		}
		b.WriteString("\n|---|---|" + strings.Repeat("---|", len(rates)) + "\n")
		for _, g := range groups {
			for i, rule := range []string{"new", "old"} {
				name := g
				if i > 0 {
					name = ""
				}
				fmt.Fprintf(&b, "| %s | %s |", name, rule)
				for _, rps := range rates {
					s := " "
					for _, r := range rows {
						if r.Case.Group == g && r.Case.RPS == rps {
							t := r.New
							if rule == "old" {
								t = r.Old
							}
							s = cell(t)
						}
					}
					fmt.Fprintf(&b, " %s |", s)
				}
				b.WriteString("\n")
			}
		}
		b.WriteString("\n")
	}
	table("Candidates as good as their baseline (A/A): any rollback is wrong",
		"Each cell: **rolled back** (wrong) · paused undecided · median time to the promotion.",
		func(c Case) bool { return !c.Bad && !c.AtLimit },
		func(t Tally) string {
			return fmt.Sprintf("**%s** · %s · %s", pct(t.Rate(t.RolledBack)), pct(t.Rate(t.Paused+t.Other)), short(t.Median))
		})
	table("Candidates that miss an objective: a rollback is right, a promotion wrong",
		"Each cell: **caught** (rolled back) · paused undecided · promoted (wrong) · median time to the rollback.",
		func(c Case) bool { return c.Bad },
		func(t Tally) string {
			return fmt.Sprintf("**%s** · %s · %s · %s", pct(t.Rate(t.RolledBack)), pct(t.Rate(t.Paused+t.Other)), pct(t.Rate(t.Promoted)), short(t.Median))
		})
	table("A candidate exactly at its limit: the data can never show it either way",
		"Each cell: rolled back · paused undecided · promoted. Both verdicts should be rare: the test at the limit errs at most alpha each way.",
		func(c Case) bool { return c.AtLimit },
		func(t Tally) string {
			return fmt.Sprintf("%s · %s · %s", pct(t.Rate(t.RolledBack)), pct(t.Rate(t.Paused+t.Other)), pct(t.Rate(t.Promoted)))
		})
	_, err := io.WriteString(w, b.String())
	return err
}

// short writes a duration as a person would: 40s, 3m10s, 2m, 1h05m.
func short(d time.Duration) string {
	if d == 0 {
		return "—"
	}
	d = d.Round(10 * time.Second)
	h, m, sec := d/time.Hour, d%time.Hour/time.Minute, d%time.Minute/time.Second
	switch {
	case h > 0:
		return fmt.Sprintf("%dh%02dm", h, m)
	case m > 0 && sec > 0:
		return fmt.Sprintf("%dm%02ds", m, sec)
	case m > 0:
		return fmt.Sprintf("%dm", m)
	}
	return fmt.Sprintf("%ds", sec)
}
