package stats

import "math"

// Normal is an estimate that is asymptotically normal: Estimate with
// Variance (its squared standard error), both from the data so far.
type Normal struct {
	Estimate, Variance float64
}

// NormalAbove is the log of the mixture test martingale against
// "θ ≤ θ0": the estimate's excess over θ0, scaled by the information
// 1/Variance, is treated as a Brownian motion in information time, and
// its likelihood ratios are mixed over drifts δ > 0 with a half-normal
// distribution of scale tau (in the units of θ). tau is the effect size
// the test is tuned for; any effect is detected eventually.
func NormalAbove(e Normal, theta0, tau float64) float64 {
	return halfNormalMixture(e.Estimate-theta0, e.Variance, tau)
}

// NormalBelow is the log test martingale against "θ ≥ θ0".
func NormalBelow(e Normal, theta0, tau float64) float64 {
	return halfNormalMixture(theta0-e.Estimate, e.Variance, tau)
}

// halfNormalMixture is log ∫₀^∞ exp(δW − δ²I/2) dF(δ), F half-normal of
// scale tau, W = diff·I, I = 1/v. In closed form:
// 2/√k · exp(z²/2) · Φ(z), with k = 1 + τ²I and z = τW/√k.
func halfNormalMixture(diff, v, tau float64) float64 {
	if !(v > 0) || math.IsInf(v, 0) || math.IsNaN(diff) {
		return math.Inf(-1)
	}
	info := 1 / v
	k := 1 + tau*tau*info
	z := tau * diff * info / math.Sqrt(k)
	return math.Ln2 - 0.5*math.Log(k) + halfSquarePlusLogPhi(z)
}

// halfSquarePlusLogPhi is z²/2 + log Φ(z), computed without overflow for
// large |z|.
func halfSquarePlusLogPhi(z float64) float64 {
	if z < -20 {
		// Mills' ratio: Φ(z) ≈ φ(z)/|z| · (1 − 1/z²).
		return -math.Log(-z) - 0.5*math.Log(2*math.Pi) + math.Log1p(-1/(z*z))
	}
	return z*z/2 + math.Log(0.5*math.Erfc(-z/math.Sqrt2))
}

// NormalInterval is the anytime-valid interval for θ, each side at level
// alpha. With no information it is (-Inf, +Inf).
func NormalInterval(e Normal, tau, alpha float64) Interval {
	return Interval{Low: NormalLower(e, tau, alpha), High: NormalUpper(e, tau, alpha)}
}

// NormalLower is the largest θ0 that NormalAbove rejects at level alpha
// (-Inf with no information).
func NormalLower(e Normal, tau, alpha float64) float64 {
	if !(e.Variance > 0) || math.IsInf(e.Variance, 0) || math.IsNaN(e.Estimate) {
		return math.Inf(-1)
	}
	t := threshold(alpha)
	return realBoundary(func(th float64) bool { return NormalAbove(e, th, tau) >= t }, e.Estimate, math.Sqrt(e.Variance))
}

// NormalUpper is the smallest θ0 that NormalBelow rejects at level alpha
// (+Inf with no information): the mirror image of NormalLower.
func NormalUpper(e Normal, tau, alpha float64) float64 {
	return -NormalLower(Normal{Estimate: -e.Estimate, Variance: e.Variance}, tau, alpha)
}

// NormalNeed estimates how many samples in all (n so far, the variance
// shrinking as 1/n) would show the estimate, if it stayed where it is, on
// one side of limit. It is n when decided already and +Inf when the
// estimate is at the limit.
func NormalNeed(e Normal, n, limit, tau, alpha float64) float64 {
	if !(e.Variance > 0) || !(n > 0) || e.Estimate == limit {
		return math.Inf(1)
	}
	t := threshold(alpha)
	test := NormalAbove
	if e.Estimate < limit {
		test = NormalBelow
	}
	return SamplesNeeded(n, func(m float64) bool {
		return test(Normal{Estimate: e.Estimate, Variance: e.Variance * n / m}, limit, tau) >= t
	})
}
