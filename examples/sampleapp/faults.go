package main

import (
	"context"
	"encoding/binary"
	"math/rand/v2"
	"sync/atomic"
	"time"
)

// faults make one version measurably different from another: a mean added
// latency with uniform jitter, and a fraction of requests answered with an
// error. The numbers are what an experiment's metrics should then find.
type faults struct {
	latency   time.Duration
	jitter    time.Duration
	errorRate float64

	// Each request draws from its own stream, keyed by seed and the
	// request's sequence number: concurrent requests share no lock, and a
	// fixed seed replays the same faults in the same request order.
	seed uint64
	seq  atomic.Uint64
}

// injection is what one request suffers.
type injection struct {
	delay time.Duration
	fail  bool
}

// next draws the injection for a new request.
func (f *faults) next() injection {
	return f.draw(f.requestRand())
}

func (f *faults) requestRand() *rand.Rand {
	var key [32]byte
	binary.LittleEndian.PutUint64(key[0:], f.seed)
	binary.LittleEndian.PutUint64(key[8:], f.seq.Add(1))
	return rand.New(rand.NewChaCha8(key))
}

// draw is pure given r. It always draws the jitter first, so whether a
// request fails does not depend on whether jitter is configured.
func (f *faults) draw(r *rand.Rand) injection {
	offset := (2*r.Float64() - 1) * float64(f.jitter) // uniform in [-jitter, +jitter)
	fail := r.Float64() < f.errorRate                 // Float64 is in [0, 1): rate 0 never, 1 always
	// Jitter larger than the latency is clamped at zero, which raises the
	// mean a little above the configured latency; say so rather than
	// reject a harmless setting.
	return injection{delay: max(f.latency+time.Duration(offset), 0), fail: fail}
}

// sleep waits d, or less if ctx ends first: a client that gives up (or a
// mirror whose caller has moved on) must not pin a goroutine.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
