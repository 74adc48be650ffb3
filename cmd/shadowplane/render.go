package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"

	"github.com/shadowplane/shadowplane/internal/yamlconv"
	"github.com/shadowplane/shadowplane/policy/files"
	"github.com/shadowplane/shadowplane/xds"
	"github.com/shadowplane/shadowplane/xds/server/snapshot"
)

// runRender prints the resources proxies would receive from a policy
// directory, validated exactly as serve validates them.
func runRender(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("render", stderr)
	dir := fs.String("policies", "", "policy `DIR` (required)")
	nodeID := fs.String("node", "", "render for the proxy with this node `ID` (default: every proxy group)")
	cluster := fs.String("cluster", "", "the node's `CLUSTER`, with --node")
	kind := fs.String("kind", "envoy", "the node's `KIND`, with --node: envoy or grpc")
	format := fs.String("o", "yaml", "output `FORMAT`: yaml or json")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *dir == "" || fs.NArg() > 0 || (*format != "yaml" && *format != "json") || (*kind != "envoy" && *kind != "grpc") {
		fmt.Fprintln(stderr, "usage: shadowplane render --policies DIR [--node ID [--cluster NAME] [--kind envoy|grpc]] [-o yaml|json]")
		return errUsage
	}
	model, statuses, err := files.LoadDir(*dir)
	if err != nil {
		return err
	}
	problems := files.Problems(statuses)
	for _, p := range problems {
		fmt.Fprintln(stderr, p)
	}
	for _, w := range files.Warnings(statuses) {
		fmt.Fprintln(stderr, w)
	}

	gen := snapshot.NewGeneration(model)
	keys := gen.Keys()
	if *nodeID != "" {
		node := &core.Node{Id: *nodeID, Cluster: *cluster}
		if *kind == "grpc" {
			node.UserAgentName = "gRPC Go"
		}
		keys = []xds.GroupKey{gen.Key(node)}
	}
	var dumps []*snapshot.Dump
	for _, key := range keys {
		snap, err := gen.Snapshot(key)
		if err != nil {
			return fmt.Errorf("group %s: %w", key, err)
		}
		d, err := snapshot.NewDump(key, snap)
		if err != nil {
			return err
		}
		dumps = append(dumps, d)
	}
	if err := writeDumps(stdout, dumps, *format); err != nil {
		return err
	}
	if len(problems) > 0 {
		fmt.Fprintf(stderr, "%d problem(s): the files above are left out, as serve would leave them out\n", len(problems))
		return exitError{code: 1}
	}
	return nil
}

// writeDumps prints one document per group: a JSON array, or YAML
// documents separated by "---".
func writeDumps(w io.Writer, dumps []*snapshot.Dump, format string) error {
	if format == "json" {
		b, err := json.MarshalIndent(dumps, "", "  ")
		if err != nil {
			return err
		}
		_, err = w.Write(append(b, '\n'))
		return err
	}
	var out bytes.Buffer
	for i, d := range dumps {
		b, err := json.Marshal(d)
		if err != nil {
			return err
		}
		y, err := yamlconv.FromJSON(b)
		if err != nil {
			return err
		}
		if i > 0 {
			out.WriteString("---\n")
		}
		out.Write(y)
	}
	_, err := w.Write(out.Bytes())
	return err
}
