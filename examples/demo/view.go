package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	adminapi "github.com/shadowplane/shadowplane/admin"
	"github.com/shadowplane/shadowplane/admin/api"
	"github.com/shadowplane/shadowplane/admin/describe"
)

// watch redraws the experiments and the traffic the clients see until
// every experiment has ended, and returns their final states.
func watch(ctx context.Context, cfg config, out io.Writer, admin string, gen *traffic) ([]api.Experiment, error) {
	client := &http.Client{Timeout: 5 * time.Second}
	tick := time.NewTicker(cfg.refresh)
	defer tick.Stop()
	last := map[string]string{}
	for {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("interrupted")
		case <-tick.C:
		}
		states, err := adminapi.FetchExperiments(ctx, client, admin)
		if err != nil {
			continue // the control plane may still be starting
		}
		seen := gen.take()
		if cfg.plain {
			// One line per change of an experiment's decision.
			for _, st := range states {
				line := fmt.Sprintf("%s: %s, iteration %d/%d, weights %v — %s", st.Name, st.Stage, st.Iteration, st.Spec.Iterations, st.Route.Weights(), st.Reason)
				if last[st.Name] != line {
					fmt.Fprintln(out, line)
					last[st.Name] = line
				}
			}
		} else {
			var b bytes.Buffer
			b.WriteString("\x1b[H\x1b[2J")
			fmt.Fprintf(&b, "shadowplane demo — two progressive canaries, proxyless gRPC clients, no Envoy needed   %s\n", time.Now().Format(time.TimeOnly))
			fmt.Fprintf(&b, "(in another terminal: bin/shadowplane status --watch --admin %s; Ctrl-C stops everything)\n\n", admin)
			for _, s := range scenarios {
				fmt.Fprintf(&b, "  %-5s %-45s clients now see: %s\n", s.app, s.title, shares(seen[s.app]))
			}
			b.WriteString("\n")
			describe.Experiments(&b, states)
			out.Write(b.Bytes())
		}
		if len(states) == len(scenarios) && allEnded(states) {
			return states, nil
		}
	}
}

func allEnded(states []api.Experiment) bool {
	for _, s := range states {
		if !s.Stage.Done() {
			return false
		}
	}
	return true
}

func summary(out io.Writer, states []api.Experiment, gen *traffic, took time.Duration) {
	totals := gen.totals()
	fmt.Fprintf(out, "\nSummary (%s)\n", took.Round(time.Second))
	for _, st := range states {
		fmt.Fprintf(out, "  %-12s %-10s after %d iteration(s); weights now %v\n", st.Name, st.Stage, st.Iteration, st.Route.Weights())
		fmt.Fprintf(out, "  %-12s why: %s\n", "", st.Reason)
	}
	for _, s := range scenarios {
		fmt.Fprintf(out, "  %-12s clients saw in all: %s\n", s.app, shares(totals[s.app]))
	}
	fmt.Fprintln(out, "\nEvery process the demo started has been stopped.")
}
