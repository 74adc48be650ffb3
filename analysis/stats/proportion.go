package stats

import (
	"math"

	"gonum.org/v1/gonum/mathext"
)

// The mixing prior over the alternative rates: Jeffreys' Beta(½, ½). It
// has no tuning parameter, and its mass near 0 and 1 makes it quick to
// tell rare events (errors, slow requests) from a limit of a few percent.
const priorA, priorB = 0.5, 0.5

var priorLogBeta = mathext.Lbeta(priorA, priorB)

// ProportionAbove is the log of the test martingale against "p ≤ p0"
// after x events in n trials: evidence that the rate is above p0. The
// mixture is over the prior restricted to (p0, 1], so the martingale is a
// supermartingale under every rate ≤ p0, even one that changes over time.
// x and n may be fractional (Prometheus' increase() extrapolates).
func ProportionAbove(x, n, p0 float64) float64 {
	x, n = clampCounts(x, n)
	switch {
	case p0 <= 0:
		if x > 0 {
			return math.Inf(1)
		}
		return math.Inf(-1)
	case p0 >= 1:
		return math.Inf(-1)
	}
	if n == 0 || p0 >= x/n {
		// Every likelihood ratio in the mixture (q > p0 ≥ the rate seen)
		// is below 1: no evidence. Returning early also keeps the tail
		// below out of reach of incomplete-beta underflow, which there
		// would make up evidence.
		return math.Inf(-1)
	}
	y := n - x
	// P(q > p0) under the posterior and under the prior.
	post := mathext.RegIncBeta(priorB+y, priorA+x, 1-p0)
	prior := mathext.RegIncBeta(priorB, priorA, 1-p0)
	return mixture(x, y, p0) + math.Log(post) - math.Log(prior)
}

// ProportionBelow is the log of the test martingale against "p ≥ p0":
// evidence that the rate is below p0.
func ProportionBelow(x, n, p0 float64) float64 {
	x, n = clampCounts(x, n)
	switch {
	case p0 >= 1:
		if n-x > 0 {
			return math.Inf(1)
		}
		return math.Inf(-1)
	case p0 <= 0:
		return math.Inf(-1)
	}
	if n == 0 || p0 <= x/n {
		return math.Inf(-1) // as in ProportionAbove, mirrored
	}
	y := n - x
	post := mathext.RegIncBeta(priorA+x, priorB+y, p0)
	prior := mathext.RegIncBeta(priorA, priorB, p0)
	return mixture(x, y, p0) + math.Log(post) - math.Log(prior)
}

// mixture is the log of the unrestricted Beta-binomial mixture's
// likelihood ratio against p0.
func mixture(x, y, p0 float64) float64 {
	return mathext.Lbeta(priorA+x, priorB+y) - priorLogBeta - x*math.Log(p0) - y*math.Log1p(-p0)
}

// clampCounts keeps counts in range. Callers must not pass NaN or
// infinite counts (the analysis reports them as a source down); here they
// count as no data, which shows nothing either way.
func clampCounts(x, n float64) (float64, float64) {
	if n < 0 || math.IsNaN(n) || math.IsInf(n, 0) || math.IsNaN(x) || math.IsInf(x, 0) {
		return 0, 0
	}
	if x < 0 || math.IsNaN(x) {
		x = 0
	}
	if x > n {
		x = n
	}
	return x, n
}

// ProportionInterval is the anytime-valid interval for a rate after x
// events in n trials, each side at level alpha.
func ProportionInterval(x, n, alpha float64) Interval {
	return Interval{Low: ProportionLower(x, n, alpha), High: ProportionUpper(x, n, alpha)}
}

// ProportionLower is the largest p0 that ProportionAbove rejects at level
// alpha, or 0 if none: the rate is above it, wrongly at most alpha of the
// time over all looks.
func ProportionLower(x, n, alpha float64) float64 {
	x, n = clampCounts(x, n)
	t := threshold(alpha)
	if ProportionAbove(x, n, tiny) < t {
		return 0
	}
	lo, _ := boundary(func(p float64) bool { return ProportionAbove(x, n, p) >= t }, tiny, 1-tiny)
	return lo // rejected: the rate is shown above it
}

// ProportionUpper is the smallest p0 that ProportionBelow rejects at level
// alpha, or 1 if none.
func ProportionUpper(x, n, alpha float64) float64 {
	x, n = clampCounts(x, n)
	t := threshold(alpha)
	if ProportionBelow(x, n, 1-tiny) < t {
		return 1
	}
	_, hi := boundary(func(p float64) bool { return ProportionBelow(x, n, p) < t }, tiny, 1-tiny)
	return hi // rejected: the rate is shown below it
}

// ProportionNeed estimates how many trials in all would decide between a
// rate and limit if events kept coming at the rate seen so far (x of n):
// the n' at which the rate would be shown below the limit (or above it).
// It is +Inf when the rate seen is the limit, and n itself when the
// question is decided already. With no events yet it assumes none come.
func ProportionNeed(x, n, limit, alpha float64) float64 {
	x, n = clampCounts(x, n)
	if n <= 0 || limit <= 0 || limit >= 1 {
		return math.Inf(1)
	}
	rate := x / n
	t := threshold(alpha)
	var decided func(m float64) bool
	switch {
	case rate < limit:
		decided = func(m float64) bool { return ProportionBelow(rate*m, m, limit) >= t }
	case rate > limit:
		decided = func(m float64) bool { return ProportionAbove(rate*m, m, limit) >= t }
	default:
		return math.Inf(1)
	}
	return SamplesNeeded(n, decided)
}
