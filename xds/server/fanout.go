package server

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// writer is a stream with queued responses and the duty to write them.
type writer interface {
	// write sends the queue; with limit > 0, at most limit responses
	// before it hands the rest to a goroutine of the stream's own.
	write(limit int)
	// idle reports whether the client has answered all it was sent.
	idle() bool
}

// fanOut writes a change to every stream that has one queued, with one
// worker per CPU instead of one goroutine per stream: a push then costs a
// marshal and a write per proxy, with no goroutine to wake in between.
//
// A worker must not block on one slow client. gRPC's Send blocks only
// when the stream's write quota is spent, that is when earlier responses
// are still unwritten; a client that has answered everything it was sent
// has read them all. So a worker writes one response inline to an idle
// stream and leaves everything else — the rest of a multi-type change,
// or any stream still owing an answer — to a goroutine of the stream's.
func fanOut(ws []writer) {
	if len(ws) == 0 {
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(len(ws), runtime.GOMAXPROCS(0)) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(ws) {
					return
				}
				if w := ws[i]; w.idle() {
					w.write(1)
				} else {
					go w.write(0)
				}
			}
		})
	}
	wg.Wait()
}
