package stats

import (
	"math"
	"math/rand/v2"
	"testing"
)

// The point of an anytime-valid test: looking after every batch of
// requests, for thousands of requests, the chance of ever rejecting a true
// hypothesis stays under alpha. A fixed-sample test looked at this often
// rejects far more (the last check shows it does, so this test can fail).
func TestProportionTestsHoldTheirLevelUnderContinuousLooking(t *testing.T) {
	const alpha = 0.05
	rng := rand.New(rand.NewPCG(1, 2))
	for _, p := range []float64{0.001, 0.01, 0.05, 0.3} {
		runs, above, below, naive := 1000, 0, 0, 0
		for range runs {
			x, n := 0.0, 0.0
			hitA, hitB, hitN := false, false, false
			for look := 0; look < 300 && !(hitA && hitB && hitN); look++ {
				for range 10 {
					n++
					if rng.Float64() < p {
						x++
					}
				}
				hitA = hitA || ProportionAbove(x, n, p) >= threshold(alpha)
				hitB = hitB || ProportionBelow(x, n, p) >= threshold(alpha)
				// A one-sided Wald test at 95 % repeated at every look.
				if se := math.Sqrt(p * (1 - p) / n); (x/n-p)/se > 1.645 {
					hitN = true
				}
			}
			above += btoi(hitA)
			below += btoi(hitB)
			naive += btoi(hitN)
		}
		// 1000 runs: a true rate of 5 % would exceed 7 % with
		// probability < 0.2 %.
		if r := float64(above) / float64(runs); r > 0.07 {
			t.Errorf("p=%v: the test against p ≤ %v rejected in %.1f %% of runs, want ≤ 5 %%", p, p, 100*r)
		}
		if r := float64(below) / float64(runs); r > 0.07 {
			t.Errorf("p=%v: the test against p ≥ %v rejected in %.1f %% of runs, want ≤ 5 %%", p, p, 100*r)
		}
		if p >= 0.01 && float64(naive)/float64(runs) < 0.15 {
			t.Errorf("p=%v: the naive repeated test rejected only %d of %d runs; the check is not looking often enough to mean anything", p, naive, runs)
		}
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// The bound with no events is close to what a statistician would quote,
// and never tighter than the fixed-sample exact bound.
func TestProportionIntervalWithNoEvents(t *testing.T) {
	for _, n := range []float64{20, 100, 300, 1000, 10000} {
		iv := ProportionInterval(0, n, 0.05)
		exact := 1 - math.Pow(0.05, 1/n) // one-sided Clopper-Pearson
		if iv.Low != 0 {
			t.Errorf("n=%v: low %v, want 0", n, iv.Low)
		}
		if iv.High < exact || iv.High > 3.5*exact {
			t.Errorf("n=%v: high %.5f, want between the fixed-sample bound %.5f and 3.5× it", n, iv.High, exact)
		}
	}
	// About 500 error-free requests show an error rate under 1 %.
	if need := ProportionNeed(0, 20, 0.01, 0.05); need < 300 || need > 700 {
		t.Errorf("need %v requests to show < 1 %% with no errors, want 300-700", need)
	}
}

func TestProportionIntervalNarrowsAndCoversTheRate(t *testing.T) {
	prev := Interval{0, 1}
	for _, n := range []float64{100, 1000, 10000, 100000} {
		iv := ProportionInterval(0.02*n, n, 0.05)
		if !(iv.Low < 0.02 && 0.02 < iv.High) {
			t.Errorf("n=%v: %+v does not contain the rate seen 0.02", n, iv)
		}
		if iv.Low < prev.Low || iv.High > prev.High {
			t.Errorf("n=%v: %+v is wider than at fewer samples %+v", n, iv, prev)
		}
		prev = iv
	}
	if prev.High-prev.Low > 0.004 {
		t.Errorf("100,000 samples at 2 %%: width %v, want < 0.4 points (twice a fixed-sample interval's)", prev.High-prev.Low)
	}
	// Tests and interval agree: the interval excludes a limit exactly
	// when the test at that limit rejects.
	iv := ProportionInterval(9, 200, 0.05)
	for _, p0 := range []float64{0.005, 0.01, iv.Low * 0.99, iv.Low * 1.01, iv.High * 0.99, iv.High * 1.01, 0.2} {
		above := ProportionAbove(9, 200, p0) >= threshold(0.05)
		below := ProportionBelow(9, 200, p0) >= threshold(0.05)
		if above != (p0 < iv.Low) || below != (p0 > iv.High) {
			t.Errorf("p0=%v: tests (above %v, below %v) disagree with the interval %+v", p0, above, below, iv)
		}
	}
}

func TestProportionEdges(t *testing.T) {
	if !math.IsInf(ProportionAbove(1, 10, 0), 1) {
		t.Error("one event disproves a rate of 0")
	}
	if !math.IsInf(ProportionAbove(0, 10, 0), -1) {
		t.Error("no events cannot disprove a rate of 0")
	}
	if !math.IsInf(ProportionBelow(0, 10, 0), -1) {
		t.Error("nothing shows a rate below 0")
	}
	if iv := ProportionInterval(0, 0, 0.05); iv.Low != 0 || iv.High != 1 {
		t.Errorf("no data: %+v, want [0, 1]", iv)
	}
	if !math.IsInf(ProportionNeed(5, 100, 0.05, 0.05), 1) {
		t.Error("a rate equal to the limit can never be told from it")
	}
	if got := ProportionNeed(0, 5000, 0.01, 0.05); got != 5000 {
		t.Errorf("decided already: need %v, want 5000", got)
	}
}

// Far from the rate seen, the posterior's tail underflows: the tests must
// not make up evidence there (a bug once put the lower bound of 1 event in
// 1,063 at 51 %).
func TestProportionTestsFarFromTheData(t *testing.T) {
	for _, p := range []float64{0.01, 0.1, 0.5, 0.6, 0.99} {
		if got := ProportionAbove(1, 1063, p); got > 0 {
			t.Errorf("1 of 1063: evidence %v that the rate is above %v", got, p)
		}
		if got := ProportionBelow(1062, 1063, 1-p); got > 0 {
			t.Errorf("1062 of 1063: evidence %v that the rate is below %v", got, 1-p)
		}
	}
	if lo := ProportionLower(1, 1063, 0.05); lo > 0.001 {
		t.Errorf("lower bound %v for 1 event in 1063", lo)
	}
}
