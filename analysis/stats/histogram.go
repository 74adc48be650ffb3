package stats

import (
	"cmp"
	"math"
	"slices"
	"sort"
)

// Histogram is a classic cumulative histogram, as Prometheus keeps one:
// Counts[i] observations were at most Bounds[i]; Bounds are increasing and
// the last is +Inf; Sum is the sum of every observation. The lower edge of
// the first bucket is taken as 0 (latencies, sizes), or its bound if that
// is ≤ 0.
type Histogram struct {
	Bounds, Counts []float64
	Sum            float64
}

// Total is the number of observations.
func (h Histogram) Total() float64 {
	if len(h.Counts) == 0 {
		return 0
	}
	return h.Counts[len(h.Counts)-1]
}

// Scaled is h with every count and the sum multiplied by f: the same
// shape, f times the data.
func (h Histogram) Scaled(f float64) Histogram {
	out := Histogram{Bounds: h.Bounds, Counts: make([]float64, len(h.Counts)), Sum: h.Sum * f}
	for i, c := range h.Counts {
		out.Counts[i] = c * f
	}
	return out
}

// lowerEdge is the lower edge of bucket i.
func (h Histogram) lowerEdge(i int) float64 {
	switch {
	case i > 0:
		return h.Bounds[i-1]
	case len(h.Bounds) == 0:
		return 0
	}
	return math.Min(0, h.Bounds[0])
}

// finite is the number of buckets with a finite bound.
func (h Histogram) finite() int {
	n := len(h.Bounds)
	if n > 0 && math.IsInf(h.Bounds[n-1], 1) {
		n--
	}
	return n
}

// At is the number of observations at most t, interpolated linearly inside
// a bucket as PromQL's histogram_quantile assumes. Above the last finite
// bound it is that bound's count: nothing is known of the +Inf bucket.
func (h Histogram) At(t float64) float64 {
	f := h.finite()
	if f == 0 {
		return 0
	}
	i := sort.SearchFloat64s(h.Bounds[:f], t) // first bound ≥ t
	if i == f {
		return h.Counts[f-1]
	}
	lo, below := h.lowerEdge(i), 0.0
	if i > 0 {
		below = h.Counts[i-1]
	}
	if t <= lo || h.Bounds[i] == lo {
		return below
	}
	return below + (h.Counts[i]-below)*(t-lo)/(h.Bounds[i]-lo)
}

// Bracket returns the bucket bounds around t — the largest bound at most
// t (or the first bucket's lower edge) and the smallest at least t (+Inf
// past the last finite bound) — and the counts at them. When t is a bound
// both are t.
func (h Histogram) Bracket(t float64) (lo, hi, atLo, atHi float64) {
	f := h.finite()
	i := sort.SearchFloat64s(h.Bounds[:f], t)
	switch {
	case i < f && h.Bounds[i] == t:
		return t, t, h.Counts[i], h.Counts[i]
	case i == f:
		lo, atLo = h.lowerEdge(f), 0.0
		if f > 0 {
			lo, atLo = h.Bounds[f-1], h.Counts[f-1]
		}
		return lo, math.Inf(1), atLo, h.Total()
	}
	lo = h.lowerEdge(i)
	if i > 0 {
		atLo = h.Counts[i-1]
	}
	return lo, h.Bounds[i], atLo, h.Counts[i]
}

// Quantile interpolates the q-quantile like histogram_quantile: the last
// finite bound when it falls in the +Inf bucket; NaN with no data.
func (h Histogram) Quantile(q float64) float64 {
	n, f := h.Total(), h.finite()
	if n <= 0 || f == 0 {
		return math.NaN()
	}
	rank := q * n
	i := sort.Search(f, func(i int) bool { return h.Counts[i] >= rank })
	if i == f {
		return h.Bounds[f-1]
	}
	lo, below := h.lowerEdge(i), 0.0
	if i > 0 {
		below = h.Counts[i-1]
	}
	if h.Counts[i] == below {
		return h.Bounds[i]
	}
	return lo + (h.Bounds[i]-lo)*(rank-below)/(h.Counts[i]-below)
}

// MeanVariance returns the exact mean Sum/Total and the largest variance
// of one observation that the buckets and the sum allow — no assumption on
// how observations sit inside a bucket; the price is an interval wider
// than the data may need. tail is the share of observations past the last
// finite bound.
//
// With every observation in a finite bucket, the largest variance is a
// linear programme: an observation x of bucket [lo, hi] adds (x−μ)², and
// a bucket's observations, of mean m, add at most c·((m−μ)² + (hi−m)(m−lo))
// — linear in m, slope c·(lo+hi−2μ) — while the bucket means must add up
// to the sum. Greedily, every bucket starts with its observations at its
// lower edge and what the sum still holds goes first to the buckets that
// gain most per unit (the ones farthest above the mean).
//
// Past the last bound nothing limits an observation but the sum: all of
// the +Inf bucket's requests but one at the last bound, one taking what
// the finite buckets, at their lower edges, leave; and the finite buckets
// each at their far edge. Looser, and only used when a request lies there.
func (h Histogram) MeanVariance() (mean, variance, tail float64) {
	n, f := h.Total(), h.finite()
	if n <= 0 {
		return math.NaN(), math.NaN(), 0
	}
	mean = h.Sum / n
	type bucket struct{ c, lo, hi float64 }
	var bs []bucket
	below, floor := 0.0, 0.0
	for i := 0; i < f; i++ {
		if c := h.Counts[i] - below; c > 0 {
			bs = append(bs, bucket{c, h.lowerEdge(i), h.Bounds[i]})
			floor += c * h.lowerEdge(i)
		}
		below = h.Counts[i]
	}
	// Counts from Prometheus are extrapolated, so fractional: less than
	// half a request past the last bound is none.
	if c := n - below; c >= 0.5 {
		last := 0.0
		if f > 0 {
			last = h.Bounds[f-1]
		}
		var ss float64
		for _, b := range bs {
			ss += b.c * math.Max((b.lo-mean)*(b.lo-mean), (b.hi-mean)*(b.hi-mean))
		}
		rest := math.Max(h.Sum-floor, c*last)
		others := c - 1
		one := rest - others*last
		ss += others*(last-mean)*(last-mean) + (one-mean)*(one-mean)
		return mean, ss / n, c / n
	}
	// The linear programme over the finite buckets.
	slices.SortFunc(bs, func(a, b bucket) int { return cmp.Compare(b.lo+b.hi, a.lo+a.hi) })
	left := math.Max(h.Sum-floor, 0)
	var ss float64
	for _, b := range bs {
		m := b.lo
		if left > 0 {
			add := math.Min(left, b.c*(b.hi-b.lo))
			m += add / b.c
			left -= add
		}
		ss += b.c * ((m-mean)*(m-mean) + (b.hi-m)*(m-b.lo))
	}
	return mean, ss / n, 0
}

// QuantileUpper is the smallest bucket bound t at which the share of
// observations above t is shown below 1−q at level alpha: the q-quantile
// is at most t, wrongly at most alpha of the time over all looks. Bounds
// only, no interpolation inside a bucket. +Inf if no finite bound does.
func (h Histogram) QuantileUpper(q, alpha float64) float64 {
	n, f := h.Total(), h.finite()
	thr := threshold(alpha)
	for i := 0; i < f; i++ {
		if ProportionBelow(n-h.Counts[i], n, 1-q) >= thr {
			return h.Bounds[i]
		}
	}
	return math.Inf(1)
}

// QuantileLower is the largest bucket bound (or the first bucket's lower
// edge) t at which the share of observations above t is shown above 1−q
// at level alpha: the q-quantile is above t. The first bucket's lower edge
// if none.
func (h Histogram) QuantileLower(q, alpha float64) float64 {
	n, f := h.Total(), h.finite()
	thr := threshold(alpha)
	for i := f - 1; i >= 0; i-- {
		if ProportionAbove(n-h.Counts[i], n, 1-q) >= thr {
			return h.Bounds[i]
		}
	}
	if f == 0 {
		return math.Inf(-1)
	}
	return h.lowerEdge(0)
}
