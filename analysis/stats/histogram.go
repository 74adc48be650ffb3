package stats

import (
	"math"
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

// MeanVariance returns the exact mean Sum/Total and the variance of one
// observation estimated from the buckets: each bucket's observations
// spread evenly over it, and the +Inf bucket's at the mean its share of
// the sum implies (at least the last bound), spread as evenly over twice
// its distance from that bound. It is an assumption, stated: a histogram
// does not record squares.
func (h Histogram) MeanVariance() (mean, variance float64) {
	n, f := h.Total(), h.finite()
	if n <= 0 {
		return math.NaN(), math.NaN()
	}
	mean = h.Sum / n
	var ss, finiteSum, below float64
	for i := 0; i < f; i++ {
		c := h.Counts[i] - below
		below = h.Counts[i]
		if c <= 0 {
			continue
		}
		lo := h.lowerEdge(i)
		mid, w := (lo+h.Bounds[i])/2, h.Bounds[i]-lo
		finiteSum += c * mid
		ss += c * ((mid-mean)*(mid-mean) + w*w/12)
	}
	if c := n - below; c > 0 {
		last := 0.0
		if f > 0 {
			last = h.Bounds[f-1]
		}
		mid := math.Max(last, (h.Sum-finiteSum)/c)
		w := 2 * (mid - last)
		ss += c * ((mid-mean)*(mid-mean) + w*w/12)
	}
	return mean, ss / n
}

// QuantileUpper is the smallest t at which the share of observations above
// t is shown below 1−q at level alpha: the q-quantile is at most t, wrongly
// at most alpha of the time over all looks. +Inf if no finite t does.
func (h Histogram) QuantileUpper(q, alpha float64) float64 {
	n, f := h.Total(), h.finite()
	thr := threshold(alpha)
	holds := func(t float64) bool { return ProportionBelow(n-h.At(t), n, 1-q) >= thr }
	for i := 0; i < f; i++ {
		if !holds(h.Bounds[i]) {
			continue
		}
		lo := h.lowerEdge(i)
		if holds(lo) {
			return lo
		}
		return realSearch(func(t float64) bool { return !holds(t) }, lo, h.Bounds[i])
	}
	return math.Inf(1)
}

// QuantileLower is the largest t at which the share of observations above
// t is shown above 1−q at level alpha: the q-quantile is above t. 0 (or the
// first bucket's lower edge) if none.
func (h Histogram) QuantileLower(q, alpha float64) float64 {
	n, f := h.Total(), h.finite()
	thr := threshold(alpha)
	holds := func(t float64) bool { return ProportionAbove(n-h.At(t), n, 1-q) >= thr }
	for i := f - 1; i >= 0; i-- {
		lo := h.lowerEdge(i)
		if !holds(lo) {
			continue
		}
		if holds(h.Bounds[i]) {
			return h.Bounds[i]
		}
		return realSearch(holds, lo, h.Bounds[i])
	}
	if f == 0 {
		return math.Inf(-1)
	}
	return h.lowerEdge(0)
}

// realSearch bisects [a, b] for where pred turns from true to false, to a
// thousandth of the bucket's width (the interpolation inside it is an
// assumption anyway); pred must be true at a and false at b.
func realSearch(pred func(float64) bool, a, b float64) float64 {
	for range 10 {
		mid := (a + b) / 2
		if pred(mid) {
			a = mid
		} else {
			b = mid
		}
	}
	return (a + b) / 2
}
