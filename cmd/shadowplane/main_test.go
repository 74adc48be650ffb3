package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func runCmd(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestValidateExamplesPass(t *testing.T) {
	files, _ := filepath.Glob("../../examples/*/app.yaml")
	if len(files) < 5 {
		t.Fatalf("only %d policy examples", len(files))
	}
	for _, f := range files {
		dir := filepath.Dir(f)
		if code, out, errs := runCmd(t, "validate", dir); code != 0 || !strings.HasPrefix(out, "ok:") {
			t.Errorf("validate %s = %d\n%s%s", dir, code, out, errs)
		}
	}
}

// Every broken policy under testdata is rejected with exit status 1 and a
// file:line: message naming the line its "# want:" comment gives.
func TestValidateRejectsEachBrokenPolicy(t *testing.T) {
	files, _ := filepath.Glob("../../policy/testdata/bad/*.yaml")
	if len(files) < 20 {
		t.Fatalf("only %d broken policies found", len(files))
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		first, _, _ := strings.Cut(string(data), "\n")
		want, ok := strings.CutPrefix(first, "# want: ")
		if !ok {
			t.Fatalf("%s: first line has no '# want:'", f)
		}
		line, _, _ := strings.Cut(want, ":")
		code, out, _ := runCmd(t, "validate", f)
		if code != 1 {
			t.Errorf("validate %s = exit %d, want 1", f, code)
		}
		if !strings.Contains(out, f+":"+line+":") {
			t.Errorf("validate %s printed %q, want a problem at line %s", f, out, line)
		}
	}
}

func TestValidateMissingPath(t *testing.T) {
	code, out, _ := runCmd(t, "validate", "does/not/exist")
	if code != 1 || !strings.Contains(out, "does/not/exist: no such file or directory") {
		t.Errorf("validate of a missing path = %d %q", code, out)
	}
}

// render prints, for each example, the mirror and split of the seed it
// reproduces.
func TestRenderExamples(t *testing.T) {
	cases := map[string][]string{
		"mirroring":      {"numerator: 400000", "denominator: MILLION", "cluster: sample-app_v2", "runtime_key: shadowplane.mirror.sample-app.default"},
		"mirror-full":    {"numerator: 1000000"},
		"canary-segment": {"name: country", "exact: wakanda", "name: sample-app_v2", "weight: 0", "weight: 100"},
		"auto-mirror":    {"cluster: httpbin_v1"},
		"split":          {"weighted_clusters"},
	}
	for example, wants := range cases {
		code, out, errs := runCmd(t, "render", "--policies", "../../examples/"+example)
		if code != 0 {
			t.Fatalf("render %s = %d: %s", example, code, errs)
		}
		for _, w := range wants {
			if !strings.Contains(out, w) {
				t.Errorf("render %s: no %q in output", example, w)
			}
		}
		if example == "auto-mirror" && strings.Contains(out, "request_mirror_policies") {
			t.Errorf("render auto-mirror: a mirror to the undeployed v2 was rendered")
		}
	}
}

func TestRenderForNodeJSON(t *testing.T) {
	code, out, errs := runCmd(t, "render", "--policies", "../../examples/split", "--node", "g1", "--kind", "grpc", "-o", "json")
	if code != 0 {
		t.Fatalf("render = %d: %s", code, errs)
	}
	if !strings.Contains(out, `"group": "grpc"`) || !strings.Contains(out, `"api_listener"`) {
		t.Errorf("render for a gRPC node lacks its api_listener:\n%s", out)
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{{}, {"nope"}, {"serve"}, {"render"}, {"validate"}, {"render", "--policies", "x", "-o", "xml"}} {
		if code, _, _ := runCmd(t, args...); code != 2 {
			t.Errorf("shadowplane %v = exit %d, want 2", args, code)
		}
	}
}

// serve with its admin port taken fails with a clear error and returns,
// rather than hang on its experiment loops.
func TestServeReturnsWhenAPortIsTaken(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	done := make(chan int, 1)
	var errb bytes.Buffer
	go func() {
		done <- run(context.Background(), []string{"serve", "--policies", "../../examples/canary-segment",
			"--state-dir", t.TempDir(), "--xds-addr", "127.0.0.1:0", "--admin-addr", l.Addr().String()}, io.Discard, &errb)
	}()
	select {
	case code := <-done:
		if code != 1 || !strings.Contains(errb.String(), "admin address") {
			t.Fatalf("exit %d: %s", code, errb.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve hung with its admin port taken")
	}
}
