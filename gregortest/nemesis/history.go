package nemesis

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// Op is one operation of a history: who ran it (Process), what it was (F),
// when it was invoked (Start) and when it completed (End), and how: ok
// (it happened), fail (it did not) or info (unknown: a produce that timed
// out may or may not have been written).
type Op struct {
	Index   int // completion order
	Process string
	F       string // produce, poll, commit, fetch-offsets, txn, poll-rc, fault, heal, converge
	Type    string // ok, fail, info
	Start   time.Time
	End     time.Time

	Topic     string
	Partition int32
	Offset    int64  // produce: the acknowledged offset
	Value     string // produce: the record's value

	Seen    []Seen          // poll, poll-rc: the records returned; txn: the records written (offset -1)
	Offsets map[int32]int64 // commit, fetch-offsets: next offset per partition
	Err     string
	Detail  string // fault, heal, converge: what was done
}

// Seen is a record a consumer received.
type Seen struct {
	Partition int32
	Offset    int64
	Value     string
}

// Ops fields the checkers use.
const (
	OK   = "ok"
	Fail = "fail"
	Info = "info"
)

// History is the operations of a run, appended as they complete; safe for
// concurrent use.
type History struct {
	mu  sync.Mutex
	ops []Op
}

// Add appends a completed operation and returns its index.
func (h *History) Add(op Op) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	op.Index = len(h.ops)
	h.ops = append(h.ops, op)
	return op.Index
}

// Ops returns a copy of the operations in completion order.
func (h *History) Ops() []Op {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.ops)
}

// format writes ops as history lines, invocation and completion each on
// its own line, ordered by time, relative to t0.
func format(ops []Op, t0 time.Time) string {
	type line struct {
		at   time.Time
		text string
	}
	var ls []line
	for _, op := range ops {
		what := op.F
		switch op.F {
		case "produce":
			what = fmt.Sprintf("produce %s/%d %q", op.Topic, op.Partition, op.Value)
		case "commit", "fetch-offsets":
			what = fmt.Sprintf("%s %s", op.F, offsetsString(op.Offsets))
		case "fault", "heal", "converge":
			what = op.F + " " + op.Detail
		case "txn":
			what = fmt.Sprintf("txn %s %s %s", op.Detail, op.Topic, values(op))
		}
		ls = append(ls, line{op.Start, fmt.Sprintf("%10.3fs %-12s invoke   %s", op.Start.Sub(t0).Seconds(), op.Process, what)})
		res := op.Type
		switch {
		case op.F == "produce" && op.Type == OK:
			res += fmt.Sprintf(" offset %d", op.Offset)
		case op.F == "poll" || op.F == "poll-rc":
			var ss []string
			for _, s := range op.Seen {
				ss = append(ss, fmt.Sprintf("%d@%d=%q", s.Partition, s.Offset, s.Value))
			}
			res += " " + strings.Join(ss, " ")
		case op.F == "fetch-offsets" && op.Type == OK:
			res += " " + offsetsString(op.Offsets)
		}
		if op.Err != "" {
			res += " (" + op.Err + ")"
		}
		ls = append(ls, line{op.End, fmt.Sprintf("%10.3fs %-12s %-8s %s", op.End.Sub(t0).Seconds(), op.Process, "complete", res)})
	}
	slices.SortStableFunc(ls, func(a, b line) int { return a.at.Compare(b.at) })
	var b strings.Builder
	for _, l := range ls {
		b.WriteString(l.text)
		b.WriteByte('\n')
	}
	return b.String()
}

func offsetsString(m map[int32]int64) string {
	ps := make([]int32, 0, len(m))
	for p := range m {
		ps = append(ps, p)
	}
	slices.Sort(ps)
	var ss []string
	for _, p := range ps {
		ss = append(ss, fmt.Sprintf("%d:%d", p, m[p]))
	}
	return "{" + strings.Join(ss, " ") + "}"
}
