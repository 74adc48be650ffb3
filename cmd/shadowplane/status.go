package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/shadowplane/shadowplane/admin"
	"github.com/shadowplane/shadowplane/admin/api"
	"github.com/shadowplane/shadowplane/admin/describe"
)

// runStatus shows the experiments of a running control plane, read from
// its admin API; with --watch it redraws until every experiment has ended
// or it is interrupted.
func runStatus(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("status", stderr)
	addr := fs.String("admin", "http://"+admin.DefaultAddress, "admin API `URL` of the control plane")
	watch := fs.Bool("watch", false, "redraw until every experiment has ended")
	every := fs.Duration("interval", 2*time.Second, "redraw `interval` with --watch")
	caFile := fs.String("admin-ca", "", "`FILE` of PEM certificates to trust for an https admin URL, besides the system's (serve's --admin-tls-cert, or its CA)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	only := fs.Args()
	client, err := admin.NewHTTPClient(*caFile, 5*time.Second)
	if err != nil {
		return err
	}
	for {
		states, err := admin.FetchExperiments(ctx, client, strings.TrimSuffix(*addr, "/"))
		if err != nil {
			return err
		}
		if len(only) > 0 {
			states = slices.DeleteFunc(states, func(s api.Experiment) bool { return !slices.Contains(only, s.Name) })
		}
		var out bytes.Buffer
		if *watch {
			out.WriteString("\x1b[H\x1b[2J") // home and clear: redraw in place
			fmt.Fprintf(&out, "shadowplane status — %s — %s\n\n", *addr, time.Now().Format(time.TimeOnly))
		}
		if err := describe.Experiments(&out, states); err != nil {
			return err
		}
		stdout.Write(out.Bytes())
		if !*watch || allDone(states) {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(*every):
		}
	}
}

func allDone(states []api.Experiment) bool {
	for _, s := range states {
		if !s.Stage.Done() {
			return false
		}
	}
	return len(states) > 0
}
