package gregortest

import (
	"bytes"
	"encoding/binary"
	"io"
	"math/rand/v2"
	"net"
	"testing"
	"time"
)

// TestScheduleRate: under a rate, the bytes released by any chunk's
// departure never exceed the rate times the time since the first
// departure, plus that chunk; chunks leave in order, none before its
// delay.
func TestScheduleRate(t *testing.T) {
	t.Parallel()
	for _, s := range []Shape{
		{Rate: 64 << 10},
		{Rate: 512 << 10, Delay: 100 * time.Millisecond, Jitter: 40 * time.Millisecond},
		{Delay: 300 * time.Millisecond, Jitter: 150 * time.Millisecond},
	} {
		var sc schedule
		rng := rand.New(rand.NewPCG(1, 2))
		t0 := time.Unix(1000, 0)
		now, first, prev := t0, time.Time{}, time.Time{}
		sent := int64(0)
		for i := 0; i < 2000; i++ {
			// Chunks arrive in bursts and pauses, as reads do.
			now = now.Add(time.Duration(rng.IntN(3)) * time.Millisecond)
			n := 1 + rng.IntN(chunkLimit(s.Rate))
			if n > 32<<10 {
				n = 1 + rng.IntN(32<<10)
			}
			var jit time.Duration
			if s.Jitter > 0 {
				jit = time.Duration(rng.Int64N(int64(s.Jitter)))
			}
			at := sc.release(now, n, s, jit)
			if at.Before(now.Add(s.Delay)) {
				t.Fatalf("%+v chunk %d: leaves at %v, before its delay (read at %v)", s, i, at.Sub(t0), now.Sub(t0))
			}
			if at.Before(prev) {
				t.Fatalf("%+v chunk %d: leaves at %v, before the previous chunk at %v", s, i, at.Sub(t0), prev.Sub(t0))
			}
			if first.IsZero() {
				first = at
			}
			if s.Rate > 0 {
				limit := s.Rate * int64(at.Sub(first)) / int64(time.Second)
				if sent > limit+1 { // +1: rounding of the nanosecond durations
					t.Fatalf("%+v chunk %d: %d bytes gone by %v, over the rate's %d", s, i, sent, at.Sub(first), limit)
				}
			}
			sent += int64(n)
			prev = at
		}
		if s.Rate > 0 {
			// The rate is met, not only bounded: the schedule is busy.
			took := sc.free.Sub(first)
			want := time.Duration(sent * int64(time.Second) / s.Rate)
			if took < want-time.Millisecond || took > want+time.Second {
				t.Fatalf("%+v: %d bytes scheduled over %v, want about %v", s, sent, took, want)
			}
		}
	}
}

func TestChunkLimit(t *testing.T) {
	t.Parallel()
	for rate, want := range map[int64]int{0: 1 << 30, 1000: 1 << 10, 64 << 10: 3276, 512 << 10: 26214} {
		if got := chunkLimit(rate); got != want {
			t.Errorf("chunkLimit(%d) = %d, want %d", rate, got, want)
		}
	}
}

// TestShapedProxy: bytes through a proxy whose node is shaped both ways
// (delay, jitter, a rate) arrive complete and in order, and so do those of
// a link shaped only after it started.
func TestShapedProxy(t *testing.T) {
	t.Parallel()
	echo, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { echo.Close() })
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			nc, err := echo.Accept()
			if err != nil {
				return
			}
			go func() {
				defer nc.Close()
				_, _ = io.Copy(nc, nc)
			}()
		}
	}()
	c := &Cluster{isolated: map[int32]bool{}, cuts: map[[2]int32]bool{}, shapes: map[int32]Shape{}}
	p, err := newProxy(c, 1, kindKafka)
	if err != nil {
		t.Fatal(err)
	}
	p.setTarget(echo.Addr().String())
	t.Cleanup(func() {
		p.close()
		echo.Close()
		<-done
	})

	// A Kafka request header naming node 2, then data.
	hello := func() []byte {
		id := forwardPrefix + "2"
		b := make([]byte, 14, 14+len(id))
		binary.BigEndian.PutUint32(b, uint32(10+len(id)))
		binary.BigEndian.PutUint16(b[12:], uint16(len(id)))
		return append(b, id...)
	}
	data := make([]byte, 200<<10)
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	roundTrip := func(name string, shapeAfter int) {
		c.mu.Lock()
		clear(c.shapes)
		c.mu.Unlock()
		shape := func() {
			c.mu.Lock()
			c.shapes[1] = Shape{Delay: 20 * time.Millisecond, Jitter: 10 * time.Millisecond, Rate: 4 << 20, In: true, Out: true}
			c.mu.Unlock()
		}
		if shapeAfter == 0 {
			shape()
		}
		nc, err := net.Dial("tcp", p.addr())
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		want := append(hello(), data...)
		got := make(chan []byte, 1)
		go func() {
			b, _ := io.ReadAll(io.LimitReader(nc, int64(len(want))))
			got <- b
		}()
		for off := 0; off < len(want); {
			if off >= shapeAfter && shapeAfter > 0 {
				shape()
				shapeAfter = 0
			}
			m := min(len(want)-off, 1+rng.IntN(8<<10))
			if _, err := nc.Write(want[off : off+m]); err != nil {
				t.Fatalf("%s: write: %v", name, err)
			}
			off += m
		}
		if b := <-got; !bytes.Equal(b, want) {
			t.Fatalf("%s: %d bytes back of %d, equal prefix %d", name, len(b), len(want), commonPrefix(b, want))
		}
	}
	roundTrip("shaped from the start", 0)
	roundTrip("shaped midway", 64<<10)
}

func commonPrefix(a, b []byte) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

// TestClockJump: a jump moves Now ahead and fires the timers it passes,
// at once, and only those; later ones stay pending for what is left.
func TestClockJump(t *testing.T) {
	t.Parallel()
	c := &pauseClock{}
	fired := make(chan string, 3)
	c.AfterFunc(time.Hour, func() { fired <- "1h" })
	late := c.AfterFunc(10*time.Hour, func() { fired <- "10h" })
	stopped := c.AfterFunc(30*time.Minute, func() { fired <- "stopped" })
	if !stopped.Stop() {
		t.Fatal("Stop of a pending timer: false")
	}
	before := c.Now()
	c.jump(2 * time.Hour)
	if d := c.Now().Sub(before); d < 2*time.Hour {
		t.Fatalf("Now moved %v, want >= 2h", d)
	}
	if got := <-fired; got != "1h" {
		t.Fatalf("fired %q, want the 1h timer", got)
	}
	c.mu.Lock()
	left := late.(*pauseTimer).due.Sub(time.Now().Add(c.offset))
	pending := len(c.pending)
	c.mu.Unlock()
	if pending != 1 || left < 7*time.Hour || left > 8*time.Hour {
		t.Fatalf("%d pending, the 10h timer due in %v, want 1 pending due in about 8h", pending, left)
	}
	if !late.Stop() {
		t.Fatal("Stop of the 10h timer: false")
	}
	select {
	case f := <-fired:
		t.Fatalf("%q fired", f)
	default:
	}

	// Paused, a jump holds what comes due until Resume.
	c.pause()
	c.AfterFunc(time.Minute, func() { fired <- "held" })
	c.jump(time.Hour)
	c.mu.Lock()
	held := len(c.held)
	c.mu.Unlock()
	for held == 0 { // the due timer's fire runs in its own goroutine
		time.Sleep(time.Millisecond)
		c.mu.Lock()
		held = len(c.held)
		c.mu.Unlock()
	}
	select {
	case f := <-fired:
		t.Fatalf("%q fired while paused", f)
	default:
	}
	c.resume()
	if got := <-fired; got != "held" {
		t.Fatalf("fired %q on resume", got)
	}
}
