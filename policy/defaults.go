package policy

import (
	"fmt"
	"slices"
	"strings"
)

// defaultRetryOn are the retry conditions of a route that sets retries but
// not retries.on: failures where the request most likely did not reach
// the application, plus 5xx.
var defaultRetryOn = []string{"5xx", "reset", "connect-failure"}

// Defaults fills in every field a policy may leave out. It is the only
// place defaults live; it runs after decoding and before Validate, and
// running it twice changes nothing.
//
//   - hosts defaults to [name]; hosts and header names are lower-cased, as
//     both are compared without regard to case;
//   - a route's name defaults to "route-<index>", counting from 0;
//   - a split of exactly one backend without a weight gets weight 100;
//   - a mirror's percent defaults to 100;
//   - retries.on defaults to ["5xx", "reset", "connect-failure"].
//
// A route without match matches every request; that needs no default.
func (a *App) Defaults() {
	if len(a.Hosts) == 0 && a.Name != "" {
		a.Hosts = []string{a.Name}
	}
	for i, h := range a.Hosts {
		a.Hosts[i] = strings.ToLower(h)
	}
	for i := range a.Routes {
		r := &a.Routes[i]
		if r.Name == "" {
			r.Name = fmt.Sprintf("route-%d", i)
		}
		for j := range r.Match.Headers {
			r.Match.Headers[j].Name = strings.ToLower(r.Match.Headers[j].Name)
		}
		if len(r.Split) == 1 && r.Split[0].Weight == nil {
			w := uint32(100)
			r.Split[0].Weight = &w
		}
		if r.Mirror != nil && r.Mirror.Percent == nil {
			p := 100.0
			r.Mirror.Percent = &p
		}
		if r.Retries != nil && len(r.Retries.On) == 0 {
			r.Retries.On = slices.Clone(defaultRetryOn)
		}
	}
}
