package broker

import (
	"sort"
	"sync"
	"testing"
	"time"
)

// fakeClock is a Clock that moves only when Advance is called; Advance
// runs the AfterFuncs that fall due, in time order, each in its own
// goroutine (as time.AfterFunc does).
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	c    *fakeClock
	at   time.Time
	f    func()
	done bool
}

// newFakeClock returns a fake clock starting at the wall clock's now, so
// that record timestamps clients stamp are near it.
func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Now()}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{c: c, at: c.now.Add(d), f: f}
	c.timers = append(c.timers, t)
	return t
}

func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := !t.done
	t.done = true
	return was
}

// Advance moves the clock by d and fires the timers due by then.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	end := c.now.Add(d)
	for {
		sort.SliceStable(c.timers, func(i, j int) bool { return c.timers[i].at.Before(c.timers[j].at) })
		var due *fakeTimer
		for i, t := range c.timers {
			if t.done {
				continue
			}
			if !t.at.After(end) {
				due = t
				c.timers = append(c.timers[:i:i], c.timers[i+1:]...)
			}
			break
		}
		if due == nil {
			break
		}
		due.done = true
		if due.at.After(c.now) {
			c.now = due.at
		}
		go due.f()
	}
	c.now = end
	// Drop stopped timers.
	kept := c.timers[:0]
	for _, t := range c.timers {
		if !t.done {
			kept = append(kept, t)
		}
	}
	c.timers = kept
	c.mu.Unlock()
}

// pending returns how many timers are scheduled and not stopped.
func (c *fakeClock) pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, t := range c.timers {
		if !t.done {
			n++
		}
	}
	return n
}

func TestFakeClockFiresInOrder(t *testing.T) {
	t.Parallel()
	c := newFakeClock()
	got := make(chan int, 3)
	c.AfterFunc(2*time.Second, func() { got <- 2 })
	c.AfterFunc(time.Second, func() { got <- 1 })
	stopped := c.AfterFunc(1500*time.Millisecond, func() { got <- 99 })
	stopped.Stop()
	c.Advance(500 * time.Millisecond)
	if c.pending() != 2 {
		t.Fatalf("%d timers pending, want 2", c.pending())
	}
	c.Advance(time.Second)
	if v := <-got; v != 1 {
		t.Fatalf("fired %d first, want 1", v)
	}
	c.Advance(time.Second)
	if v := <-got; v != 2 {
		t.Fatalf("fired %d, want 2", v)
	}
	select {
	case v := <-got:
		t.Fatalf("fired %d after Stop", v)
	default:
	}
	if c.pending() != 0 {
		t.Fatalf("%d timers pending, want 0", c.pending())
	}
}
