// Command xdsload measures how fast and how cheaply a change reaches many
// proxies, for shadowplane and, in the same run, for a plain
// go-control-plane SnapshotCache server given the same resources and the
// same clients. Servers run as child processes of their own on loopback;
// the simulated proxies (real ADS streams that subscribe and ACK as Envoy
// does) run here. Every run is bounded in count and time and stops by
// itself.
//
//	go run ./test/xdsload -n 100,1000,5000,10000        # ours vs baseline
//	go run ./test/xdsload file -shadowplane bin/shadowplane -n 1000
//	                                                     # policy file written → all ACKed
//	go run ./test/xdsload hostile -shadowplane bin/shadowplane
//	                                                     # the same, beside issue 13's attackers
//	                                                     # (run apart by `xdsload attack`)
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	args := os.Args[1:]
	var err error
	switch {
	case len(args) > 0 && args[0] == "serve":
		err = runServer(ctx, args[1:])
	case len(args) > 0 && args[0] == "file":
		err = runFile(ctx, args[1:])
	case len(args) > 0 && args[0] == "hostile":
		err = runHostile(ctx, args[1:])
	case len(args) > 0 && args[0] == "attack":
		err = runAttack(ctx, args[1:])
	default:
		err = runCompare(ctx, args)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "xdsload:", err)
		os.Exit(1)
	}
}
