package e2e

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shadowplane/shadowplane/admin/api"
	"github.com/shadowplane/shadowplane/test/grpcxds"
	"github.com/shadowplane/shadowplane/test/serveproc"
)

// restartable is a `shadowplane serve` that can be killed and started again
// on the same addresses, policies and state.
type restartable struct {
	t                  *testing.T
	dir, state         string
	xdsAddr, adminAddr string
	proc               *serveproc.Proc
	cancel             context.CancelFunc
	cp                 *controlPlane
	extra              []string
}

func newRestartable(t *testing.T, dir string, extra ...string) *restartable {
	ports := freePorts(t, 2)
	r := &restartable{t: t, dir: dir, state: t.TempDir(), xdsAddr: ports[0], adminAddr: ports[1], extra: extra}
	r.start()
	t.Cleanup(func() { r.stop() })
	return r
}

func (r *restartable) start() {
	ctx, cancel := context.WithCancel(context.Background())
	p, err := serveproc.Start(ctx, binary, r.dir, func(line string) { r.t.Log("shadowplane: " + line) },
		append([]string{"--state-dir", r.state, "--xds-addr", r.xdsAddr, "--admin-addr", r.adminAddr}, r.extra...)...)
	if err != nil {
		cancel()
		r.t.Fatal(err)
	}
	r.proc, r.cancel, r.cp = p, cancel, &controlPlane{xds: p.XDS, admin: p.Admin}
}

// kill9 kills the process as a crash or an OOM kill would.
func (r *restartable) kill9() {
	if err := syscall.Kill(r.proc.PID(), syscall.SIGKILL); err != nil {
		r.t.Fatal(err)
	}
	r.proc.Wait()
	r.cancel()
}

func (r *restartable) stop() {
	r.cancel()
	r.proc.Wait()
}

func (cp *controlPlane) policyFiles(t *testing.T) []api.PolicyFile {
	t.Helper()
	var body api.PolicyList
	cp.get(t, "/api/v1/policies", &body)
	return body.Files
}

func (cp *controlPlane) readyz(t *testing.T) string {
	t.Helper()
	resp, err := http.Get(cp.admin + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/readyz: %s: %s", resp.Status, b)
	}
	return string(b)
}

// A policy file broken while serving keeps its last good version — and
// after kill -9 and a restart too: proxies are served exactly what they
// were, not an empty configuration. Deleting the file still withdraws it.
func TestLastGoodSurvivesKill9(t *testing.T) {
	v1, v2 := grpcxds.StartBackend(t, "v1"), grpcxds.StartBackend(t, "v2")
	dir := t.TempDir()
	path := filepath.Join(dir, "greeter.yaml")
	writeAtomically(t, path, greeterPolicy(v1, v2, "80", "20"))
	r := newRestartable(t, dir)
	assertShare(t, grpcxds.Dial(t, r.cp.xds, "before", "clients", "greeter.test"), 400, 20, 7)
	routes := func() string { return envoyRoutes(t, r.cp) }
	before := routes()

	// A bad edit: reported, the last good version kept.
	writeAtomically(t, path, strings.Replace(greeterPolicy(v1, v2, "80", "20"), "routes:", "routs:", 1))
	for deadline := time.Now().Add(15 * time.Second); ; {
		if fs := r.cp.policyFiles(t); len(fs) == 1 && fs[0].Stale {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the bad edit was never reported: %+v", r.cp.policyFiles(t))
		}
		time.Sleep(50 * time.Millisecond) // polling another process's API
	}

	r.kill9()
	r.start()
	if got := routes(); got != before {
		t.Fatalf("after kill -9 and a restart with the file broken, Envoy would be served\n%s\nwas\n%s", got, before)
	}
	fs := r.cp.policyFiles(t)
	if len(fs) != 1 || fs[0].OK || !fs[0].Stale || !fs[0].Restored || len(fs[0].Problems) == 0 || len(fs[0].Apps) != 1 {
		t.Fatalf("/api/v1/policies after the restart: %+v; want the file rejected, its saved version served", fs)
	}
	if ready := r.cp.readyz(t); !strings.Contains(ready, "greeter.yaml: rejected") || !strings.Contains(ready, "saved before the restart") {
		t.Errorf("/readyz says %q; want it to say what is served and why", ready)
	}
	assertShare(t, grpcxds.Dial(t, r.cp.xds, "after", "clients", "greeter.test"), 400, 20, 7)

	// Deleting the file withdraws its apps, across a restart too.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	r.stop()
	r.start()
	if got := routes(); strings.Contains(got, "greeter") {
		t.Fatalf("a deleted file's routes came back after a restart:\n%s", got)
	}
}
