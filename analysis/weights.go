package analysis

import (
	"slices"

	"github.com/shadowplane/shadowplane/policy"
)

// initialRoute is the experiment's starting point: the route's split as
// the policy writes it, in percent, with the mirror as written.
func initialRoute(r *policy.Route) Route {
	return Route{Split: percentages(r.Split)}
}

// percentages scales weights to sum to 100, by largest remainder so the
// result is exact; a split already in percent is unchanged.
func percentages(split []policy.Backend) []policy.Backend {
	var total uint64
	for _, b := range split {
		total += uint64(weight(b))
	}
	out := make([]policy.Backend, len(split))
	if total == 0 {
		copy(out, split)
		return out
	}
	type rem struct {
		i int
		r uint64
	}
	var sum uint32
	var rems []rem
	for i, b := range split {
		w := uint64(weight(b)) * 100
		out[i] = backend(b.Variant, uint32(w/total))
		sum += uint32(w / total)
		rems = append(rems, rem{i, w % total})
	}
	slices.SortStableFunc(rems, func(a, b rem) int {
		switch {
		case a.r > b.r:
			return -1
		case a.r < b.r:
			return 1
		}
		return 0
	})
	for k := 0; sum < 100; k++ {
		*out[rems[k].i].Weight++
		sum++
	}
	return out
}

func weight(b policy.Backend) uint32 {
	if b.Weight == nil {
		return 0
	}
	return *b.Weight
}

func backend(variant string, w uint32) policy.Backend {
	return policy.Backend{Variant: variant, Weight: &w}
}

// setWeight returns r with variant's weight set to w, taking the
// difference from (or giving it to) the baseline.
func setWeight(r Route, variant, baseline string, w uint32) Route {
	out := Route{MirrorOff: r.MirrorOff}
	cur := r.Weights()
	delta := int64(w) - int64(cur[variant])
	if b := int64(cur[baseline]); delta > b {
		delta = b // the baseline cannot go below zero
	}
	for _, b := range r.Split {
		wt := int64(weight(b))
		switch b.Variant {
		case variant:
			wt += delta
		case baseline:
			wt -= delta
		}
		out.Split = append(out.Split, backend(b.Variant, uint32(wt)))
	}
	return out
}

// nextStep moves a Progressive canary's candidate up by one step, up to
// the maximum weight.
func nextStep(e *policy.Experiment, r Route) Route {
	c := e.Candidates[0]
	w := r.Weights()[c] + e.Steps.StepWeight
	if w > e.Steps.MaxWeight {
		w = e.Steps.MaxWeight
	}
	return setWeight(r, c, e.Baseline, w)
}

// promoted gives the winner the whole route: the split and the mirror are
// removed, as if the policy named only the winner.
func promoted(winner string) Route {
	return Route{Split: []policy.Backend{backend(winner, 100)}, MirrorOff: true}
}

// rolledBack takes every candidate's traffic back to the baseline and
// withdraws a mirror that feeds a candidate. A Conformance experiment has
// no baseline: the candidate keeps whatever live share the policy gave it
// unless other backends can take it.
func rolledBack(e *policy.Experiment, pr *policy.Route, r Route) Route {
	out := r
	for _, c := range e.Candidates {
		if e.Baseline != "" {
			out = setWeight(out, c, e.Baseline, 0)
			continue
		}
		var others uint32
		for v, w := range out.Weights() {
			if v != c {
				others += w
			}
		}
		if others > 0 {
			out = zeroAndRescale(out, c)
		}
	}
	if pr.Mirror != nil && slices.Contains(e.Candidates, pr.Mirror.Variant) {
		out.MirrorOff = true
	}
	return out
}

// zeroAndRescale sets variant to 0 and rescales the rest to 100.
func zeroAndRescale(r Route, variant string) Route {
	split := make([]policy.Backend, 0, len(r.Split))
	for _, b := range r.Split {
		w := weight(b)
		if b.Variant == variant {
			w = 0
		}
		split = append(split, backend(b.Variant, w))
	}
	return Route{Split: percentages(split), MirrorOff: r.MirrorOff}
}
