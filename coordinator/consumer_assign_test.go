package coordinator

import (
	"fmt"
	"reflect"
	"testing"
)

// checkComplete fails unless every partition of every subscribed topic is
// assigned exactly once, to a member subscribed to its topic.
func checkComplete(t *testing.T, members []AssignMember, parts map[string]int32, a Assignment) {
	t.Helper()
	sub := map[string]map[string]bool{}
	want := map[tp]bool{}
	for _, m := range members {
		sub[m.ID] = map[string]bool{}
		for _, tn := range m.Topics {
			sub[m.ID][tn] = true
			for p := int32(0); p < parts[tn]; p++ {
				want[tp{tn, p}] = true
			}
		}
	}
	got := map[tp]string{}
	for id, byTopic := range a {
		for tn, ps := range byTopic {
			if !sub[id][tn] {
				t.Errorf("member %s got %s, not subscribed", id, tn)
			}
			for _, p := range ps {
				k := tp{tn, p}
				if prev, dup := got[k]; dup {
					t.Errorf("%s-%d given to %s and %s", tn, p, prev, id)
				}
				got[k] = id
			}
		}
	}
	for k := range want {
		if _, ok := got[k]; !ok {
			t.Errorf("%s-%d unassigned", k.topic, k.part)
		}
	}
	if len(got) != len(want) {
		t.Errorf("assigned %d partitions, want %d", len(got), len(want))
	}
}

func counts(a Assignment) map[string]int {
	c := map[string]int{}
	for id, byTopic := range a {
		c[id] += 0
		for _, ps := range byTopic {
			c[id] += len(ps)
		}
	}
	return c
}

func members(n int, topics ...string) []AssignMember {
	ms := make([]AssignMember, n)
	for i := range ms {
		ms[i] = AssignMember{ID: fmt.Sprintf("m%02d", i), Topics: topics}
	}
	return ms
}

func TestAssignRange(t *testing.T) {
	for _, tc := range []struct {
		name    string
		members []AssignMember
		parts   map[string]int32
		want    Assignment
	}{
		{"7 over 3", members(3, "a"), map[string]int32{"a": 7}, Assignment{
			"m00": {"a": {0, 1, 2}}, "m01": {"a": {3, 4}}, "m02": {"a": {5, 6}},
		}},
		{"fewer partitions than members", members(3, "a"), map[string]int32{"a": 2}, Assignment{
			"m00": {"a": {0}}, "m01": {"a": {1}}, "m02": {},
		}},
		{"unknown topic skipped", members(2, "a", "zz"), map[string]int32{"a": 2}, Assignment{
			"m00": {"a": {0}}, "m01": {"a": {1}},
		}},
		{"heterogeneous", []AssignMember{{ID: "x", Topics: []string{"a", "b"}}, {ID: "y", Topics: []string{"b"}}},
			map[string]int32{"a": 2, "b": 3}, Assignment{
				"x": {"a": {0, 1}, "b": {0, 1}}, "y": {"b": {2}},
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := AssignRange(tc.members, tc.parts)
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			checkComplete(t, tc.members, tc.parts, got)
		})
	}
}

func TestAssignUniformBalanced(t *testing.T) {
	for _, tc := range []struct {
		n     int
		parts map[string]int32
	}{
		{1, map[string]int32{"a": 5}},
		{3, map[string]int32{"a": 7, "b": 2}},
		{4, map[string]int32{"a": 1, "b": 1, "c": 1, "d": 1, "e": 1}},
		{5, map[string]int32{"a": 3}},
		{6, map[string]int32{"a": 100, "b": 17}},
	} {
		t.Run(fmt.Sprint(tc.n, tc.parts), func(t *testing.T) {
			var topics []string
			for tn := range tc.parts {
				topics = append(topics, tn)
			}
			ms := members(tc.n, topics...)
			a := AssignUniform(ms, tc.parts)
			checkComplete(t, ms, tc.parts, a)
			lo, hi := 1<<30, -1
			for _, m := range ms {
				c := counts(a)[m.ID]
				lo, hi = min(lo, c), max(hi, c)
			}
			if hi-lo > 1 {
				t.Fatalf("counts differ by %d: %v", hi-lo, counts(a))
			}
		})
	}
}

// A member joining takes only what balance needs; everyone else keeps the
// rest of what they had.
func TestAssignUniformSticky(t *testing.T) {
	parts := map[string]int32{"a": 12}
	ms := members(3, "a")
	first := AssignUniform(ms, parts)
	ms = append(ms, AssignMember{ID: "m03", Topics: []string{"a"}})
	for i := range 3 {
		ms[i].Current = first[ms[i].ID]
	}
	second := AssignUniform(ms, parts)
	checkComplete(t, ms, parts, second)
	moved := 0
	for i := range 3 {
		kept := map[int32]bool{}
		for _, p := range second[ms[i].ID]["a"] {
			kept[p] = true
		}
		for _, p := range first[ms[i].ID]["a"] {
			if !kept[p] {
				moved++
			}
		}
	}
	if moved != 3 {
		t.Fatalf("moved %d partitions, want 3 (12 over 4 from 12 over 3); first %v second %v", moved, first, second)
	}
	for id, c := range counts(second) {
		if c != 3 {
			t.Fatalf("member %s has %d, want 3: %v", id, c, second)
		}
	}
}

// Current partitions of unsubscribed or deleted topics, and out-of-range
// partitions, are not kept.
func TestAssignUniformDropsStale(t *testing.T) {
	ms := []AssignMember{
		{ID: "x", Topics: []string{"a"}, Current: map[string][]int32{"a": {0, 9}, "gone": {0}, "b": {0}}},
		{ID: "y", Topics: []string{"a", "b"}},
	}
	parts := map[string]int32{"a": 2, "b": 1}
	a := AssignUniform(ms, parts)
	checkComplete(t, ms, parts, a)
	if got := a["x"]["a"]; len(got) == 0 || got[0] != 0 {
		t.Fatalf("x lost a-0 it owned: %v", a)
	}
}

func TestGroupTypeString(t *testing.T) {
	for typ, want := range map[GroupType]string{GroupTypeClassic: "classic", GroupTypeConsumer: "consumer", GroupTypeShare: "share", 9: "unknown"} {
		if got := typ.String(); got != want {
			t.Errorf("%d: got %q want %q", typ, got, want)
		}
	}
}

// TestAssignUniformStickyUneven: members that keep their partitions keep
// no more than their share, so a new member gets some even when the
// partitions do not divide evenly (4 over 2 members, then over 3: 2, 1, 1,
// not 2, 2, 0).
func TestAssignUniformStickyUneven(t *testing.T) {
	for _, tc := range []struct{ parts, before, after int }{{4, 2, 3}, {5, 2, 3}, {7, 3, 4}, {10, 4, 6}} {
		parts := map[string]int32{"a": int32(tc.parts)}
		ms := members(tc.before, "a")
		first := AssignUniform(ms, parts)
		for i := range ms {
			ms[i].Current = first[ms[i].ID]
		}
		for i := tc.before; i < tc.after; i++ {
			ms = append(ms, AssignMember{ID: fmt.Sprintf("n%02d", i), Topics: []string{"a"}})
		}
		second := AssignUniform(ms, parts)
		checkComplete(t, ms, parts, second)
		lo, hi := tc.parts, 0
		for _, c := range counts(second) {
			lo, hi = min(lo, c), max(hi, c)
		}
		if len(counts(second)) != tc.after || hi-lo > 1 {
			t.Errorf("%d partitions over %d then %d members: %v", tc.parts, tc.before, tc.after, counts(second))
		}
	}
}
