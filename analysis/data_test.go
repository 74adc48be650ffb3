package analysis

import (
	"math"

	"gonum.org/v1/gonum/stat/distuv"

	"github.com/shadowplane/shadowplane/analysis/metrics"
)

// appBounds are the sample app's histogram bounds, in ms.
var appBounds = []float64{1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, math.Inf(1)}

// latencies is what a histogram metric of n requests with lognormal
// latency (median ms, sigma) reads: each bucket holding its expected
// count, the sum the exact expected sum.
func latencies(typ metrics.Type, n, median, sigma float64) Observation {
	d := distuv.LogNormal{Mu: math.Log(median), Sigma: sigma}
	o := Observation{Type: typ, Unit: "ms", Samples: n, Sum: n * d.Mean()}
	if typ == metrics.Quantile {
		o.Quantile = 0.95
	}
	for _, b := range appBounds {
		c := n
		if !math.IsInf(b, 1) {
			c = n * d.CDF(b)
		}
		o.Buckets = append(o.Buckets, metrics.Bucket{UpperBound: b, Count: c})
	}
	o.Value = o.Sum / n
	if typ == metrics.Quantile {
		o.Value = histogram(o).Quantile(0.95)
	}
	return o
}

// errorsOf is an error-rate metric: x errors in n requests.
func errorsOf(x, n float64) Observation {
	o := Observation{Type: metrics.Ratio, Unit: "ratio", Scale: 1, Events: x, Samples: n}
	if n > 0 {
		o.Value = x / n
	}
	return o
}

// healthy is the seed's three metrics for v1 and v2, n requests each:
// 20 ms median latency and an error rate of 0.1 %.
func healthy(n float64) Observations {
	obs := Observations{}
	for _, v := range []string{"v1", "v2"} {
		obs[v] = map[string]Observation{
			"mean-latency": latencies(metrics.Mean, n, 20, 0.5),
			"p95-latency":  latencies(metrics.Quantile, n, 20, 0.5),
			"error-rate":   errorsOf(0.001*n, n),
		}
	}
	return obs
}
