package server

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
)

// ConnLimits bound the xDS connections the server holds: in total, and from
// any one client address. Every connection holds a file descriptor, and
// descriptors are shared with the admin API, Prometheus scrapes and the
// policy and state files: without a cap, 21,000 idle TCP connections took
// all of a 20,000 limit, and for 24 s no change went out and the admin API
// refused connections (issue 13). A connection over a cap is closed as soon
// as it is accepted; the client may try again later.
type ConnLimits struct {
	// MaxConnections bounds the connections open at once; 0: no cap.
	MaxConnections int
	// MaxPerAddress bounds the connections open at once from one client IP
	// address (the port is not counted), so that one host cannot take all
	// of MaxConnections from the others; 0: no cap.
	MaxPerAddress int
	// Penalties, if set, refuse every connection from an address they
	// penalise (Penalties.PerAddress: a stream from it was closed over a
	// limit not long ago), before gRPC reads anything of it. Share them
	// with the server's Options.Penalties.
	Penalties *Penalties
	// OnRefused is told of every connection refused, with the cap it went
	// over ("total", "per_address" or "penalty"). serve counts it. It must
	// not block.
	OnRefused func(limit string)
	// Log is told at most once per LogEvery (default 1 s) of the latest
	// connection refused, with how many were refused since the previous
	// line, so a flood of connections makes a line a second, not one per
	// connection. It must not block.
	Log      func(err error, refused int)
	LogEvery time.Duration
}

// ErrConnLimit is wrapped by the errors given to ConnLimits.Log.
var ErrConnLimit = errors.New("xDS connection refused")

// LimitListener returns lis with limits applied: Accept returns only
// connections under the caps, closing the others at once, and a connection
// is counted until it is closed.
func LimitListener(lis net.Listener, limits ConnLimits) net.Listener {
	if limits.OnRefused == nil {
		limits.OnRefused = func(string) {}
	}
	if limits.Log == nil {
		limits.Log = func(error, int) {}
	}
	if limits.LogEvery == 0 {
		limits.LogEvery = time.Second
	}
	return &limitListener{Listener: lis, limits: limits, perAddr: map[string]int{}}
}

type limitListener struct {
	net.Listener
	limits ConnLimits

	mu       sync.Mutex
	open     int
	perAddr  map[string]int
	lastLog  time.Time
	unlogged int
}

// Accept waits for a connection under the caps. Connections over a cap are
// closed here and never reach gRPC, which would otherwise spend a goroutine
// and a handshake on each.
func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		addr := hostOf(c.RemoteAddr())
		if err := l.admit(addr); err != nil {
			l.refused(c.RemoteAddr(), err)
			c.Close()
			continue
		}
		return &limitedConn{Conn: c, release: func() { l.release(addr) }}, nil
	}
}

// capError names the cap a connection went over and its value, or the
// penalty it was refused under.
type capError struct {
	limit string // "total", "per_address" or "penalty", the metric's label
	cap   int
	left  time.Duration // of the penalty
}

func (e *capError) Error() string {
	switch e.limit {
	case "total":
		return fmt.Sprintf("%d xDS connections open, the most allowed (--xds-max-connections)", e.cap)
	case "penalty":
		return fmt.Sprintf("a stream from this address went over a limit; its connections are refused for %s more (--xds-limit-penalty-per-address)", e.left.Round(time.Millisecond))
	}
	return fmt.Sprintf("%d xDS connections open from this address, the most allowed (--xds-max-connections-per-address)", e.cap)
}

func (l *limitListener) admit(addr string) *capError {
	if left, ok := l.limits.Penalties.RefusingAddress(addr); ok {
		return &capError{limit: "penalty", left: left}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if m := l.limits.MaxConnections; m > 0 && l.open >= m {
		return &capError{limit: "total", cap: m}
	}
	if m := l.limits.MaxPerAddress; m > 0 && l.perAddr[addr] >= m {
		return &capError{limit: "per_address", cap: m}
	}
	l.open++
	l.perAddr[addr]++
	return nil
}

func (l *limitListener) release(addr string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.open--
	if l.perAddr[addr]--; l.perAddr[addr] <= 0 {
		delete(l.perAddr, addr)
	}
}

// refused counts a refused connection, and logs it unless a line was
// logged less than LogEvery ago (the next line says how many it covers).
func (l *limitListener) refused(peer net.Addr, cerr *capError) {
	l.limits.OnRefused(cerr.limit)
	l.mu.Lock()
	l.unlogged++
	now := time.Now()
	if now.Sub(l.lastLog) < l.limits.LogEvery {
		l.mu.Unlock()
		return
	}
	n := l.unlogged
	l.unlogged, l.lastLog = 0, now
	l.mu.Unlock()
	l.limits.Log(fmt.Errorf("%w from %s: %w", ErrConnLimit, peer, cerr), n)
}

// Open is the number of connections counted now.
func (l *limitListener) Open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.open
}

func hostOf(a net.Addr) string {
	if t, ok := a.(*net.TCPAddr); ok {
		return t.IP.String()
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}

// limitedConn gives its place back once, however often it is closed.
type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
