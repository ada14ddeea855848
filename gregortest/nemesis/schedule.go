package nemesis

import (
	"fmt"
	"math/rand/v2"
	"time"
)

// Kind is a kind of fault.
type Kind string

// The faults the nemesis injects. Each is held for a while, then healed.
const (
	KillLeader     Kind = "kill-leader"     // kill -9 (no controlled shutdown) of a workload partition's leader, then restart
	KillController Kind = "kill-controller" // kill -9 of the active controller, then restart
	KillNode       Kind = "kill-node"       // kill -9 of a random node, then restart
	IsolateNode    Kind = "isolate"         // one node cut off from every other node (clients still reach it)
	IsolateLeader  Kind = "isolate-leader"  // the same, of a workload partition's leader
	Split          Kind = "split"           // a minority of (n-1)/2 nodes cut off from the majority (with 3 nodes: one node, by single links)
	Bridge         Kind = "bridge"          // two sides cut off from each other, one node in the middle still sees both
	Pause          Kind = "pause"           // a leader or the active controller frozen past the session timeout (pause.go)
	DiskFull       Kind = "disk-full"       // one node's partition-log disk has no space left
	Latency        Kind = "latency"         // 50-500 ms added (with jitter) to one node's links, one or both directions (faults.go)
	Bandwidth      Kind = "bandwidth"       // one node's links limited to 64-512 KiB/s, one or both directions
	DropConns      Kind = "drop-conns"      // one node's connections reset 2-4 times over the hold (new ones let through)
	RollingRestart Kind = "rolling-restart" // every node in turn stopped cleanly (controlled shutdown) and restarted, converging between nodes
	ClockJump      Kind = "clock-jump"      // one node's broker clock stepped forward 5 s to 5 min (it stays ahead)
)

// AllKinds is every kind of fault.
var AllKinds = []Kind{KillLeader, KillController, KillNode, IsolateNode, IsolateLeader, Split, Bridge, Pause, DiskFull,
	Latency, Bandwidth, DropConns, RollingRestart, ClockJump}

// Weights are how often the schedule picks each kind, relative to the
// others (a kind not listed weighs 1). They aim a two-hour run (about 700
// faults at the default pacing, 500 if it runs slow) at issue 19's counts
// with room to spare: kill-leader 4/19.5 (>= 130), each network shape and
// pauses 1.5-2/19.5 (>= 40), disk-full and the link and clock faults
// 1/19.5 (>= 25); a rolling restart takes three controlled shutdowns and
// convergences, so it weighs 0.5.
var Weights = map[Kind]float64{KillLeader: 4, KillController: 1, KillNode: 1, IsolateNode: 1.5, IsolateLeader: 1.5, Split: 1.5, Bridge: 1.5, Pause: 2, DiskFull: 1,
	Latency: 1, Bandwidth: 1, DropConns: 1, RollingRestart: 0.5, ClockJump: 1}

// pauseHold is how long a pause is held: past the session timeout
// (gregortest's broker.session.timeout.ms=4000), so the node is declared
// dead and wakes up to a cluster that moved on.
var pauseHold = [2]time.Duration{5 * time.Second, 10 * time.Second}

// Fault is one step of a schedule: wait Quiet with the cluster healthy,
// inject the fault, hold it, heal it.
type Fault struct {
	Kind  Kind
	Pick  uint32 // chooses the target: a partition (its leader) or a node, modulo their number
	Quiet time.Duration
	Hold  time.Duration
}

func (f Fault) String() string {
	return fmt.Sprintf("%s pick=%d quiet=%v hold=%v", f.Kind, f.Pick, f.Quiet, f.Hold)
}

// Schedule is a seeded random sequence of faults: the same seed gives
// the same sequence.
type Schedule struct {
	rng   *rand.Rand
	kinds []Kind
	hold  [2]time.Duration
	quiet [2]time.Duration
}

// NewSchedule returns the schedule of a seed over the kinds, each fault
// held for a uniform time in hold and preceded by a quiet time in quiet.
func NewSchedule(seed uint64, kinds []Kind, hold, quiet [2]time.Duration) *Schedule {
	return &Schedule{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), kinds: kinds, hold: hold, quiet: quiet}
}

// Next returns the next fault.
func (s *Schedule) Next() Fault {
	between := func(r [2]time.Duration) time.Duration {
		if r[1] <= r[0] {
			return r[0]
		}
		return r[0] + time.Duration(s.rng.Int64N(int64(r[1]-r[0]))).Round(time.Millisecond)
	}
	total := 0.0
	for _, k := range s.kinds {
		total += weight(k)
	}
	x, kind := s.rng.Float64()*total, s.kinds[len(s.kinds)-1]
	for _, k := range s.kinds {
		if x < weight(k) {
			kind = k
			break
		}
		x -= weight(k)
	}
	f := Fault{Kind: kind, Pick: s.rng.Uint32(), Quiet: between(s.quiet), Hold: between(s.hold)}
	if kind == Pause && f.Hold < pauseHold[0] {
		f.Hold = between(pauseHold)
	}
	return f
}

func weight(k Kind) float64 {
	if w, ok := Weights[k]; ok {
		return w
	}
	return 1
}
