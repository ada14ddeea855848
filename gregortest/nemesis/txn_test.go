package nemesis

import (
	"slices"
	"testing"
)

// TestCheckTxn: the transactional checker over hand-made histories.
func TestCheckTxn(t *testing.T) {
	t.Parallel()
	txn := func(typ string, vs ...string) Op {
		op := Op{Process: "t0", F: "txn", Type: typ, Topic: "x"}
		for p, v := range vs {
			op.Seen = append(op.Seen, Seen{Partition: int32(p), Offset: -1, Value: v})
		}
		return op
	}
	rc := func(p int32, off int64, v string) Op {
		return Op{Process: "rc", F: "poll-rc", Type: OK, Topic: "x", Seen: []Seen{{Partition: p, Offset: off, Value: v}}}
	}
	ops := []Op{txn(OK, "a0", "a1"), txn(Fail, "b0", "b1"), txn(Info, "c0", "c1"), txn(Info, "d0", "d1")}
	clean := map[int32][]Seen{0: {{0, 0, "a0"}, {0, 2, "c0"}}, 1: {{1, 0, "a1"}, {1, 2, "c1"}}}
	tests := []struct {
		name  string
		ops   []Op
		final map[int32][]Seen
		want  []string
	}{
		{name: "clean", ops: append(slices.Clone(ops), rc(0, 0, "a0")), final: clean},
		{name: "committed partly lost", ops: ops, final: map[int32][]Seen{0: {{0, 0, "a0"}, {0, 2, "c0"}}, 1: {{1, 2, "c1"}}}, want: []string{"txn-lost"}},
		{name: "aborted in the final read", ops: ops, final: map[int32][]Seen{0: {{0, 0, "a0"}, {0, 1, "b0"}}, 1: {{1, 0, "a1"}}}, want: []string{"aborted-read"}},
		{name: "aborted read during the run", ops: append(slices.Clone(ops), rc(0, 1, "b0")), final: clean, want: []string{"aborted-read", "divergent"}},
		{name: "unknown half applied", ops: ops, final: map[int32][]Seen{0: {{0, 0, "a0"}, {0, 3, "d0"}}, 1: {{1, 0, "a1"}}}, want: []string{"txn-partial"}},
		{name: "duplicate", ops: ops, final: map[int32][]Seen{0: {{0, 0, "a0"}, {0, 1, "a0"}}, 1: {{1, 0, "a1"}}}, want: []string{"txn-duplicate"}},
		{name: "phantom", ops: ops, final: map[int32][]Seen{0: {{0, 0, "a0"}, {0, 1, "zz"}}, 1: {{1, 0, "a1"}}}, want: []string{"phantom"}},
	}
	for _, tt := range tests {
		r, as := checkTxn(tt.ops, tt.final)
		var got []string
		for _, a := range as {
			got = append(got, a.Kind)
		}
		slices.Sort(got)
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s: anomalies %v, want %v (%v)", tt.name, got, tt.want, as)
		}
		if r.Committed != 1 || r.Aborted != 1 || r.Unknown != 2 {
			t.Errorf("%s: counts %+v", tt.name, r)
		}
	}
}
