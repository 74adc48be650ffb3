package server

import (
	"fmt"
	"net"
	"testing"

	"github.com/shadowplane/shadowplane/internal/tlsfiles"
	"github.com/shadowplane/shadowplane/policy"
	"github.com/shadowplane/shadowplane/test/testca"
	"github.com/shadowplane/shadowplane/xds/server/snapshot"
)

// boundApps is n apps on n/10 clusters, each bound to its cluster's
// identity.
func boundApps(n int) *snapshot.Generation {
	m := &policy.Model{}
	for i := range n {
		c := fmt.Sprintf("cluster-%d", i%(n/10))
		m.Apps = append(m.Apps, policy.App{Name: fmt.Sprintf("app-%d", i), Proxies: policy.Selector{
			Clusters:   []string{c},
			Identities: []string{"spiffe://example.org/ns/default/sa/" + c},
		}})
	}
	return snapshot.NewGeneration(m)
}

// BenchmarkIdentityBindings is the cost per model generation (paid by the
// first stream that sends a node after a change) at 10,000 bound apps.
func BenchmarkIdentityBindings(b *testing.B) {
	gen := boundApps(10000)
	b.ReportAllocs()
	for b.Loop() {
		newIdentityBindings(gen)
	}
}

// BenchmarkIdentityCheck is the cost of checking one node, bound by ten
// apps, against a verified identity.
func BenchmarkIdentityCheck(b *testing.B) {
	bd := newIdentityBindings(boundApps(10000))
	node := envoyNode("front-1", "cluster-7")
	b.ReportAllocs()
	for b.Loop() {
		if err := bd.check("spiffe://example.org/ns/default/sa/cluster-7", node); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTLSConfigCheck is what a handshake pays when CheckEvery has
// passed: reading and comparing the three files.
func BenchmarkTLSConfigCheck(b *testing.B) {
	ca := testca.New(b, "CA")
	f := ca.IssueFiles(b, leaf{IP: net.ParseIP("127.0.0.1"), Server: true})
	r, err := tlsfiles.New(tlsfiles.Files{Cert: f.Cert, Key: f.Key, ClientCA: f.CA}, tlsfiles.Options{CheckEvery: -1})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		r.Config()
	}
}
