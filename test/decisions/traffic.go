// Package decisions measures how well experiments decide, by simulation:
// thousands of experiments with known truths (a candidate identical to its
// baseline, or one that regressed by a known amount) run through the real
// decision code — analysis.Evaluate and State.Apply, as the Runner calls
// them — and, beside it, through the rule shadowplane used before (one
// point estimate per window), on the same simulated traffic. It reports
// the false-rollback rate, the detection rate and the time to decision.
//
// The traffic model: Poisson arrivals at the route's rate times each
// version's weight (or the mirror's percentage), Bernoulli errors,
// lognormal latencies, counted in the sample app's histogram buckets as
// Prometheus would count them.
package decisions

import (
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/stat/distuv"

	"github.com/shadowplane/shadowplane/analysis/metrics"
)

// Bounds are the sample app's latency histogram bounds, in ms (its
// sampleapp_request_duration_seconds buckets, scaled by 1000).
var Bounds = []float64{1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, math.Inf(1)}

// Behaviour is how a version serves: its error rate and its latency, a
// lognormal with this median (ms) and log-scale spread.
type Behaviour struct {
	ErrorRate float64
	Median    float64
	Sigma     float64
}

// Counts are a version's counters over some window, as a scrape of the
// sample app would give their increase: requests, errors, the latency
// histogram's per-bucket counts (not cumulative) and sum.
type Counts struct {
	Requests, Errors float64
	Buckets          []float64
	Sum              float64
}

// Add adds o to c.
func (c *Counts) Add(o Counts) {
	if c.Buckets == nil {
		c.Buckets = make([]float64, len(Bounds))
	}
	c.Requests += o.Requests
	c.Errors += o.Errors
	c.Sum += o.Sum
	for i, b := range o.Buckets {
		c.Buckets[i] += b
	}
}

// cumulative is the histogram's cumulative buckets.
func (c Counts) cumulative() []metrics.Bucket {
	out := make([]metrics.Bucket, len(Bounds))
	sum := 0.0
	for i, b := range Bounds {
		if c.Buckets != nil {
			sum += c.Buckets[i]
		}
		out[i] = metrics.Bucket{UpperBound: b, Count: sum}
	}
	return out
}

// generator draws a version's traffic.
type generator struct {
	b       Behaviour
	rng     *rand.Rand
	p       []float64 // probability of each bucket
	mean    []float64 // latency mean within each bucket
	sd      []float64 // and its standard deviation
	logNorm distuv.LogNormal
}

func newGenerator(b Behaviour, rng *rand.Rand) *generator {
	g := &generator{b: b, rng: rng, logNorm: distuv.LogNormal{Mu: math.Log(b.Median), Sigma: b.Sigma}}
	mu, s := math.Log(b.Median), b.Sigma
	std := distuv.UnitNormal
	z := func(x, shift float64) float64 {
		if x <= 0 {
			return math.Inf(-1)
		}
		if math.IsInf(x, 1) {
			return math.Inf(1)
		}
		return (math.Log(x) - mu - shift) / s
	}
	lo := 0.0
	for _, hi := range Bounds {
		p := std.CDF(z(hi, 0)) - std.CDF(z(lo, 0))
		// Truncated lognormal moments: E[X; a<X≤b] and E[X²; a<X≤b].
		m1 := math.Exp(mu+s*s/2) * (std.CDF(z(hi, s*s)) - std.CDF(z(lo, s*s)))
		m2 := math.Exp(2*mu+2*s*s) * (std.CDF(z(hi, 2*s*s)) - std.CDF(z(lo, 2*s*s)))
		mean, v := 0.0, 0.0
		if p > 1e-300 {
			mean = m1 / p
			v = math.Max(0, m2/p-mean*mean)
		}
		g.p = append(g.p, p)
		g.mean = append(g.mean, mean)
		g.sd = append(g.sd, math.Sqrt(v))
		lo = hi
	}
	return g
}

// draw is the traffic of one window with Poisson(rate·seconds) requests.
func (g *generator) draw(rate, seconds float64) Counts {
	c := Counts{Buckets: make([]float64, len(Bounds))}
	lambda := rate * seconds
	if lambda <= 0 {
		return c
	}
	n := distuv.Poisson{Lambda: lambda, Src: g.rng}.Rand()
	if n == 0 {
		return c
	}
	c.Requests = n
	if g.b.ErrorRate > 0 {
		c.Errors = distuv.Binomial{N: n, P: g.b.ErrorRate, Src: g.rng}.Rand()
	}
	// Multinomial bucket counts as a chain of binomials.
	left, rest := n, 1.0
	for i := range Bounds {
		if left == 0 {
			break
		}
		k := left
		if i < len(Bounds)-1 && rest > 0 {
			k = distuv.Binomial{N: left, P: math.Min(1, g.p[i]/rest), Src: g.rng}.Rand()
		}
		c.Buckets[i] = k
		left -= k
		rest -= g.p[i]
		c.Sum += g.bucketSum(i, k)
	}
	return c
}

// bucketSum draws the sum of k latencies that fell in bucket i: exactly,
// by inverse CDF within the bucket, for few; by the normal approximation
// with the truncated lognormal's moments for many.
func (g *generator) bucketSum(i int, k float64) float64 {
	if k == 0 {
		return 0
	}
	if k > 30 {
		return k*g.mean[i] + math.Sqrt(k)*g.sd[i]*g.rng.NormFloat64()
	}
	lo := 0.0
	if i > 0 {
		lo = Bounds[i-1]
	}
	flo, fhi := g.logNorm.CDF(lo), g.logNorm.CDF(Bounds[i])
	sum := 0.0
	for range int(k) {
		u := flo + (fhi-flo)*g.rng.Float64()
		sum += g.logNorm.Quantile(math.Min(math.Max(u, 1e-300), 1-1e-16))
	}
	return sum
}
