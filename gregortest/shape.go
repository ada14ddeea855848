package gregortest

// Link shaping: added delay (with jitter) and a bandwidth limit on one
// node's inter-broker links (Raft, replication, forwarded requests), in
// either direction, and resets of its current connections. Client
// connections are never shaped, as Isolate and Cut never cut them.
//
// A shaped direction of a link is copied in two stages: a reader stamps
// each chunk it reads with the time it may leave (schedule.release), a
// writer sends it then. Chunks keep their order (jitter never lets one
// overtake another), so the stream stays a valid stream, and several
// chunks can be in flight at once, so the delay does not cap throughput
// the way a stop-and-wait copy would. A link stays in the two-stage copy
// once it has been shaped (unshaping mid-stream must not reorder bytes);
// a link never shaped copies directly.

import (
	"io"
	"math/rand/v2"
	"net"
	"time"
)

// Shape is what happens to the bytes of a shaped node's links.
type Shape struct {
	Delay  time.Duration // added to every chunk
	Jitter time.Duration // a further uniform [0, Jitter) per chunk
	Rate   int64         // bytes per second; 0 is unlimited
	Out    bool          // shape the bytes the node sends
	In     bool          // shape the bytes the node receives
}

func (s Shape) zero() bool { return s.Delay == 0 && s.Jitter == 0 && s.Rate == 0 }

// Shape shapes broker i's inter-broker links from now on, replacing any
// shape it had; chunks already scheduled keep their times.
func (c *Cluster) Shape(i int, s Shape) {
	c.mu.Lock()
	c.shapes[c.brokers[i].id] = s
	c.mu.Unlock()
}

// Unshape undoes Shape(i).
func (c *Cluster) Unshape(i int) {
	c.mu.Lock()
	delete(c.shapes, c.brokers[i].id)
	c.mu.Unlock()
}

// DropConns resets (TCP RST) every current inter-broker connection of
// broker i, both those it opened and those opened to it; new ones are
// let through.
func (c *Cluster) DropConns(i int) {
	id := c.brokers[i].id
	for _, b := range c.brokers {
		b.raft.resetLinks(id)
		b.kafka.resetLinks(id)
	}
}

// shapeOf is the shape of the bytes node from sends to node to: the
// sender's Out shape and the receiver's In shape combined (the longer
// delay and jitter, the lower rate).
func (c *Cluster) shapeOf(from, to int32) Shape {
	c.mu.Lock()
	defer c.mu.Unlock()
	var s Shape
	add := func(o Shape) {
		s.Delay, s.Jitter = max(s.Delay, o.Delay), max(s.Jitter, o.Jitter)
		if o.Rate > 0 && (s.Rate == 0 || o.Rate < s.Rate) {
			s.Rate = o.Rate
		}
	}
	if o, ok := c.shapes[from]; ok && o.Out {
		add(o)
	}
	if o, ok := c.shapes[to]; ok && o.In {
		add(o)
	}
	return s
}

// resetLinks closes every link from or to node id with an RST.
func (p *proxy) resetLinks(id int32) { p.eachLink(id, (*link).reset) }

// reset is close with SO_LINGER 0 on both sides, so the peers read a
// connection reset rather than an orderly end.
func (l *link) reset() {
	l.mu.Lock()
	up := l.up
	l.mu.Unlock()
	for _, c := range []net.Conn{l.down, up} {
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		} else if pc, ok := c.(*peekedConn); ok {
			if tc, ok := pc.Conn.(*net.TCPConn); ok {
				_ = tc.SetLinger(0)
			}
		}
	}
	l.close()
}

// schedule decides when the chunks of one direction of a link leave.
// It is a pure function of its inputs, so tests check it without clocks.
type schedule struct {
	last time.Time // when the previous chunk left
	free time.Time // when the bandwidth allows the next byte
}

// release returns when a chunk of n bytes read at now leaves under s,
// jit being its jitter (in [0, s.Jitter)): no earlier than now plus the
// delay and jitter, than the previous chunk, and, with a rate, than the
// bytes before it take at that rate.
func (sc *schedule) release(now time.Time, n int, s Shape, jit time.Duration) time.Time {
	at := now.Add(s.Delay + jit)
	if at.Before(sc.last) {
		at = sc.last
	}
	if s.Rate > 0 {
		if at.Before(sc.free) {
			at = sc.free
		}
		sc.free = at.Add(time.Duration(int64(n) * int64(time.Second) / s.Rate))
	}
	sc.last = at
	return at
}

// chunkLimit is the largest chunk sent at once under a rate: 50 ms of
// it, at least 1 KiB, so a limited link trickles instead of bursting.
func chunkLimit(rate int64) int {
	if rate <= 0 {
		return 1 << 30
	}
	return int(max(rate/20, 1<<10))
}

type chunk struct {
	b  []byte
	at time.Time
}

// shapedCopy copies src to dst, the bytes node from sends to node to,
// shaping them while the cluster says so (see the top of shape.go) and
// holding them while an end of the link is paused (pause.go). node is the
// link's source node, for hold.
func (p *proxy) shapedCopy(dst io.Writer, src io.Reader, node, from, to int32) error {
	buf := make([]byte, 32<<10)
	var (
		q       chan chunk    // nil until the link is first shaped
		wdone   chan struct{} // closed when the writer returns
		werr    error
		sc      schedule
		rng     = rand.New(rand.NewPCG(uint64(from), uint64(to)))
		readErr error
	)
	for readErr == nil {
		n, err := src.Read(buf)
		readErr = err
		if n == 0 {
			continue
		}
		s := p.c.shapeOf(from, to)
		if q == nil && s.zero() {
			if !p.hold(node) {
				return io.ErrClosedPipe
			}
			if _, err := dst.Write(buf[:n]); err != nil {
				return err
			}
			continue
		}
		if q == nil {
			q, wdone = make(chan chunk, 64), make(chan struct{})
			go func() {
				defer close(wdone)
				werr = p.release(dst, q, node)
			}()
		}
		for b := buf[:n]; len(b) > 0; {
			m := min(len(b), chunkLimit(s.Rate))
			var jit time.Duration
			if s.Jitter > 0 {
				jit = time.Duration(rng.Int64N(int64(s.Jitter)))
			}
			c := chunk{b: append([]byte(nil), b[:m]...), at: sc.release(time.Now(), m, s, jit)}
			b = b[m:]
			select {
			case q <- c:
			case <-wdone:
				return werr
			}
		}
	}
	if q != nil {
		close(q)
		<-wdone
		if werr != nil {
			return werr
		}
	}
	return readErr
}

// release writes the queued chunks at their times until the queue is
// closed or a write fails (the reader then sees the writer done).
func (p *proxy) release(dst io.Writer, q <-chan chunk, node int32) error {
	for c := range q {
		if d := time.Until(c.at); d > 0 {
			time.Sleep(d) // the chunk's departure time: the fault being injected
		}
		if !p.hold(node) {
			return io.ErrClosedPipe
		}
		if _, err := dst.Write(c.b); err != nil {
			return err
		}
	}
	return nil
}
