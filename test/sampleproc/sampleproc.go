// Package sampleproc runs the sample application (examples/sampleapp) as
// child processes for end-to-end tests and demos.
package sampleproc

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"time"
)

// App is a running sample application.
type App struct {
	Version string
	HTTP    string // host:port
	GRPC    string // host:port, empty without gRPC
	cmd     *exec.Cmd
	done    chan struct{}
}

var listening = regexp.MustCompile(`^sampleapp (\S+): (http|grpc) listening on (\S+)$`)

// Start runs binary as version on free loopback ports, HTTP and gRPC,
// with extra flags (--latency, --error-rate …). It returns once both
// listen; the process ends with ctx.
func Start(ctx context.Context, binary, version string, extra ...string) (*App, error) {
	args := append([]string{"--version", version, "--http-addr", "127.0.0.1:0", "--grpc-addr", "127.0.0.1:0"}, extra...)
	cmd := exec.CommandContext(ctx, binary, args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	a := &App{Version: version, cmd: cmd, done: make(chan struct{})}
	ready := make(chan struct{})
	go func() {
		defer close(a.done)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			m := listening.FindStringSubmatch(sc.Text())
			if m == nil {
				continue
			}
			if m[2] == "http" {
				a.HTTP = m[3]
			} else {
				a.GRPC = m[3]
				close(ready)
			}
		}
	}()
	select {
	case <-ready:
		return a, nil
	case <-a.done:
		cmd.Wait()
		return nil, fmt.Errorf("sampleapp %s exited before it listened", version)
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		return nil, errors.New("sampleapp did not report its addresses within 20s")
	}
}

// MetricsURL is the app's Prometheus endpoint.
func (a *App) MetricsURL() string { return "http://" + a.HTTP + "/metrics" }

// Wait waits for the process to end.
func (a *App) Wait() error {
	err := a.cmd.Wait()
	<-a.done
	return err
}
