package server

import (
	"testing"
	"time"

	"google.golang.org/grpc/codes"
)

// Streams that open and send nothing — state of the world and delta — are
// closed after FirstRequestTimeout, logged with their peer; a healthy
// proxy whose stream is older than the timeout is not touched, and gets
// the next change.
func TestSilentStreamsAreClosed(t *testing.T) {
	const timeout = 300 * time.Millisecond
	h := newHarnessWith(t, model(20, 40), Options{FirstRequestTimeout: timeout}, nil)
	healthy := h.sotw(t, "healthy")
	syncEnvoy(t, healthy)

	_, sotwErr := h.attacker(t, "silent")
	_, _, deltaErr := h.deltaAttacker(t)
	closedWith(t, sotwErr, codes.ResourceExhausted, "FirstRequestTimeout")
	closedWith(t, deltaErr, codes.ResourceExhausted, "FirstRequestTimeout")
	for range 2 {
		select {
		case ev := <-h.overLimit:
			if ev.peer == "" || ev.peer == "unknown" {
				t.Errorf("a silent stream was reported without its peer: %+v", ev)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("a silent stream's closing was not reported")
		}
	}
	// The healthy stream opened before both attackers, so its own
	// timeout has passed: its first request came in time, and it stays.
	stillServed(t, h, healthy)
}
