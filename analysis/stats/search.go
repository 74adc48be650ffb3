package stats

import "math"

// Interval is a pair of one-sided anytime-valid bounds. A bound that the
// data cannot give is infinite (or 0 and 1 for a rate).
type Interval struct {
	Low, High float64
}

// tiny keeps rates off 0 and 1, where the tests' logs are infinite.
const tiny = 1e-12

// threshold is where a test martingale's log rejects at level alpha:
// log(1/alpha), by Ville's inequality.
func threshold(alpha float64) float64 { return -math.Log(alpha) }

// boundary finds, in (a, b) ⊂ (0, 1), where pred turns from true to false,
// by bisection on the logit scale so that small rates keep their relative
// precision. pred must be true at a and false at b. It returns the last
// point found true and the first found false, about 1e-6 apart on the
// logit scale: callers take the end that keeps their bound safe.
func boundary(pred func(float64) bool, a, b float64) (lastTrue, firstFalse float64) {
	logit := func(p float64) float64 { return math.Log(p / (1 - p)) }
	expit := func(l float64) float64 { return 1 / (1 + math.Exp(-l)) }
	lo, hi := logit(a), logit(b)
	for range 48 {
		mid := (lo + hi) / 2
		if pred(expit(mid)) {
			lo = mid
		} else {
			hi = mid
		}
		if hi-lo < 1e-6 {
			break
		}
	}
	return expit(lo), expit(hi)
}

// realBoundary finds where pred turns from true to false on the real
// line, starting from a point x where it is false and stepping down by
// step (doubled until pred holds) to bracket the change. It returns the
// last point found true, or -Inf if pred never holds within a sane range.
func realBoundary(pred func(float64) bool, x, step float64) float64 {
	if step <= 0 || math.IsInf(step, 0) || math.IsNaN(step) {
		return math.Inf(-1)
	}
	lo := x - step
	for i := 0; !pred(lo); i++ {
		if i > 60 {
			return math.Inf(-1)
		}
		step *= 2
		lo = x - step
	}
	hi := lo + step/2
	if pred(hi) {
		lo, hi = hi, x
	}
	for range 60 {
		mid := (lo + hi) / 2
		if pred(mid) {
			lo = mid
		} else {
			hi = mid
		}
		if hi-lo <= 1e-9*math.Max(1, math.Abs(lo)) {
			break
		}
	}
	return lo
}

// SamplesNeeded finds, to about 1 %, the smallest m ≥ n for which decided
// holds, or +Inf beyond 10¹² trials. decided must be monotone: once more
// data decide, yet more do too.
func SamplesNeeded(n float64, decided func(m float64) bool) float64 {
	if n < 1 {
		n = 1
	}
	if decided(n) {
		return n
	}
	lo, hi := n, 2*n
	for !decided(hi) {
		if hi > 1e12 {
			return math.Inf(1)
		}
		lo, hi = hi, 2*hi
	}
	for hi-lo > 0.01*lo && hi-lo > 1 {
		mid := (lo + hi) / 2
		if decided(mid) {
			hi = mid
		} else {
			lo = mid
		}
	}
	return math.Ceil(hi)
}
