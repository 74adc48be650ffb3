package snapshot

import (
	"fmt"
	"testing"

	"github.com/shadowplane/shadowplane/policy"
	"github.com/shadowplane/shadowplane/xds"
)

// benchModel is n apps, each with three variants, a header-segmented
// canary route and a default route mirroring 40% to a dark variant — the
// seeds' shapes, n times over.
func benchModel(n int) *policy.Model {
	w := func(v uint32) *uint32 { return &v }
	pct := 40.0
	m := &policy.Model{}
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("app-%05d", i)
		m.Apps = append(m.Apps, policy.App{
			Kind: policy.KindApp, Name: name, Hosts: []string{name + ".example"}, Port: 10000 + i%10,
			Variants: []policy.Variant{
				{Name: "v1", Endpoints: []string{fmt.Sprintf("10.%d.%d.1:8080", i/256%256, i%256), fmt.Sprintf("10.%d.%d.2:8080", i/256%256, i%256)}},
				{Name: "v2", Endpoints: []string{fmt.Sprintf("10.%d.%d.3:8080", i/256%256, i%256)}},
				{Name: "dark", Endpoints: []string{fmt.Sprintf("10.%d.%d.4:8080", i/256%256, i%256)}},
			},
			Routes: []policy.Route{
				{
					Name:  "segment",
					Match: policy.Match{Headers: []policy.HeaderMatch{{Name: "country", StringMatch: policy.StringMatch{Exact: "wakanda"}}}},
					Split: []policy.Backend{{Variant: "v1", Weight: w(80)}, {Variant: "v2", Weight: w(20)}},
				},
				{
					Name:   "default",
					Split:  []policy.Backend{{Variant: "v1", Weight: w(100)}},
					Mirror: &policy.Mirror{Variant: "dark", Percent: &pct},
				},
			},
		})
	}
	return m
}

// BenchmarkTranslate measures model → validated, marshalled, versioned
// snapshot for one xds.Envoy group: translation, every ValidateAll, the
// reference checks, Consistent(), marshalling and hashing.
func BenchmarkTranslate(b *testing.B) {
	for _, n := range []int{10, 100, 1000, 10000} {
		m := benchModel(n)
		b.Run(fmt.Sprintf("apps=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				// As Generation.Snapshot does: NewSnapshot validates.
				res, err := xds.Build(m.Apps, xds.Envoy)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := NewSnapshot(res); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
