package stats

import (
	"math"
	"math/rand/v2"
	"testing"
)

// Looking at a running mean after every batch, with the variance
// estimated from the data, the normal mixture rejects a true mean at most
// about alpha of the time (it is asymptotically valid: skewed data with
// few samples may exceed it slightly; the bound allows 2 points of noise).
func TestNormalTestsHoldTheirLevelUnderContinuousLooking(t *testing.T) {
	const alpha = 0.05
	rng := rand.New(rand.NewPCG(3, 4))
	cases := []struct {
		name  string
		draw  func() float64
		mean  float64
		slack float64
	}{
		{"normal", func() float64 { return 10 + 3*rng.NormFloat64() }, 10, 0.06},
		{"lognormal", func() float64 { return math.Exp(math.Log(20) + 0.5*rng.NormFloat64()) }, 20 * math.Exp(0.125), 0.06},
	}
	for _, c := range cases {
		runs, hits := 1000, 0
		for range runs {
			var n, sum, sq float64
			for look := 0; look < 200; look++ {
				for range 20 {
					v := c.draw()
					n++
					sum += v
					sq += v * v
				}
				m := sum / n
				e := Normal{Estimate: m, Variance: (sq/n - m*m) / n}
				tau := 0.25 * c.mean
				if NormalAbove(e, c.mean, tau) >= threshold(alpha) || NormalBelow(e, c.mean, tau) >= threshold(alpha) {
					hits++
					break
				}
			}
		}
		// Both sides together: at most 2·alpha in theory.
		if r := float64(hits) / float64(runs); r > 2*c.slack {
			t.Errorf("%s: a true mean was rejected in %.1f %% of runs, want ≤ %.0f %%", c.name, 100*r, 200*c.slack)
		} else {
			t.Logf("%s: a true mean rejected, one side or the other, in %.1f %% of runs (each side at 5 %%)", c.name, 100*r)
		}
	}
}

func TestNormalIntervalAndNeed(t *testing.T) {
	e := Normal{Estimate: 5, Variance: 0.25}
	iv := NormalInterval(e, 1, 0.05)
	if !(iv.Low < 5 && iv.High > 5) || math.Abs((5-iv.Low)-(iv.High-5)) > 1e-6 {
		t.Fatalf("interval %+v: want symmetric around 5", iv)
	}
	// Wider than a fixed-sample 95 % interval (±0.98), not absurdly so.
	if half := iv.High - 5; half < 0.98 || half > 2.5 {
		t.Errorf("half-width %v, want between 0.98 and 2.5", half)
	}
	for _, th := range []float64{iv.Low - 0.01, iv.Low + 0.01} {
		if got, want := NormalAbove(e, th, 1) >= threshold(0.05), th < iv.Low; got != want {
			t.Errorf("θ0=%v: test says %v, interval %+v says %v", th, got, iv, want)
		}
	}
	if n := NormalNeed(e, 100, 5.5, 1, 0.05); n <= 100 || math.IsInf(n, 0) {
		t.Errorf("need %v to tell 5 from 5.5 with 100 samples at variance 0.25, want more than 100", n)
	}
	if n := NormalNeed(e, 100, 9, 1, 0.05); n != 100 {
		t.Errorf("decided already: need %v, want 100", n)
	}
	if iv := NormalInterval(Normal{Estimate: 1}, 1, 0.05); !math.IsInf(iv.Low, -1) || !math.IsInf(iv.High, 1) {
		t.Errorf("no variance: %+v, want unbounded", iv)
	}
}
