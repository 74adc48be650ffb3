// Package kubee2e runs `shadowplane serve` against a real kube-apiserver
// and etcd (test/kube): policies from ConfigMaps, endpoints from
// EndpointSlices, replicas under leader election. The tests create the
// Services, EndpointSlices and ConfigMaps themselves, as controllers
// would; endpoints use documentation addresses (192.0.2.0/24), which no
// test sends traffic to — what is checked is what is served.
package kubee2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/shadowplane/shadowplane/test/kube"
)

// binary is shadowplane and sampleBinary the sample app, built once for
// the package.
var binary, sampleBinary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "shadowplane-kube-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary, sampleBinary = filepath.Join(dir, "shadowplane"), filepath.Join(dir, "sampleapp")
	build := exec.Command("go", "build", "-o", dir, "github.com/shadowplane/shadowplane/cmd/shadowplane", "github.com/shadowplane/shadowplane/examples/sampleapp")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building shadowplane and sampleapp:", err)
		os.Exit(1)
	}
	kube.Main(m, func() { os.RemoveAll(dir) })
}
