package compose

import (
	"bufio"
	"go/build"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	line int
	cmd  string // upper case
	args string
}

func parseDockerfile(t *testing.T, path string) []instruction {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var (
		out  []instruction
		cur  strings.Builder
		from int
	)
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if cur.Len() == 0 && (line == "" || strings.HasPrefix(line, "#")) {
			continue
		}
		if strings.HasPrefix(line, "#") { // a comment inside a continued instruction
			continue
		}
		if cur.Len() == 0 {
			from = n
		}
		if cont, ok := strings.CutSuffix(line, `\`); ok {
			cur.WriteString(cont + " ")
			continue
		}
		cur.WriteString(line)
		cmd, args, _ := strings.Cut(cur.String(), " ")
		out = append(out, instruction{line: from, cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args)})
		cur.Reset()
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestDockerfile: the image the compose demo builds has the two binaries
// it runs, built statically from packages that exist, and runs as a
// non-root user.
func TestDockerfile(t *testing.T) {
	root := repoRoot(t)
	ins := parseDockerfile(t, filepath.Join(root, "Dockerfile"))

	// Stages: the last FROM starts the image that ships.
	var last int
	for i, in := range ins {
		if in.cmd == "FROM" {
			last = i
			checkPinned(t, in)
		}
	}
	if strings.Count(strings.Join(cmdsOf(ins), " "), "FROM") < 2 {
		t.Fatalf("want a multi-stage build (a Go stage and a small final stage)")
	}

	// Every `go build` names an existing main package, statically.
	var built []string
	for _, in := range ins[:last] {
		if in.cmd != "RUN" {
			continue
		}
		for _, cmd := range strings.Split(in.args, "&&") {
			f := strings.Fields(cmd)
			i := slices.Index(f, "go")
			if i < 0 || i+1 >= len(f) || f[i+1] != "build" {
				continue
			}
			if !slices.Contains(f, "-trimpath") || !strings.Contains(cmd, `-s -w`) {
				t.Errorf("line %d: %q: want -trimpath and -ldflags \"-s -w\"", in.line, strings.TrimSpace(cmd))
			}
			for _, arg := range f[i+2:] {
				if !strings.HasPrefix(arg, "./") {
					continue
				}
				pkg, err := build.ImportDir(filepath.Join(root, arg), 0)
				if err != nil {
					t.Errorf("line %d: go build %s: %v", in.line, arg, err)
					continue
				}
				if pkg.Name != "main" {
					t.Errorf("line %d: %s is package %s, not a command", in.line, arg, pkg.Name)
				}
				built = append(built, arg)
			}
		}
	}
	slices.Sort(built)
	if want := []string{"./cmd/shadowplane", "./examples/sampleapp"}; !slices.Equal(built, want) {
		t.Errorf("the Dockerfile builds %v, want %v", built, want)
	}
	if !slices.ContainsFunc(ins[:last], func(in instruction) bool {
		return (in.cmd == "ENV" || in.cmd == "ARG" || in.cmd == "RUN") && strings.Contains(in.args, "CGO_ENABLED=0")
	}) {
		t.Errorf("CGO_ENABLED=0 is not set for the build: the final image has no libc")
	}

	// The final stage.
	final := ins[last:]
	var user, entrypoint string
	var copied, exposed []string
	for _, in := range final {
		switch in.cmd {
		case "USER":
			user = in.args
		case "ENTRYPOINT":
			entrypoint = in.args
		case "EXPOSE":
			exposed = append(exposed, strings.Fields(in.args)...)
		case "COPY":
			f := strings.Fields(in.args)
			copied = append(copied, f[len(f)-1])
			if f[len(f)-1] == "/state" && !slices.Contains(f, "--chown=65532:65532") {
				t.Errorf("line %d: /state must belong to the image's user, or a fresh named volume on it is not writable", in.line)
			}
		}
	}
	if u, _, _ := strings.Cut(user, ":"); user == "" || u == "0" || u == "root" {
		t.Errorf("the final stage runs as %q; want a non-root USER such as 65532:65532", user)
	}
	if entrypoint != `["/shadowplane"]` {
		t.Errorf("ENTRYPOINT %s, want [\"/shadowplane\"]", entrypoint)
	}
	for _, want := range []string{"/shadowplane", "/sampleapp", "/state"} {
		if !slices.Contains(copied, want) {
			t.Errorf("the final stage has no %s", want)
		}
	}
	slices.Sort(exposed)
	if !slices.Equal(exposed, []string{"18000", "19000"}) {
		t.Errorf("EXPOSE %v, want 18000 19000", exposed)
	}
}

// digestPinned is IMAGE:TAG@sha256:DIGEST, the digest in full.
var digestPinned = regexp.MustCompile(`^[a-z0-9./_-]+(:[0-9]+)?/?[a-z0-9./_-]*:[A-Za-z0-9._-]+@sha256:[0-9a-f]{64}$`)

// checkPinned refuses a FROM whose image is not pinned by digest.
func checkPinned(t *testing.T, in instruction) {
	t.Helper()
	if p := pinProblem(in.args); p != "" {
		t.Errorf("line %d: %s", in.line, p)
	}
}

// pinProblem says what is wrong with a FROM's arguments, or "". A tag
// alone can be pushed again with other content, so the digest is
// required; the tag stays beside it, for people and updating tools, and
// "latest" says nothing.
func pinProblem(args string) string {
	f := strings.Fields(args)
	for len(f) > 0 && strings.HasPrefix(f[0], "--") { // --platform=...
		f = f[1:]
	}
	if len(f) == 0 {
		return "FROM without an image"
	}
	image := f[0]
	if !digestPinned.MatchString(image) {
		return "base image " + image + " is not pinned by digest: write IMAGE:TAG@sha256:DIGEST (docker buildx imagetools inspect IMAGE:TAG)"
	}
	if ref, _, _ := strings.Cut(image, "@"); strings.HasSuffix(ref, ":latest") {
		return "base image " + image + ": name a version, not latest"
	}
	return ""
}

func TestPinProblem(t *testing.T) {
	digest := "@sha256:" + strings.Repeat("0a", 32)
	for _, c := range []struct {
		args string
		ok   bool
	}{
		{"golang:1.26.8-bookworm" + digest + " AS build", true},
		{"--platform=$BUILDPLATFORM gcr.io/distroless/static-debian12:nonroot" + digest, true},
		{"registry.local:5000/base:1.0" + digest, true},
		{"golang:1.26.8-bookworm AS build", false},
		{"golang" + digest, false},
		{"golang:latest" + digest, false},
		{"golang:1.26.8-bookworm@sha256:abc", false},
	} {
		if got := pinProblem(c.args); (got == "") != c.ok {
			t.Errorf("FROM %s: problem %q, want ok=%v", c.args, got, c.ok)
		}
	}
}

func cmdsOf(ins []instruction) []string {
	var out []string
	for _, in := range ins {
		out = append(out, in.cmd)
	}
	return out
}

// TestDockerignore: the build context leaves out the repository's history
// and local binaries but keeps everything `go build` needs.
func TestDockerignore(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(repoRoot(t), ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	var patterns []string
	for _, l := range strings.Split(string(data), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			patterns = append(patterns, l)
		}
	}
	// Docker matches a pattern against the path from the context root,
	// and excludes everything under a directory it matches; **/ matches
	// any number of leading directories.
	ignored := func(path string) bool {
		for _, p := range patterns {
			p = strings.TrimSuffix(strings.TrimPrefix(p, "/"), "/")
			p, anyDepth := strings.CutPrefix(p, "**/")
			for dir := path; dir != "."; dir = filepath.Dir(dir) {
				if ok, _ := filepath.Match(p, dir); ok {
					return true
				}
				if ok, _ := filepath.Match(p, filepath.Base(dir)); ok && anyDepth {
					return true
				}
			}
		}
		return false
	}
	for _, keep := range []string{"go.mod", "go.sum", "cmd/shadowplane/main.go", "examples/sampleapp/main.go", "policy/schema.json", "xds/bootstrap/bootstrap.go"} {
		if ignored(keep) {
			t.Errorf(".dockerignore leaves out %s, which the build needs", keep)
		}
	}
	for _, drop := range []string{".git/HEAD", "bin/shadowplane", "shadowplane"} {
		if !ignored(drop) {
			t.Errorf(".dockerignore sends %s to the build context", drop)
		}
	}
}
