package main

import (
	"context"
	"errors"
	"math/rand/v2"
	"testing"
	"time"
)

func TestDrawStaysWithinJitter(t *testing.T) {
	f := &faults{latency: 20 * time.Millisecond, jitter: 5 * time.Millisecond}
	r := rand.New(rand.NewPCG(1, 2))
	var sum time.Duration
	const n = 10000
	for range n {
		inj := f.draw(r)
		if inj.delay < 15*time.Millisecond || inj.delay > 25*time.Millisecond {
			t.Fatalf("delay %v outside 20ms ± 5ms", inj.delay)
		}
		if inj.fail {
			t.Fatal("failed with error rate 0")
		}
		sum += inj.delay
	}
	// The jitter is centred: the sample mean's standard error is about
	// 29µs here, so ±0.5ms is far outside chance.
	if mean := sum / n; mean < 19500*time.Microsecond || mean > 20500*time.Microsecond {
		t.Errorf("mean delay %v, want 20ms ± 0.5ms", mean)
	}
}

func TestDrawClampsAtZero(t *testing.T) {
	f := &faults{latency: time.Millisecond, jitter: 10 * time.Millisecond}
	r := rand.New(rand.NewPCG(3, 4))
	for range 1000 {
		if d := f.draw(r).delay; d < 0 {
			t.Fatalf("negative delay %v", d)
		}
	}
}

func TestDrawErrorRateBounds(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	always, never := &faults{errorRate: 1}, &faults{errorRate: 0}
	for range 1000 {
		if !always.draw(r).fail {
			t.Fatal("error rate 1 let a request through")
		}
		if never.draw(r).fail {
			t.Fatal("error rate 0 failed a request")
		}
	}
}

// A fixed seed replays the same faults in the same request order.
func TestSeedReplays(t *testing.T) {
	a := &faults{latency: 10 * time.Millisecond, jitter: 10 * time.Millisecond, errorRate: 0.5, seed: 42}
	b := &faults{latency: 10 * time.Millisecond, jitter: 10 * time.Millisecond, errorRate: 0.5, seed: 42}
	for i := range 100 {
		if x, y := a.next(), b.next(); x != y {
			t.Fatalf("request %d: %+v != %+v", i, x, y)
		}
	}
}

func TestSleepEndsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := sleep(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Errorf("sleep on a cancelled context = %v", err)
	}
	start := time.Now()
	if err := sleep(context.Background(), 10*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < 10*time.Millisecond {
		t.Errorf("sleep(10ms) returned after %v", took)
	}
}

// Per-request streams (one key per request) still give the configured
// rate and a centred jitter. With 100000 draws σ ≈ 0.14 points, so ±1
// point is a 7σ tolerance.
func TestNextMatchesConfiguredRates(t *testing.T) {
	f := &faults{latency: 20 * time.Millisecond, jitter: 5 * time.Millisecond, errorRate: 0.3, seed: 7}
	const n = 100000
	failed, above := 0, 0
	for range n {
		inj := f.next()
		if inj.fail {
			failed++
		}
		if inj.delay > 20*time.Millisecond {
			above++
		}
	}
	if rate := float64(failed) / n; rate < 0.29 || rate > 0.31 {
		t.Errorf("error rate %.4f, want 0.30 ± 0.01", rate)
	}
	if share := float64(above) / n; share < 0.49 || share > 0.51 {
		t.Errorf("%.4f of delays above the mean, want 0.50 ± 0.01", share)
	}
}
