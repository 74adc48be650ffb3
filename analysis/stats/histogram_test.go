package stats

import (
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"
)

var bounds125 = []float64{1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, math.Inf(1)}

// histogramOf counts values into bounds as Prometheus would.
func histogramOf(values []float64, bounds []float64) Histogram {
	h := Histogram{Bounds: bounds, Counts: make([]float64, len(bounds))}
	for _, v := range values {
		h.Sum += v
		for i, b := range bounds {
			if v <= b {
				h.Counts[i]++
			}
		}
	}
	return h
}

// The variance MeanVariance gives is never below the data's own, whatever
// the data: it is the largest the buckets and the sum allow.
func TestMeanVarianceBoundsTheData(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	draws := map[string]func() float64{
		"lognormal σ 0.5":    func() float64 { return math.Exp(math.Log(20) + 0.5*rng.NormFloat64()) },
		"lognormal σ 2":      func() float64 { return math.Exp(math.Log(20) + 2*rng.NormFloat64()) },
		"bucket edges":       func() float64 { return []float64{10.0001, 25, 25.0001, 50}[rng.IntN(4)] },
		"two far values":     func() float64 { return []float64{20, 99}[rng.IntN(2)] },
		"beyond the buckets": func() float64 { return []float64{20, 20, 20, 9000}[rng.IntN(4)] },
	}
	for name, draw := range draws {
		for _, n := range []int{2, 20, 1000} {
			values := make([]float64, n)
			var sum float64
			for i := range values {
				values[i] = draw()
				sum += values[i]
			}
			mean := sum / float64(n)
			var ss float64
			for _, v := range values {
				ss += (v - mean) * (v - mean)
			}
			m, v, _ := histogramOf(values, bounds125).MeanVariance()
			if math.Abs(m-mean) > 1e-9*mean || v < ss/float64(n)*(1-1e-9) {
				t.Errorf("%s, n=%d: mean %v variance %v, data %v and %v", name, n, m, v, mean, ss/float64(n))
			}
		}
	}
}

// Quantile bounds on whole buckets hold: the true quantile of the data is
// within them, and a bound is always a bucket bound.
func TestQuantileBoundsHold(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	for range 200 {
		n := 50 + rng.IntN(2000)
		sigma := 0.2 + 1.5*rng.Float64()
		values := make([]float64, n)
		for i := range values {
			values[i] = math.Exp(math.Log(30) + sigma*rng.NormFloat64())
		}
		sort.Float64s(values)
		q95 := values[int(math.Ceil(0.95*float64(n)))-1]
		h := histogramOf(values, bounds125)
		lo, hi := h.QuantileLower(0.95, 0.05), h.QuantileUpper(0.95, 0.05)
		// A share test can only reject on the side the data are on, so
		// the bounds always hold for the data's own quantile: a failure
		// here is a bug, not chance.
		if lo >= q95 || hi < q95 {
			t.Fatalf("n=%d σ=%.2f: p95 %v outside [%v, %v]", n, sigma, q95, lo, hi)
		}
		for _, b := range []float64{lo, hi} {
			if b != 0 && !slices.Contains(bounds125, b) {
				t.Fatalf("bound %v is not a bucket bound", b)
			}
		}
	}
}

func TestBracketAndAt(t *testing.T) {
	h := histogramOf([]float64{3, 4, 30, 30, 70, 3000}, bounds125)
	if lo, hi, atLo, atHi := h.Bracket(80); lo != 50 || hi != 100 || atLo != 4 || atHi != 5 {
		t.Errorf("Bracket(80) = %v %v %v %v, want 50 100 4 5", lo, hi, atLo, atHi)
	}
	if lo, hi, atLo, atHi := h.Bracket(100); lo != 100 || hi != 100 || atLo != 5 || atHi != 5 {
		t.Errorf("Bracket(100) = %v %v %v %v, want the bound itself", lo, hi, atLo, atHi)
	}
	if lo, hi, _, atHi := h.Bracket(4000); lo != 2500 || !math.IsInf(hi, 1) || atHi != 6 {
		t.Errorf("Bracket(4000) = %v %v _ %v, want (2500, +Inf] holding all 6", lo, hi, atHi)
	}
	if got := h.At(75); got != 4.5 {
		t.Errorf("At(75) = %v, want 4.5 (half of the (50, 100] bucket)", got)
	}
	if _, _, tail := h.MeanVariance(); math.Abs(tail-1.0/6) > 1e-12 {
		t.Errorf("tail %v, want 1/6", tail)
	}
}
