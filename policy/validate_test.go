package policy

import (
	"errors"
	"math"
	"strings"
	"testing"
)

// validApp returns a small app that passes Validate, for cases to break.
func validApp() App {
	a := App{
		Kind: KindApp,
		Name: "web",
		Port: 10000,
		Variants: []Variant{
			{Name: "v1", Endpoints: []string{"127.0.0.1:9001"}},
			{Name: "v2", Endpoints: []string{"127.0.0.1:9002"}},
		},
		Routes: []Route{{
			Name:   "default",
			Split:  []Backend{{Variant: "v1"}},
			Mirror: &Mirror{Variant: "v2"},
		}},
	}
	a.Defaults()
	return a
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*App)
		// want holds "path: message" substrings, one per expected problem;
		// empty for a valid app.
		want []string
	}{
		{name: "valid", modify: func(*App) {}},
		{name: "kind may be empty in code", modify: func(a *App) { a.Kind = "" }},
		{name: "percent 0 is valid", modify: func(a *App) { a.Routes[0].Mirror.Percent = ptr(0.0) }},
		{name: "percent 100 is valid", modify: func(a *App) { a.Routes[0].Mirror.Percent = ptr(100.0) }},
		{name: "percent in steps of 0.0001", modify: func(a *App) { a.Routes[0].Mirror.Percent = ptr(33.3333) }},
		{name: "percent 0.0001", modify: func(a *App) { a.Routes[0].Mirror.Percent = ptr(0.0001) }},
		{
			name:   "percent finer than 0.0001",
			modify: func(a *App) { a.Routes[0].Mirror.Percent = ptr(33.33333) },
			want:   []string{"routes[0].mirror.percent: percent 33.33333 is finer than 0.0001"},
		},
		{
			name:   "percent infinite",
			modify: func(a *App) { a.Routes[0].Mirror.Percent = ptr(math.Inf(1)) },
			want:   []string{"routes[0].mirror.percent: percent +Inf is outside 0 to 100"},
		},
		{
			name: "mirror to a variant with weight 0 in the split is allowed",
			modify: func(a *App) {
				a.Routes[0].Split = []Backend{{Variant: "v1", Weight: ptr[uint32](1)}, {Variant: "v2", Weight: ptr[uint32](0)}}
			},
		},
		{
			name:   "mirror to a variant without endpoints is allowed",
			modify: func(a *App) { a.Variants[1].Endpoints = nil },
		},
		{
			name:   "ipv6 endpoints",
			modify: func(a *App) { a.Variants[0].Endpoints = []string{"[::1]:9001", "127.0.0.1:9001"} },
		},
		{
			name: "weights summing past uint32",
			modify: func(a *App) {
				// Each weight is within the limit; their sum is not.
				split := make([]Backend, 0, 4300)
				for range 4300 {
					split = append(split, Backend{Variant: "v1", Weight: ptr[uint32](maxWeight)})
				}
				a.Routes[0].Split = split
				a.Routes[0].Mirror = nil
			},
			// The repeated variant is reported too; the sum once.
			want: append(repeat("is already in this split", 4299), "routes[0].split: weights sum to 4300000000, more than 4294967295"),
		},
		{
			name: "every problem is reported",
			modify: func(a *App) {
				a.Name = "Web"
				a.Port = -1
				a.Variants[1].DNS = "v2:80"
				a.Routes[0].Timeout = -1
				a.Routes = append(a.Routes, Route{Name: "default", Split: []Backend{{Variant: "v9", Weight: ptr[uint32](1)}}})
			},
			want: []string{
				`name: "Web" is not a valid app name`,
				"port: -1 is not a port",
				"variants[1]: set one of endpoints, dns or service, not 2",
				"routes[0].timeout: must not be negative",
				`routes[1].name: route "default" is declared twice`,
				`routes[1].split[0].variant: unknown variant "v9"`,
				`routes[1].match: route "default" is unreachable: route "default" before it matches every request`,
			},
		},
		{
			name:   "without defaults, defaulted fields are missing",
			modify: func(a *App) { a.Hosts = nil; a.Routes[0].Name = "" },
			want:   []string{"hosts: at least one host is required", "routes[0].name: route name is required"},
		},
		{
			name:   "apiVersion",
			modify: func(a *App) { a.APIVersion = "v1" },
			want:   []string{`apiVersion: "v1" is not supported`},
		},
		{
			name: "path prefix / makes later routes unreachable",
			modify: func(a *App) {
				a.Routes[0].Match.Path = &StringMatch{Prefix: "/"}
				a.Routes = append(a.Routes, Route{Name: "later", Match: Match{Methods: []string{"GET"}}, Split: []Backend{{Variant: "v1", Weight: ptr[uint32](1)}}})
			},
			want: []string{`routes[1].match: route "later" is unreachable: route "default" before it matches every request`},
		},
		{
			name: "different matches are reachable",
			modify: func(a *App) {
				a.Routes = []Route{
					{Name: "a", Match: Match{Methods: []string{"GET"}}, Split: []Backend{{Variant: "v1", Weight: ptr[uint32](1)}}},
					{Name: "b", Match: Match{Methods: []string{"GET", "POST"}}, Split: []Backend{{Variant: "v1", Weight: ptr[uint32](1)}}},
					{Name: "c", Match: Match{Headers: []HeaderMatch{{Name: "x", Present: true}}}, Split: []Backend{{Variant: "v1", Weight: ptr[uint32](1)}}},
					{Name: "d", Match: Match{Headers: []HeaderMatch{{Name: "x", StringMatch: StringMatch{Exact: "1"}}}}, Split: []Backend{{Variant: "v1", Weight: ptr[uint32](1)}}},
					{Name: "e", Split: []Backend{{Variant: "v1", Weight: ptr[uint32](1)}}},
				}
			},
		},
		{
			name: "pseudo-header match",
			modify: func(a *App) {
				a.Routes[0].Match.Headers = []HeaderMatch{{Name: ":authority", StringMatch: StringMatch{Exact: "example.com"}}}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := validApp()
			tt.modify(&a)
			err := a.Validate()
			var got []string
			if err != nil {
				for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
					var fe FieldError
					if !errors.As(e, &fe) {
						t.Errorf("%v is not a FieldError", e)
					}
					got = append(got, e.Error())
				}
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d problems, want %d:\n%s", len(got), len(tt.want), strings.Join(got, "\n"))
			}
			for i := range got {
				if !strings.Contains(got[i], tt.want[i]) {
					t.Errorf("problem %d = %q, want it to contain %q", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func repeat(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}
