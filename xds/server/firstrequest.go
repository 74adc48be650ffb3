package server

import (
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// firstRequestDeadline closes a stream whose client sends no request
// within timeout of opening it, with ResourceExhausted naming the limit.
// Envoy and gRPC's xDS client send their first request as soon as the
// stream opens; a stream that sends nothing holds a goroutine and a slot
// of its connection's MaxConcurrentStreams for as long as it likes, and
// connections times streams add up (issue 13). After the first request
// the stream's life is the client's.
func firstRequestDeadline(timeout time.Duration, onLimit func(peer, nodeID string, err error)) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		w := &firstRequestStream{ServerStream: ss, timeout: timeout}
		err := handler(srv, w)
		if !w.expired {
			return err
		}
		// A handler that returned the limit's error has had it logged
		// (Server.limited); one that made its own of it (the state of the
		// world loop ends quietly when Recv fails) has not. Either way
		// the client is told the limit.
		if err != w.err {
			onLimit(peerOf(ss.Context()), "", w.err)
		}
		return w.err
	}
}

// firstRequestStream is a stream whose first RecvMsg gives up after
// timeout. Handlers call RecvMsg from one goroutine (gRPC allows no
// other), so the fields need no lock.
type firstRequestStream struct {
	grpc.ServerStream
	timeout  time.Duration
	received bool
	expired  bool
	err      error
}

func (s *firstRequestStream) RecvMsg(m any) error {
	if s.received {
		return s.ServerStream.RecvMsg(m)
	}
	s.received = true
	// The wait runs apart so that the handler can return when the time
	// is up: only the handler's return ends a gRPC stream, and with it
	// this RecvMsg, which returns then (the message it may still take is
	// dropped with the stream).
	got := make(chan error, 1)
	go func() { got <- s.ServerStream.RecvMsg(m) }()
	t := time.NewTimer(s.timeout)
	defer t.Stop()
	select {
	case err := <-got:
		return err
	case <-t.C:
		s.expired = true
		s.err = status.Error(codes.ResourceExhausted, fmt.Sprintf("no request within %s of opening the stream (FirstRequestTimeout)", s.timeout))
		return s.err
	}
}
