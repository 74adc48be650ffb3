package server

import (
	"context"
	"fmt"
	"net"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// Penalties remember the clients whose streams were closed over a limit,
// so that their next attempts are refused before anything they send is
// read. A stream closed over a limit has cost the server its request
// (read, and checked on the wire or decoded); a client that opens another
// at once costs that again, as often as it likes — issue 13's attackers
// reopened theirs every 100 ms. Refused streams and connections cost a
// status or an accept and a close.
//
// An offence penalises the offending connection: its new streams are
// refused. With PerAddress it also penalises the client's IP address: new
// streams and connections from it are refused at once. Proxies behind one
// address (NAT, a node's pods) would then share one proxy's penalty for
// their new connections (streams already open go on), so it is off unless
// asked for.
//
// The first offence is penalised for Base; each further offence before
// the record is forgotten doubles it, up to Max. A client that has not
// offended for Max after its penalty ended is forgotten. Streams refused
// during a penalty do not lengthen it.
type Penalties struct {
	// Base is the first penalty; 0 penalises nothing.
	Base time.Duration
	// Max bounds a penalty; 0: 32 × Base.
	Max time.Duration
	// PerAddress penalises the client's IP address, not only its
	// connection.
	PerAddress bool

	now func() time.Time // time.Now; tests set it

	mu       sync.Mutex
	offender map[string]*offence // by connection (ip:port), and by IP with PerAddress
	swept    time.Time           // the last scan for records past forgetting
}

// maxOffenders bounds the clients remembered. Past it, a new offender
// takes the place of a forgotten record, or of any (makeRoomLocked): an
// attacker with many addresses cannot make the server remember without
// bound.
const maxOffenders = 1 << 16

type offence struct {
	until   time.Time     // refused until then
	penalty time.Duration // the latest penalty
	told    bool          // a refusal under this penalty was reported
}

func (p *Penalties) clock() time.Time {
	if p.now != nil {
		return p.now()
	}
	return time.Now()
}

func (p *Penalties) max() time.Duration {
	if p.Max > 0 {
		return p.Max
	}
	return 32 * p.Base
}

// Offend penalises conn, the client address (ip:port) of a stream closed
// over a limit, and with PerAddress its IP, and returns the penalty.
func (p *Penalties) Offend(conn string) time.Duration {
	if p == nil || p.Base <= 0 || conn == "unknown" {
		return 0
	}
	now := p.clock()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.offender == nil {
		p.offender = map[string]*offence{}
	}
	d := p.offendLocked(conn, now)
	if p.PerAddress {
		d = max(d, p.offendLocked(hostOfString(conn), now))
	}
	return d
}

func (p *Penalties) offendLocked(key string, now time.Time) time.Duration {
	o := p.offender[key]
	if o == nil || now.After(o.until.Add(p.max())) {
		if o == nil && len(p.offender) >= maxOffenders {
			p.makeRoomLocked(now)
		}
		o = &offence{}
		p.offender[key] = o
	}
	o.penalty = min(max(p.Base, 2*o.penalty), p.max())
	o.until = now.Add(o.penalty)
	o.told = false
	return o.penalty
}

// makeRoomLocked makes room for one more record when the table is full:
// it drops the records past forgetting, at most once a second (a full
// scan of the table), and otherwise any one record — whichever the map
// gives first. A flood of offenders from many addresses thus costs one
// scan a second, not one per offence, and new offenders are still
// penalised; the record dropped loses what remained of its penalty.
func (p *Penalties) makeRoomLocked(now time.Time) {
	if now.Sub(p.swept) >= time.Second {
		p.swept = now
		for k, o := range p.offender {
			if now.After(o.until.Add(p.max())) {
				delete(p.offender, k)
			}
		}
	}
	for k := range p.offender {
		if len(p.offender) < maxOffenders {
			return
		}
		delete(p.offender, k)
	}
}

// refusing reports how long key's penalty has to run, if it has, and
// whether this is the first refusal under it (the one to report).
func (p *Penalties) refusing(key string) (left time.Duration, first, ok bool) {
	if p == nil || p.Base <= 0 {
		return 0, false, false
	}
	now := p.clock()
	p.mu.Lock()
	defer p.mu.Unlock()
	if o := p.offender[key]; o != nil && now.Before(o.until) {
		first, o.told = !o.told, true
		return o.until.Sub(now), first, true
	}
	return 0, false, false
}

// RefusingAddress reports whether new connections from the IP address
// addr are refused now, and for how long still: only with PerAddress.
func (p *Penalties) RefusingAddress(addr string) (time.Duration, bool) {
	if p == nil || !p.PerAddress {
		return 0, false
	}
	left, _, ok := p.refusing(addr)
	return left, ok
}

// refusingStream reports whether a new stream from client address conn
// (ip:port) is refused now, by its connection's penalty or its address's,
// and whether it is the first refused under its connection's penalty.
func (p *Penalties) refusingStream(conn string) (left time.Duration, first, ok bool) {
	if left, first, ok := p.refusing(conn); ok {
		return left, first, ok
	}
	if p == nil || !p.PerAddress {
		return 0, false, false
	}
	return p.refusing(hostOfString(conn))
}

func hostOfString(addr string) string {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	return host
}

// penaltyGate refuses a new stream whose connection (or address) is under
// a penalty, with ResourceExhausted naming the penalty, before the handler
// reads anything of it. onLimit is told of the first stream refused under
// each penalty, as of a stream closed over a limit, and not of the others:
// refusing costs little, and a line logged for each would cost more than
// the refusal, as often as a client cares to open streams. Streams closed
// over a limit are penalised by Server.onLimit.
func penaltyGate(p *Penalties, onLimit func(peer, nodeID string, err error)) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		addr := streamPeer(ss.Context())
		if left, first, ok := p.refusingStream(addr); ok {
			err := status.Error(codes.ResourceExhausted, fmt.Sprintf("stream refused: this client went over a limit and is penalised for %s more (--xds-limit-penalty)", left.Round(time.Millisecond)))
			if first {
				onLimit(addr, "", err)
			}
			return err
		}
		return handler(srv, ss)
	}
}

// streamPeer is the client address (ip:port) of a stream's context, or ""
// when it has none.
func streamPeer(ctx context.Context) string {
	if pr, ok := peer.FromContext(ctx); ok && pr.Addr != nil {
		return pr.Addr.String()
	}
	return ""
}
