package nemesis

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"gregor/gregortest"
)

// The link, restart and clock faults. Their parameters (delay, rate,
// direction, number of resets, size of a jump) come from the fault's Pick
// alone, so a seed, or a scripted Fault, reproduces them.

// params is the fault's own random source, from its Pick.
func (f Fault) params() *rand.Rand {
	return rand.New(rand.NewPCG(uint64(f.Pick), 0x6e656d65736973))
}

// direction picks which of a node's bytes a link fault shapes: those it
// sends, those it receives, or both, one time in three each.
func direction(r *rand.Rand) (out, in bool) {
	switch r.IntN(3) {
	case 0:
		return true, false
	case 1:
		return false, true
	}
	return true, true
}

// LatencyOf is the shape of a latency fault: 50-500 ms of delay, up to
// half of it again as jitter.
func LatencyOf(f Fault) gregortest.Shape {
	r := f.params()
	d := 50*time.Millisecond + time.Duration(r.Int64N(int64(450*time.Millisecond))).Round(time.Millisecond)
	s := gregortest.Shape{Delay: d, Jitter: time.Duration(r.Int64N(int64(d/2) + 1)).Round(time.Millisecond)}
	s.Out, s.In = direction(r)
	return s
}

// BandwidthOf is the shape of a bandwidth fault: 64-512 KiB/s.
func BandwidthOf(f Fault) gregortest.Shape {
	r := f.params()
	s := gregortest.Shape{Rate: (64 + r.Int64N(449)) << 10}
	s.Out, s.In = direction(r)
	return s
}

// DropsOf is how many times a drop-conns fault resets the node's
// connections over its hold (evenly spread, the first at once): 2-4.
func DropsOf(f Fault) int { return 2 + f.params().IntN(3) }

// JumpOf is how far a clock-jump fault steps the clock: half the time
// 5-30 s (around the 4 s session and the groups' timeouts), else 30 s to
// 5 min (past transaction timeouts).
func JumpOf(f Fault) time.Duration {
	r := f.params()
	if r.IntN(2) == 0 {
		return 5*time.Second + time.Duration(r.Int64N(int64(25*time.Second))).Round(time.Millisecond)
	}
	return 30*time.Second + time.Duration(r.Int64N(int64(270*time.Second))).Round(time.Millisecond)
}

func describeShape(s gregortest.Shape) string {
	var dirs []string
	if s.Out {
		dirs = append(dirs, "out")
	}
	if s.In {
		dirs = append(dirs, "in")
	}
	var what []string
	if s.Delay > 0 || s.Jitter > 0 {
		what = append(what, fmt.Sprintf("delay %v jitter %v", s.Delay, s.Jitter))
	}
	if s.Rate > 0 {
		what = append(what, fmt.Sprintf("%d KiB/s", s.Rate>>10))
	}
	return strings.Join(what, ", ") + " " + strings.Join(dirs, "+")
}

// shape injects a latency or bandwidth fault on one node's inter-broker
// links.
func (n *nemesis) shape(f Fault, s gregortest.Shape) (string, func()) {
	node := int(f.Pick % uint32(n.c.Len()))
	n.c.Shape(node, s)
	return fmt.Sprintf("node %d: %s", node+1, describeShape(s)), func() { n.c.Unshape(node) }
}

// dropConns resets one node's inter-broker connections DropsOf times over
// the hold; the heal stops the resets and waits for their goroutine.
func (n *nemesis) dropConns(f Fault) (string, func()) {
	node := int(f.Pick % uint32(n.c.Len()))
	drops := DropsOf(f)
	every := f.Hold / time.Duration(drops)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < drops; i++ {
			if i > 0 {
				select {
				case <-stop:
					return
				case <-time.After(every):
				}
			}
			n.c.DropConns(node)
			n.h.Add(Op{Process: "nemesis", F: "fault", Type: OK, Start: time.Now(), End: time.Now(),
				Detail: fmt.Sprintf("%s node %d: reset %d of %d", DropConns, node+1, i+1, drops)})
		}
	}()
	return fmt.Sprintf("node %d: %d resets %v apart", node+1, drops, every), func() {
		close(stop)
		wg.Wait()
	}
}

// rollingRestart stops each node in turn with a controlled shutdown and
// starts it again, from the picked node on, waiting for the metadata to
// converge before the next node; nothing is left to heal.
func (n *nemesis) rollingRestart(f Fault) (string, func()) {
	nodes := n.c.Len()
	first := int(f.Pick % uint32(nodes))
	var order []int
	for k := range nodes {
		i := (first + k) % nodes
		order = append(order, i+1)
		start := time.Now()
		n.c.Restart(i)
		n.h.Add(Op{Process: "nemesis", F: "fault", Type: OK, Start: start, End: time.Now(),
			Detail: fmt.Sprintf("%s node %d restarted", RollingRestart, i+1)})
		n.converge(fmt.Sprintf("%s of node %d", RollingRestart, i+1))
	}
	return fmt.Sprintf("nodes %v in turn", order), func() {}
}

// clockJump steps one node's broker clock forward; it stays ahead (see
// gregortest.Cluster.JumpClock), so the heal has nothing to undo.
func (n *nemesis) clockJump(f Fault) (string, func()) {
	node := int(f.Pick % uint32(n.c.Len()))
	d := JumpOf(f)
	n.c.JumpClock(node, d)
	return fmt.Sprintf("node %d: +%v (now %v ahead)", node+1, d, n.c.ClockOffset(node)), func() {}
}
