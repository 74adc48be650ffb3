package server

import (
	"testing"

	"github.com/shadowplane/shadowplane/test/testca"
)

// Certificates for the TLS tests come from test/testca.
type (
	testCA = testca.CA
	leaf   = testca.Leaf
)

func newTestCA(t *testing.T, name string) *testCA { return testca.New(t, name) }

func writeFile(t *testing.T, dir, name string, data []byte) string {
	return testca.WriteFile(t, dir, name, data)
}
