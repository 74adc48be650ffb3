package analysis

import (
	"fmt"
	"math"

	"github.com/shadowplane/shadowplane/analysis/stats"
)

// A measure is a quantity an objective limits, with what the data say of
// it: an estimate, and anytime-valid one-sided bounds at any level. Each
// kind of metric has its own (see the constructors); docs/experiments.md
// says in words what each assumes.
type measure interface {
	estimate() float64
	// lower is a bound the quantity is above, wrongly at most alpha of
	// the time over all looks; upper one it is below.
	lower(alpha float64) float64
	upper(alpha float64) float64
	// above and below test the quantity against v at level alpha. They
	// agree with lower and upper (above(v) ⇔ lower(alpha) > v, below(v) ⇔
	// upper(alpha) < v) but cost one evaluation instead of a search.
	above(v, alpha float64) bool
	below(v, alpha float64) bool
	// scaled is the measure with f times the data in the same
	// proportions, to say how much more data would decide.
	scaled(f float64) measure
}

// Mixing scales of the normal tests, on the log scale of a mean or a
// ratio: tuned for effects of about 20 %, the size of limits people set
// on latency (a mean under 1.2× the baseline's). Any effect is found in
// the end; this one soonest.
const logTau = 0.2

// rate is a proportion of requests: errors over requests, or requests
// beyond a latency. Values are scale × the proportion.
type rate struct {
	x, n, scale float64
}

func (r rate) estimate() float64 {
	if r.n <= 0 {
		return 0
	}
	return r.scale * r.x / r.n
}
func (r rate) lower(a float64) float64 { return r.scale * stats.ProportionLower(r.x, r.n, a) }
func (r rate) upper(a float64) float64 { return r.scale * stats.ProportionUpper(r.x, r.n, a) }
func (r rate) above(v, a float64) bool {
	return stats.ProportionAbove(r.x, r.n, v/r.scale) >= -math.Log(a)
}
func (r rate) below(v, a float64) bool {
	return stats.ProportionBelow(r.x, r.n, v/r.scale) >= -math.Log(a)
}
func (r rate) scaled(f float64) measure { return rate{x: r.x * f, n: r.n * f, scale: r.scale} }

// share is the proportion of requests beyond a latency limit read from a
// histogram. When the limit falls inside a bucket, only the requests past
// the bucket are surely beyond it (sure), and all of the bucket's may be
// (maybe): failing is judged on the first, passing on the second, and the
// estimate interpolates.
type share struct {
	sure, maybe, est, n, scale float64
}

func (s share) estimate() float64 {
	if s.n <= 0 {
		return 0
	}
	return s.scale * s.est / s.n
}
func (s share) lower(a float64) float64 { return rate{s.sure, s.n, s.scale}.lower(a) }
func (s share) upper(a float64) float64 { return rate{s.maybe, s.n, s.scale}.upper(a) }
func (s share) above(v, a float64) bool { return rate{s.sure, s.n, s.scale}.above(v, a) }
func (s share) below(v, a float64) bool { return rate{s.maybe, s.n, s.scale}.below(v, a) }
func (s share) scaled(f float64) measure {
	return share{sure: s.sure * f, maybe: s.maybe * f, est: s.est * f, n: s.n * f, scale: s.scale}
}

// logNormal is a positive quantity judged on the log scale, where its
// estimate is asymptotically normal: a mean latency (the log of the sample
// mean), or a ratio of two (the difference of their logs). Bounds are
// exponentiated back.
type logNormal struct {
	est  float64 // log of the quantity
	v    float64 // variance of est
	size float64 // samples behind est, for scaled
}

func (l logNormal) normal() stats.Normal { return stats.Normal{Estimate: l.est, Variance: l.v} }
func (l logNormal) estimate() float64    { return math.Exp(l.est) }
func (l logNormal) lower(a float64) float64 {
	return math.Exp(stats.NormalLower(l.normal(), logTau, a))
}
func (l logNormal) upper(a float64) float64 {
	return math.Exp(stats.NormalUpper(l.normal(), logTau, a))
}
func (l logNormal) above(v, a float64) bool {
	return v <= 0 || stats.NormalAbove(l.normal(), math.Log(v), logTau) >= -math.Log(a)
}
func (l logNormal) below(v, a float64) bool {
	return v > 0 && stats.NormalBelow(l.normal(), math.Log(v), logTau) >= -math.Log(a)
}
func (l logNormal) scaled(f float64) measure {
	return logNormal{est: l.est, v: l.v / f, size: l.size * f}
}

// histogram turns an observation's buckets into a stats.Histogram.
func histogram(o Observation) stats.Histogram {
	h := stats.Histogram{Sum: o.Sum}
	for _, b := range o.Buckets {
		h.Bounds = append(h.Bounds, b.UpperBound)
		h.Counts = append(h.Counts, b.Count)
	}
	return h
}

// meanOf is a Mean metric's log-mean measure, or why there is none: no
// bucket counts (the variance comes from them), or a mean of 0. The
// variance is the largest the histogram allows (stats.Histogram.MeanVariance),
// so the interval holds whatever the latencies inside each bucket.
func meanOf(o Observation) (logNormal, string) {
	if len(o.Buckets) == 0 || o.Samples <= 0 {
		return logNormal{}, "no histogram bucket counts to bound its variance: not judged"
	}
	h := histogram(o)
	mean, variance, _ := h.MeanVariance()
	if !(mean > 0) || math.IsNaN(variance) {
		return logNormal{}, fmt.Sprintf("a mean of %v cannot be judged on a log scale", mean)
	}
	// Delta method: var(log m̂) ≈ var(m̂)/m² = σ²/(n m²). A variance of 0
	// would claim a certainty a histogram cannot give: floor it at
	// 10⁻⁶ × the mean².
	variance = math.Max(variance, 1e-6*mean*mean)
	return logNormal{est: math.Log(mean), v: variance / (h.Total() * mean * mean), size: h.Total()}, ""
}

// ratioOf is the log of a ratio of two positive quantities measured on
// independent samples: the estimates subtract and the variances add.
func ratioOf(num, den logNormal) logNormal {
	return logNormal{est: num.est - den.est, v: num.v + den.v, size: math.Min(num.size, den.size)}
}

// rateRatio is the ratio of two versions' event rates, on the log scale,
// with counts shifted by ½ (events) and 1 (requests) so that a version
// with no event yet gives a finite, wide interval rather than an infinite
// one: var(log p̂) ≈ (1−p)/(n p).
func rateRatio(num, den Observation) logNormal {
	l := func(x, n float64) (float64, float64) {
		p := (x + 0.5) / (n + 1)
		return math.Log(p), (1 - p) / ((n + 1) * p)
	}
	a, va := l(num.Events, num.Samples)
	b, vb := l(den.Events, den.Samples)
	return logNormal{est: a - b, v: va + vb, size: math.Min(num.Samples, den.Samples)}
}

// quantileRatio is one version's q-quantile over another's, each bounded
// by its own anytime-valid quantile bounds at half the level, on whole
// histogram buckets (no interpolation): the ratio is above lower(α) when
// the numerator's quantile is above its lower bound and the
// denominator's below its upper bound. The estimate interpolates, as
// histogram_quantile does, for display only.
type quantileRatio struct {
	num, den stats.Histogram
	q        float64
}

func (r quantileRatio) estimate() float64 {
	d := r.den.Quantile(r.q)
	if !(d > 0) {
		return math.NaN()
	}
	return r.num.Quantile(r.q) / d
}
func (r quantileRatio) lower(a float64) float64 {
	return r.num.QuantileLower(r.q, a/2) / r.den.QuantileUpper(r.q, a/2)
}
func (r quantileRatio) upper(a float64) float64 {
	d := r.den.QuantileLower(r.q, a/2)
	if !(d > 0) {
		return math.Inf(1)
	}
	return r.num.QuantileUpper(r.q, a/2) / d
}
func (r quantileRatio) above(v, a float64) bool { return r.lower(a) > v }
func (r quantileRatio) below(v, a float64) bool { return r.upper(a) <= v }
func (r quantileRatio) scaled(f float64) measure {
	return quantileRatio{num: r.num.Scaled(f), den: r.den.Scaled(f), q: r.q}
}

// exact is a quantity with no uncertainty: a count of requests is what it
// is.
type exact float64

func (e exact) estimate() float64        { return float64(e) }
func (e exact) lower(float64) float64    { return float64(e) }
func (e exact) upper(float64) float64    { return float64(e) }
func (e exact) above(v, _ float64) bool  { return float64(e) > v }
func (e exact) below(v, _ float64) bool  { return float64(e) < v }
func (e exact) scaled(f float64) measure { return exact(float64(e) * f) }

var (
	_ measure = rate{}
	_ measure = share{}
	_ measure = logNormal{}
	_ measure = quantileRatio{}
	_ measure = exact(0)
)
