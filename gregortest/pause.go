package gregortest

// Process pauses, the in-process stand-in for SIGSTOP/SIGCONT. A paused
// broker's goroutines keep running (Go cannot stop them), so a pause is
// modelled at the broker's edges instead:
//
//   - network: every connection to or from the broker, client and
//     inter-broker (Raft, replication, forwarded requests), stays open but
//     carries no byte in either direction: bytes it was sent wait in the
//     proxy as in a stopped process's socket buffers, bytes it writes wait
//     too. New connections are accepted and held the same way. On Resume
//     the held bytes flow: requests the clients gave up on reach the
//     broker late, its old responses and Raft messages reach the others
//     late. A client that closed its connection meanwhile does not stop
//     its held requests from reaching the broker, as a stopped process
//     still reads what its socket buffer holds.
//   - timers: every timer on the broker clock (ISR lag, produce and
//     request timeouts, long polls, group session timeouts, retention and
//     flush passes) that comes due while paused fires only on Resume, all
//     at once, as a stopped process's overdue timers do. Now reads the
//     wall clock, paused or not.
//
// What it does not stop: the broker's embedded Raft node (its own timers
// run, so a paused Raft leader steps down on its own when its lease runs
// out without contact, where a stopped process would only notice on
// waking), its membership heartbeats' timer (which only queue behind the
// frozen links) and socket deadlines, which run on the wall clock.

import (
	"io"
	"net"
	"sync"
	"time"

	"gregor/broker"
)

// Pausable gives every broker a client proxy and a pausable clock, so
// Pause and Resume can freeze it. Off by default: it adds a hop to every
// client connection.
func Pausable() Option { return func(o *options) { o.pausable = true } }

const kindClient = "client"

func (b *Broker) makePausable() error {
	var err error
	if b.client, err = newProxy(b.c, b.id, kindClient); err != nil {
		return err
	}
	b.clientPort = b.client.ln.Addr().(*net.TCPAddr).Port
	b.clock = &pauseClock{}
	return nil
}

// Pause freezes broker i (see the top of pause.go) until Resume(i).
func (c *Cluster) Pause(i int) {
	c.t.Helper()
	b := c.brokers[i]
	if b.clock == nil {
		c.t.Fatalf("gregortest: Pause needs a Pausable cluster")
	}
	b.clock.pause()
}

// JumpClock steps broker i's clock forward by d, as an NTP step or a VM
// migration would: the broker reads d later from then on, and every timer
// on its clock due within d fires at once (group session, transaction and
// produce timeouts, ISR lag checks...). The clock stays ahead: there is no
// jump back, as a Kafka broker's clock is not expected to run backwards.
// What reads the wall clock instead (socket deadlines, the embedded Raft
// node, membership heartbeats; see the top of pause.go) does not jump.
// It needs a Pausable cluster.
func (c *Cluster) JumpClock(i int, d time.Duration) {
	c.t.Helper()
	b := c.brokers[i]
	if b.clock == nil {
		c.t.Fatalf("gregortest: JumpClock needs a Pausable cluster")
	}
	b.clock.jump(d)
}

// ClockOffset is how far JumpClock has moved broker i's clock ahead.
func (c *Cluster) ClockOffset(i int) time.Duration {
	cl := c.brokers[i].clock
	if cl == nil {
		return 0
	}
	cl.mu.Lock()
	defer cl.mu.Unlock()
	return cl.offset
}

// Resume undoes Pause(i): overdue timers fire, held bytes flow.
func (c *Cluster) Resume(i int) {
	if b := c.brokers[i]; b.clock != nil {
		b.clock.resume()
	}
}

// Paused reports whether broker i is paused.
func (c *Cluster) Paused(i int) bool {
	return c.frozen(c.brokers[i].id)
}

// frozen reports whether node id is paused; id 0 (a client) never is.
func (c *Cluster) frozen(id int32) bool {
	if id < 1 || int(id) > len(c.brokers) {
		return false
	}
	cl := c.brokers[id-1].clock
	return cl != nil && cl.isPaused()
}

// cutOff reports whether the proxy refuses traffic from node src; client
// connections are never cut (Isolate and Cut are inter-broker faults).
func (p *proxy) cutOff(src int32) bool {
	return p.kind != kindClient && p.c.cut(src, p.dst)
}

// hold waits while either end of a link from node src is paused; false
// if the proxy closed meanwhile.
func (p *proxy) hold(src int32) bool {
	for p.c.frozen(src) || p.c.frozen(p.dst) {
		p.mu.Lock()
		closed := p.closed
		p.mu.Unlock()
		if closed {
			return false
		}
		time.Sleep(5 * time.Millisecond) // polling a pause flag, not synchronisation of the copy
	}
	return true
}

// copy is io.Copy that holds each chunk while an end of the link is paused.
func (p *proxy) copy(dst io.Writer, src io.Reader, node int32) error {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if !p.hold(node) {
				return io.ErrClosedPipe
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return werr
			}
		}
		if err != nil {
			return err
		}
	}
}

// pauseClock is the wall clock whose AfterFunc timers, when due while
// paused, fire on resume instead, and which JumpClock can step forward.
type pauseClock struct {
	mu      sync.Mutex
	paused  bool
	offset  time.Duration // JumpClock's steps so far
	held    []*pauseTimer
	pending map[*pauseTimer]struct{} // armed, not yet due
}

type pauseTimer struct {
	c     *pauseClock
	t     *time.Timer // under c.mu
	due   time.Time   // on the clock (offset included)
	f     func()
	state int // under c.mu: 0 pending, 1 held, 2 fired or stopped
}

func (c *pauseClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *pauseClock) AfterFunc(d time.Duration, f func()) broker.Timer {
	pt := &pauseTimer{c: c, f: f}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pending == nil {
		c.pending = map[*pauseTimer]struct{}{}
	}
	pt.due = time.Now().Add(c.offset + d)
	c.pending[pt] = struct{}{}
	pt.t = time.AfterFunc(d, pt.fire)
	return pt
}

// fire runs the timer's function, or holds it while the clock is paused.
func (pt *pauseTimer) fire() {
	c := pt.c
	c.mu.Lock()
	if pt.state != 0 {
		c.mu.Unlock()
		return
	}
	delete(c.pending, pt)
	if c.paused {
		pt.state = 1
		c.held = append(c.held, pt)
		c.mu.Unlock()
		return
	}
	pt.state = 2
	c.mu.Unlock()
	pt.f()
}

// Stop stops a pending or held timer; false if it fired or was stopped.
func (pt *pauseTimer) Stop() bool {
	pt.c.mu.Lock()
	defer pt.c.mu.Unlock()
	pt.t.Stop()
	delete(pt.c.pending, pt)
	if pt.state == 2 {
		return false
	}
	pt.state = 2
	return true
}

// jump steps the clock forward by d: Now reads d later from then on, and
// every pending timer due by the new time fires at once (or is held, if
// paused), the rest re-armed for what is left of them on the new time.
func (c *pauseClock) jump(d time.Duration) {
	c.mu.Lock()
	c.offset += d
	now := time.Now().Add(c.offset)
	var due []*pauseTimer
	for pt := range c.pending {
		pt.t.Stop()
		if left := pt.due.Sub(now); left > 0 {
			pt.t = time.AfterFunc(left, pt.fire)
		} else {
			due = append(due, pt)
		}
	}
	c.mu.Unlock()
	for _, pt := range due {
		go pt.fire()
	}
}

func (c *pauseClock) isPaused() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.paused
}

func (c *pauseClock) pause() {
	c.mu.Lock()
	c.paused = true
	c.mu.Unlock()
}

func (c *pauseClock) resume() {
	c.mu.Lock()
	c.paused = false
	held := c.held
	c.held = nil
	var fire []func()
	for _, pt := range held {
		if pt.state == 1 {
			pt.state = 2
			fire = append(fire, pt.f)
		}
	}
	c.mu.Unlock()
	for _, f := range fire {
		go f()
	}
}
