// Package e2e runs the shadowplane binary as a user would, with real gRPC
// backends and gRPC-Go's own xDS client routing through it on 127.0.0.1.
package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shadowplane/shadowplane/admin/api"
	"github.com/shadowplane/shadowplane/test/grpcxds"
	"github.com/shadowplane/shadowplane/test/serveproc"
)

// binary is shadowplane; sampleBinary the sample application.
var binary, sampleBinary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "shadowplane-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "shadowplane")
	sampleBinary = filepath.Join(dir, "sampleapp")
	build := exec.Command("go", "build", "-o", dir, "github.com/shadowplane/shadowplane/cmd/shadowplane", "github.com/shadowplane/shadowplane/examples/sampleapp")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building shadowplane and sampleapp:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// controlPlane is a running `shadowplane serve`.
type controlPlane struct {
	xds, admin string
}

func startServe(t *testing.T, policies string) *controlPlane {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	p, err := serveproc.Start(ctx, binary, policies, func(line string) { t.Log("shadowplane: " + line) })
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		p.Wait()
	})
	return &controlPlane{xds: p.XDS, admin: p.Admin}
}

func (cp *controlPlane) get(t *testing.T, path string, v any) int {
	t.Helper()
	resp, err := http.Get(cp.admin + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if v != nil {
		if err := json.Unmarshal(body, v); err != nil {
			t.Fatalf("GET %s: %v in %s", path, err, body)
		}
	}
	return resp.StatusCode
}

func greeterPolicy(v1, v2 *grpcxds.Backend, w1, w2 string) string {
	return fmt.Sprintf(`kind: App
name: greeter
hosts: [greeter.test]
port: 10000
variants:
  - name: v1
    endpoints: [%q]
  - name: v2
    endpoints: [%q]
routes:
  - name: pinned
    match:
      headers:
        - name: x-variant
          exact: v2
    split:
      - variant: v2
  - name: default
    split:
      - variant: v1
        weight: %s
      - variant: v2
        weight: %s
`, v1.Addr, v2.Addr, w1, w2)
}

// writeAtomically saves a file the way many editors do: a temporary file
// renamed into place.
func writeAtomically(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".tmp~"
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// assertShare checks that v2's share over n calls is want ± tol points.
func assertShare(t *testing.T, c *grpcxds.Client, n int, want, tol float64, headers ...string) {
	t.Helper()
	counts, err := c.Split(context.Background(), n, headers...)
	if err != nil {
		t.Fatal(err)
	}
	got := grpcxds.Share(counts, "v2")
	if got < want-tol || got > want+tol {
		t.Fatalf("v2 answered %.1f%% of %d calls (%v), want %.0f ± %.0f", got, n, counts, want, tol)
	}
	t.Logf("v2 answered %.1f%% of %d calls (want %.0f ± %.0f)", got, n, want, tol)
}

// waitShare calls in batches until v2's share is near want, or fails.
func waitShare(t *testing.T, c *grpcxds.Client, want float64) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		counts, err := c.Split(context.Background(), 200)
		if err == nil {
			if got := grpcxds.Share(counts, "v2"); got > want-12 && got < want+12 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("split never moved to %.0f%% v2: last %v, %v", want, counts, err)
		}
	}
}

func TestServeSplitsHeadersAndLiveEdits(t *testing.T) {
	v1, v2 := grpcxds.StartBackend(t, "v1"), grpcxds.StartBackend(t, "v2")
	dir := t.TempDir()
	file := filepath.Join(dir, "greeter.yaml")
	writeAtomically(t, file, greeterPolicy(v1, v2, "80", "20"))

	cp := startServe(t, dir)
	if code := cp.get(t, "/readyz", nil); code != http.StatusOK {
		t.Fatalf("/readyz = %d", code)
	}
	client := grpcxds.Dial(t, cp.xds, "e2e-client", "clients", "greeter.test")

	t.Run("weighted split 80/20", func(t *testing.T) {
		assertShare(t, client, 2000, 20, 4)
	})
	t.Run("header route", func(t *testing.T) {
		assertShare(t, client, 200, 100, 0, "x-variant", "v2")
	})
	t.Run("edit moves the split", func(t *testing.T) {
		writeAtomically(t, file, greeterPolicy(v1, v2, "50", "50"))
		waitShare(t, client, 50)
		assertShare(t, client, 2000, 50, 4)
	})
	t.Run("invalid edit changes nothing and is reported", func(t *testing.T) {
		writeAtomically(t, file, greeterPolicy(v1, v2, "-5", "50"))
		deadline := time.Now().Add(10 * time.Second)
		var problem string
		for problem == "" {
			var st api.PolicyList
			cp.get(t, "/api/v1/policies", &st)
			for _, f := range st.Files {
				if !f.OK && len(f.Problems) > 0 {
					p := f.Problems[0]
					problem = fmt.Sprintf("%s:%d: %s", filepath.Base(p.File), p.Line, p.Message)
				}
			}
			if time.Now().After(deadline) {
				t.Fatal("the invalid file was never reported by /api/v1/policies")
			}
			time.Sleep(20 * time.Millisecond)
		}
		if !strings.HasPrefix(problem, "greeter.yaml:21:") {
			t.Errorf("problem %q does not point at greeter.yaml:21, the bad weight", problem)
		}
		assertShare(t, client, 1000, 50, 5)
	})
	t.Run("proxy is visible with its ACKs", func(t *testing.T) {
		var st api.ProxyList
		cp.get(t, "/api/v1/proxies", &st)
		for _, p := range st.Proxies {
			if p.NodeID != "e2e-client" {
				continue
			}
			if p.Kind != "grpc" {
				t.Errorf("kind = %q, want grpc", p.Kind)
			}
			rc := p.Types["RouteConfiguration"]
			if rc.AckedVersion == "" || rc.AckedVersion != rc.SentVersion {
				t.Errorf("route sent %q, acked %q", rc.SentVersion, rc.AckedVersion)
			}
			return
		}
		t.Fatalf("e2e-client not in /api/v1/proxies: %+v", st)
	})
	t.Run("deleting the file withdraws the app", func(t *testing.T) {
		if err := os.Remove(file); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			if _, err := client.Call(context.Background()); err != nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("calls still succeed after the policy file was deleted")
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
