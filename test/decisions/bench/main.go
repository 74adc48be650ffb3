// Command bench simulates experiments through shadowplane's decision code
// and the old rule, and writes docs/decision-quality.md and its plot
// (make bench-decisions).
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/shadowplane/shadowplane/test/decisions"
)

func main() {
	runs := flag.Int("runs", 1000, "simulated experiments per case and rule")
	out := flag.String("out", "docs/decision-quality.md", "report to write")
	svg := flag.String("svg", "docs/decision-quality.svg", "plot to write")
	flag.Parse()
	if err := run(*runs, *out, *svg); err != nil {
		fmt.Fprintln(os.Stderr, "bench-decisions:", err)
		os.Exit(1)
	}
}

func run(runs int, out, svg string) error {
	start := time.Now()
	rows := decisions.Run(decisions.Cases(), runs, func(r decisions.Row) {
		fmt.Fprintf(os.Stderr, "%-55s new: %5.1f%% rolled back, %5.1f%% paused, median %-7s  old: %5.1f%% rolled back, median %s\n",
			r.Case.Name, 100*r.New.Rate(r.New.RolledBack), 100*r.New.Rate(r.New.Paused+r.New.Other), r.New.Median,
			100*r.Old.Rate(r.Old.RolledBack), r.Old.Median)
	})
	var md, plot bytes.Buffer
	if err := decisions.WriteMarkdown(&md, rows, runs, machine(), time.Since(start)); err != nil {
		return err
	}
	if err := decisions.WriteSVG(&plot, rows); err != nil {
		return err
	}
	// What follows the marker in the existing report is written by hand
	// (runs through real processes) and kept.
	if old, err := os.ReadFile(out); err == nil {
		if i := bytes.Index(old, []byte(decisions.KeptMarker)); i >= 0 {
			md.WriteString("\n")
			md.Write(old[i:])
		}
	}
	if err := os.WriteFile(out, md.Bytes(), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(svg, plot.Bytes(), 0o644); err != nil {
		return err
	}
	failed := 0
	for _, t := range decisions.Targets(rows) {
		if t.Failed() {
			failed++
			fmt.Fprintf(os.Stderr, "target not met: %s: %s\n", t.Text, t.Seen)
		}
	}
	fmt.Fprintf(os.Stderr, "wrote %s and %s in %s\n", out, svg, time.Since(start).Round(time.Second))
	if failed > 0 {
		return fmt.Errorf("%d targets not met", failed)
	}
	return nil
}

// machine says what ran the simulation.
func machine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if name, ok := strings.CutPrefix(line, "model name"); ok {
				model = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(name), ":"))
				break
			}
		}
	}
	return fmt.Sprintf("%d × %s, %s", runtime.NumCPU(), model, runtime.Version())
}
