package broker

import (
	"context"
	"time"

	"gregor/coordinator"
)

// Clock is the broker's time source, the coordinator's Clock shape: Now
// and AfterFunc. Retention, flush and cleaner passes, ISR lag, replica
// fetch back-off, long polls, request and session timeouts and the
// rate limit of descriptor-failure log lines all read it; storage gets its
// Now. The exceptions run on the wall clock: socket deadlines (idle and
// slow connections, and the timeouts of round trips to other nodes, which
// become deadlines) and membership heartbeats, which the controller times
// on its own clock.
type Clock = coordinator.Clock

// Timer is a scheduled Clock.AfterFunc call.
type Timer = coordinator.Timer

type wallClock struct{}

func (wallClock) Now() time.Time                            { return time.Now() }
func (wallClock) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }

// after returns a channel that receives once d has passed on c, and a
// function that cancels it.
func after(c Clock, d time.Duration) (<-chan struct{}, func() bool) {
	ch := make(chan struct{}, 1)
	t := c.AfterFunc(d, func() { ch <- struct{}{} })
	return ch, t.Stop
}

// sleep waits d on c; it returns false if ctx ended first.
func sleep(ctx context.Context, c Clock, d time.Duration) bool {
	ch, stop := after(c, d)
	defer stop()
	select {
	case <-ch:
		return true
	case <-ctx.Done():
		return false
	}
}

// ticker delivers a tick every d on its clock (ticks coalesce while the
// receiver is busy, as time.Ticker's do).
type ticker struct {
	C     chan struct{}
	clock Clock
	d     time.Duration
	done  chan struct{}
}

func newTicker(c Clock, d time.Duration) *ticker {
	t := &ticker{C: make(chan struct{}, 1), clock: c, d: d, done: make(chan struct{})}
	t.arm()
	return t
}

func (t *ticker) arm() {
	t.clock.AfterFunc(t.d, func() {
		select {
		case <-t.done:
			return
		default:
		}
		t.arm() // before the tick: the receiver sees the next one armed
		select {
		case t.C <- struct{}{}:
		default:
		}
	})
}

// Stop ends the ticks; a tick already scheduled fires into nothing.
func (t *ticker) Stop() { close(t.done) }

// withTimeout is context.WithTimeout on c.
func withTimeout(ctx context.Context, c Clock, d time.Duration) (context.Context, context.CancelFunc) {
	if _, wall := c.(wallClock); wall {
		return context.WithTimeout(ctx, d)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	t := c.AfterFunc(d, func() { cancel(context.DeadlineExceeded) })
	return ctx, func() { t.Stop(); cancel(context.Canceled) }
}
