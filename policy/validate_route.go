package policy

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// maxWeight bounds one backend's weight; weights are relative, and a
// bound keeps the sum, which Envoy holds in a uint32, far from overflow.
const maxWeight = 1_000_000

// retryConditions are the retry_on values Envoy supports for HTTP routes
// and, for gRPC, its status-based conditions.
var retryConditions = []string{
	"5xx", "gateway-error", "reset", "connect-failure", "envoy-ratelimited",
	"retriable-4xx", "refused-stream", "retriable-status-codes",
	"retriable-headers", "http3-post-connect-failure",
	"cancelled", "deadline-exceeded", "internal", "resource-exhausted", "unavailable",
}

// maxNamesListed bounds the names an "unknown variant" problem lists, so
// that its message stays short however many variants the app has.
const maxNamesListed = 20

func (a *App) variantNames() string {
	n := min(len(a.Variants), maxNamesListed)
	names := make([]string, n)
	for i, v := range a.Variants[:n] {
		names[i] = v.Name
	}
	s := strings.Join(names, ", ")
	if more := len(a.Variants) - n; more > 0 {
		s += fmt.Sprintf(" and %d more", more)
	}
	return s
}

// variantSet is the names of the app's variants, for references to be
// checked in constant time each: a.Variant scans the list, and routes ×
// backends × variants would be cubic.
func (a *App) variantSet() map[string]bool {
	set := make(map[string]bool, len(a.Variants))
	for _, v := range a.Variants {
		set[v.Name] = true
	}
	return set
}

func (a *App) checkVariantRef(fe *fieldErrors, variants map[string]bool, path, name string) {
	if name == "" {
		fe.add(path, "variant is required")
	} else if !variants[name] && len(a.Variants) > 0 { // no variants at all is reported once
		fe.add(path, "unknown variant %q (the app has: %s)", name, a.variantNames())
	}
}

func (a *App) validateSplit(fe *fieldErrors, variants map[string]bool, path string, split []Backend) {
	if len(split) == 0 {
		fe.add(path, "at least one backend is required")
		return
	}
	seen := map[string]int{}
	var total uint64
	complete := true // every weight is set and in range, so the sum means something
	for j, b := range split {
		p := index(path, j)
		a.checkVariantRef(fe, variants, join(p, "variant"), b.Variant)
		if first, dup := seen[b.Variant]; dup && b.Variant != "" {
			fe.add(join(p, "variant"), "variant %q is already in this split (split[%d])", b.Variant, first)
		} else {
			seen[b.Variant] = j
		}
		switch {
		case b.Weight == nil:
			complete = false
			if len(split) > 1 {
				fe.add(join(p, "weight"), "weight is required when a split has more than one backend")
			}
		case *b.Weight > maxWeight:
			complete = false
			fe.add(join(p, "weight"), "weight %d is more than the maximum of %d", *b.Weight, maxWeight)
		default:
			total += uint64(*b.Weight)
		}
	}
	switch {
	case !complete:
	case total == 0:
		fe.add(path, "weights sum to 0: at least one backend needs a positive weight")
	case total > math.MaxUint32:
		fe.add(path, "weights sum to %d, more than %d", total, uint64(math.MaxUint32))
	}
}

// liveWeight is the weight with which the route sends live traffic to
// variant; 0 when it sends none.
func liveWeight(r *Route, variant string) uint32 {
	for _, b := range r.Split {
		if b.Variant == variant && b.Weight != nil {
			return *b.Weight
		}
	}
	return 0
}

func (a *App) validateMirror(fe *fieldErrors, variants map[string]bool, path string, r *Route) {
	m := r.Mirror
	a.checkVariantRef(fe, variants, join(path, "variant"), m.Variant)
	if m.Variant != "" && liveWeight(r, m.Variant) > 0 {
		fe.add(join(path, "variant"), "route %q already sends live traffic to variant %q; mirroring to it as well would send it duplicate requests", r.Name, m.Variant)
	}
	if m.Percent != nil {
		validatePercent(fe, join(path, "percent"), *m.Percent)
	}
}

// validatePercent accepts 0 to 100 in steps of 0.0001: Envoy's mirror
// fraction counts in millionths, and a finer percent would be rounded
// silently.
func validatePercent(fe *fieldErrors, path string, p float64) {
	switch {
	case math.IsNaN(p):
		fe.add(path, "percent must be a number from 0 to 100, got NaN")
	case p < 0 || p > 100:
		fe.add(path, "percent %s is outside 0 to 100", formatPercent(p))
	default:
		if steps := p * 10_000; math.Abs(steps-math.Round(steps)) > 1e-9 {
			fe.add(path, "percent %s is finer than 0.0001, the smallest step Envoy can apply (one request in a million)", formatPercent(p))
		}
	}
}

func formatPercent(p float64) string { return strconv.FormatFloat(p, 'f', -1, 64) }

func validateRetries(fe *fieldErrors, path string, r Retries) {
	if r.Attempts < 1 || r.Attempts > 10 {
		fe.add(join(path, "attempts"), "attempts %d is outside 1 to 10", r.Attempts)
	}
	seen := map[string]int{}
	for i, on := range r.On {
		p := index(join(path, "on"), i)
		if !slices.Contains(retryConditions, on) {
			fe.add(p, "%q is not a retry condition Envoy supports: use one of %s", on, strings.Join(retryConditions, ", "))
		}
		if first, dup := seen[on]; dup {
			fe.add(p, "%q is listed twice (first at on[%d])", on, first)
		} else {
			seen[on] = i
		}
	}
	if r.PerTryTimeout < 0 {
		fe.add(join(path, "perTryTimeout"), "must not be negative, got %v", r.PerTryTimeout)
	}
}
