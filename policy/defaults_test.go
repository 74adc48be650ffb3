package policy

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func ptr[T any](v T) *T { return &v }

func TestDefaults(t *testing.T) {
	tests := []struct {
		name string
		in   App
		want App
	}{{
		name: "hosts default to the name",
		in:   App{Name: "web"},
		want: App{Name: "web", Hosts: []string{"web"}},
	}, {
		name: "hosts are lower-cased",
		in:   App{Name: "web", Hosts: []string{"Example.COM"}},
		want: App{Name: "web", Hosts: []string{"example.com"}},
	}, {
		name: "route names count from 0",
		in:   App{Name: "web", Routes: []Route{{Name: "first"}, {}}},
		want: App{Name: "web", Hosts: []string{"web"}, Routes: []Route{{Name: "first"}, {Name: "route-1"}}},
	}, {
		name: "a lone backend weighs 100",
		in:   App{Name: "web", Routes: []Route{{Name: "r", Split: []Backend{{Variant: "v1"}}}}},
		want: App{Name: "web", Hosts: []string{"web"}, Routes: []Route{{Name: "r", Split: []Backend{{Variant: "v1", Weight: ptr[uint32](100)}}}}},
	}, {
		name: "a lone backend keeps its weight, even 0",
		in:   App{Name: "web", Routes: []Route{{Name: "r", Split: []Backend{{Variant: "v1", Weight: ptr[uint32](0)}}}}},
		want: App{Name: "web", Hosts: []string{"web"}, Routes: []Route{{Name: "r", Split: []Backend{{Variant: "v1", Weight: ptr[uint32](0)}}}}},
	}, {
		name: "two backends get no weights",
		in:   App{Name: "web", Routes: []Route{{Name: "r", Split: []Backend{{Variant: "v1"}, {Variant: "v2"}}}}},
		want: App{Name: "web", Hosts: []string{"web"}, Routes: []Route{{Name: "r", Split: []Backend{{Variant: "v1"}, {Variant: "v2"}}}}},
	}, {
		name: "mirror percent defaults to 100",
		in:   App{Name: "web", Routes: []Route{{Name: "r", Mirror: &Mirror{Variant: "v2"}}}},
		want: App{Name: "web", Hosts: []string{"web"}, Routes: []Route{{Name: "r", Mirror: &Mirror{Variant: "v2", Percent: ptr(100.0)}}}},
	}, {
		name: "mirror percent 0 stays 0",
		in:   App{Name: "web", Routes: []Route{{Name: "r", Mirror: &Mirror{Variant: "v2", Percent: ptr(0.0)}}}},
		want: App{Name: "web", Hosts: []string{"web"}, Routes: []Route{{Name: "r", Mirror: &Mirror{Variant: "v2", Percent: ptr(0.0)}}}},
	}, {
		name: "retries.on defaults",
		in:   App{Name: "web", Routes: []Route{{Name: "r", Retries: &Retries{Attempts: 2}}}},
		want: App{Name: "web", Hosts: []string{"web"}, Routes: []Route{{Name: "r", Retries: &Retries{Attempts: 2, On: []string{"5xx", "reset", "connect-failure"}}}}},
	}, {
		name: "header names are lower-cased",
		in:   App{Name: "web", Routes: []Route{{Name: "r", Match: Match{Headers: []HeaderMatch{{Name: "X-User", Present: true}}}}}},
		want: App{Name: "web", Hosts: []string{"web"}, Routes: []Route{{Name: "r", Match: Match{Headers: []HeaderMatch{{Name: "x-user", Present: true}}}}}},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.in
			got.Defaults()
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Defaults() mismatch (-want +got):\n%s", diff)
			}
			again := got
			again.Defaults()
			if diff := cmp.Diff(got, again); diff != "" {
				t.Errorf("Defaults() is not idempotent (-first +second):\n%s", diff)
			}
		})
	}
}

func TestDefaultRetryOnIsNotShared(t *testing.T) {
	a := App{Name: "web", Routes: []Route{{Retries: &Retries{Attempts: 1}}}}
	a.Defaults()
	a.Routes[0].Retries.On[0] = "changed"
	if defaultRetryOn[0] != "5xx" {
		t.Fatal("Defaults shares its default slice with the app")
	}
}
