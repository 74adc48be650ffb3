package k8s

import (
	"testing"

	"github.com/shadowplane/shadowplane/test/kube"
)

// TestMain runs the package's tests with the real API server of
// test/kube, stopped at the end.
func TestMain(m *testing.M) { kube.Main(m) }
