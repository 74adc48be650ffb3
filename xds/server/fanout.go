package server

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// writer is a stream with queued responses whose writer the caller has
// become.
type writer interface {
	// write sends the queue; handler is false for everyone but the
	// stream's own handler goroutine, and then write sends only what
	// cannot block (sotwStream.write).
	write(handler bool)
}

// fanOut writes a change to every stream that has one queued, with one
// worker per CPU instead of one goroutine per stream: a push then costs a
// marshal-free write per proxy, with no goroutine to wake in between.
//
// A worker must not block on one slow client. gRPC's Send blocks only
// when the stream's write quota is spent, that is when earlier responses
// are still unwritten; a client that has answered everything it was sent
// has read them all. So a worker writes to a stream only while it owes no
// answer, and leaves the rest to the stream's handler, which writes it
// when the client's next request comes.
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
				ws[i].write(false)
			}
		})
	}
	wg.Wait()
}
