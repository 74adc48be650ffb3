package analysis

import (
	"strings"
	"testing"

	"github.com/shadowplane/shadowplane/policy"
)

func TestRemovalWarning(t *testing.T) {
	w := func(n uint32) *uint32 { return &n }
	policyRoute := &policy.Route{Name: "all", Split: []policy.Backend{{Variant: "v1", Weight: w(100)}, {Variant: "v2", Weight: w(0)}},
		Mirror: &policy.Mirror{Variant: "v2"}}
	promoted := Route{Split: []policy.Backend{{Variant: "v2", Weight: w(100)}}, MirrorOff: true}
	st := func(stage Stage, r Route, winner string) *State {
		return &State{Experiment: "shop-canary", Spec: policy.Experiment{App: "shop", Route: "all"}, Stage: stage, Route: r, Winner: winner}
	}
	for _, tc := range []struct {
		name string
		st   *State
		pr   *policy.Route
		want string // "" for no warning, else a part of it
	}{
		{"promoted, policy says v1", st(Completed, promoted, "v2"), policyRoute,
			"shop/all: experiment shop-canary promoted v2 to 100 and turned the mirror off, but the policy says v1 100 and a mirror to v2: removing the experiment moves traffic back; write the weights with `shadowplane promote shop-canary --write`"},
		{"rolled back to what the policy says", st(RolledBack, Route{Split: policyRoute.Split}, ""), policyRoute, ""},
		{"rolled back elsewhere", st(RolledBack, Route{Split: []policy.Backend{{Variant: "v1", Weight: w(90)}, {Variant: "v2", Weight: w(10)}}}, ""), policyRoute,
			"ended RolledBack serving v1 90, v2 10, but the policy says v1 100: removing the experiment moves traffic"},
		{"running: weights not final", st(Running, promoted, ""), policyRoute, ""},
		{"written back (v1 kept at 0)", st(Completed, Route{Split: []policy.Backend{{Variant: "v2", Weight: w(100)}}}, "v2"),
			&policy.Route{Split: []policy.Backend{{Variant: "v1", Weight: w(0)}, {Variant: "v2", Weight: w(100)}}}, ""},
		{"route gone from the policy", st(Completed, promoted, "v2"), nil, ""},
	} {
		got := RemovalWarning(tc.st, tc.pr)
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("%s: RemovalWarning = %q, want %q", tc.name, got, tc.want)
		}
	}
}
