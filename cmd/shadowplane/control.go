package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/shadowplane/shadowplane/admin"
	"github.com/shadowplane/shadowplane/admin/api"
)

// tokenFileEnv names the default of --token-file.
const tokenFileEnv = "SHADOWPLANE_ADMIN_TOKEN_FILE"

// controlCommand returns the command that takes action on an experiment
// through the admin API.
func controlCommand(action api.Action, summary string) command {
	return command{summary, func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
		return runControl(ctx, action, args, stdout, stderr)
	}}
}

func runControl(ctx context.Context, action api.Action, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet(string(action), stderr)
	addr := fs.String("admin", "http://"+admin.DefaultAddress, "admin API `URL` of the control plane")
	tokenFile := fs.String("token-file", os.Getenv(tokenFileEnv), "`FILE` holding the admin token (serve's --admin-token-file); default $"+tokenFileEnv)
	reason := fs.String("reason", "", "why, for the experiment's history")
	caFile := fs.String("admin-ca", "", "`FILE` of PEM certificates to trust for an https admin URL, besides the system's")
	var write *bool
	if action == api.ActionPromote {
		write = fs.Bool("write", false, "also rewrite the route in the policy file to the final weights")
	}
	// The experiment may come before or after the flags.
	var name string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, args = args[0], args[1:]
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if name == "" && fs.NArg() > 0 {
		name = fs.Arg(0)
		args = fs.Args()[1:]
	} else {
		args = fs.Args()
	}
	if name == "" || len(args) > 0 {
		extra := ""
		if action == api.ActionPromote {
			extra = " [--write]"
		}
		fmt.Fprintf(stderr, "usage: shadowplane %s EXPERIMENT [--reason TEXT]%s [--admin URL] [--admin-ca FILE] [--token-file FILE]\n", action, extra)
		return errUsage
	}
	if *tokenFile == "" {
		return fmt.Errorf("no admin token: give --token-file FILE or set %s (the file serve reads with --admin-token-file)", tokenFileEnv)
	}
	token, err := readTokenFile(*tokenFile)
	if err != nil {
		return err
	}
	body := api.ControlRequest{Reason: *reason}
	if write != nil {
		body.Write = *write
	}
	client, err := admin.NewHTTPClient(*caFile, 30*time.Second)
	if err != nil {
		return err
	}
	st, err := admin.Control(ctx, client, strings.TrimSuffix(*addr, "/"), token, name, action, body, os.Getenv("USER"))
	if err != nil {
		if ce, ok := errors.AsType[*admin.ControlError](err); ok {
			if ce.Status == http.StatusUnauthorized {
				return fmt.Errorf("%s %s: %w; is %s the file serve reads with --admin-token-file?", action, name, ce, *tokenFile)
			}
			return fmt.Errorf("%s %s: %w", action, name, ce)
		}
		return err
	}
	fmt.Fprintf(stdout, "%s: %s\n", st.Name, st.Stage)
	if st.Reason != "" {
		fmt.Fprintf(stdout, "reason: %s\n", st.Reason)
	}
	return nil
}

// readTokenFile reads the token the CLI sends; unlike serve it does not
// insist on the file's mode, which is the owner's business.
func readTokenFile(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("admin token: %w", err)
	}
	tok := strings.TrimSpace(string(data))
	if tok == "" {
		return "", fmt.Errorf("admin token file %s is empty", path)
	}
	return tok, nil
}
