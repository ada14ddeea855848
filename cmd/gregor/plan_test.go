package main

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
)

// spread builds topic's partitions with replicas placed round-robin on
// brokers (leaders rotating), as a fresh topic would be.
func spread(m map[tpKey][]int32, topic string, partitions, rf int, brokers ...int32) map[tpKey][]int32 {
	if m == nil {
		m = map[tpKey][]int32{}
	}
	for p := range partitions {
		var rs []int32
		for r := range rf {
			rs = append(rs, brokers[(p+r)%len(brokers)])
		}
		m[tpKey{topic, int32(p)}] = rs
	}
	return m
}

func noRacks(ids ...int32) []planBroker {
	var bs []planBroker
	for _, id := range ids {
		bs = append(bs, planBroker{ID: id})
	}
	return bs
}

// withRacks gives broker i+1 rack racks[i].
func withRacks(racks ...string) []planBroker {
	var bs []planBroker
	for i, r := range racks {
		bs = append(bs, planBroker{ID: int32(i + 1), Rack: r})
	}
	return bs
}

// planStats are the figures a plan is judged by.
type planStats struct {
	moves       int            // replicas placed on a broker that did not hold them
	replicas    map[int32]int  // per broker, all topics
	leaders     map[int32]int  // per broker, all topics
	topicSpread map[string]int // per topic: max-min replicas per broker
	leadSpread  map[string]int // per topic: max-min leaders per broker
	minRacks    int            // the fewest racks a partition spans, minus min(rf, racks)
}

func spreadOf(counts map[int32]int, ids []int32) int {
	lo, hi := -1, 0
	for _, id := range ids {
		c := counts[id]
		hi = max(hi, c)
		if lo < 0 || c < lo {
			lo = c
		}
	}
	return hi - lo
}

// judge checks the invariants every plan must hold and returns its
// figures.
func judge(t *testing.T, current, plan map[tpKey][]int32, brokers []planBroker) planStats {
	t.Helper()
	if len(current) != len(plan) {
		t.Fatalf("plan names other partitions: %v", plan)
	}
	rack := map[int32]string{}
	racks := map[string]bool{}
	var ids []int32
	for _, b := range brokers {
		rack[b.ID] = b.Rack
		racks[b.Rack] = true
		ids = append(ids, b.ID)
	}
	st := planStats{replicas: map[int32]int{}, leaders: map[int32]int{}, topicSpread: map[string]int{}, leadSpread: map[string]int{}, minRacks: 1 << 30}
	topicReplicas := map[string]map[int32]int{}
	topicLeaders := map[string]map[int32]int{}
	for k, old := range current {
		rs, ok := plan[k]
		if !ok || len(rs) != len(old) {
			t.Fatalf("%v: replicas %v, was %v (replication factor changed)", k, rs, old)
		}
		used := map[string]bool{}
		for _, b := range rs {
			if _, ok := rack[b]; !ok {
				t.Fatalf("%v: replica on broker %d, not one of the brokers", k, b)
			}
			if slices.Contains(rs[slices.Index(rs, b)+1:], b) {
				t.Fatalf("%v: broker %d twice in %v", k, b, rs)
			}
			if !slices.Contains(old, b) {
				st.moves++
			}
			used[rack[b]] = true
			st.replicas[b]++
			if topicReplicas[k.Topic] == nil {
				topicReplicas[k.Topic], topicLeaders[k.Topic] = map[int32]int{}, map[int32]int{}
			}
			topicReplicas[k.Topic][b]++
		}
		st.leaders[rs[0]]++
		topicLeaders[k.Topic][rs[0]]++
		st.minRacks = min(st.minRacks, len(used)-min(len(rs), len(racks)))
	}
	for topic := range topicReplicas {
		st.topicSpread[topic] = spreadOf(topicReplicas[topic], ids)
		st.leadSpread[topic] = spreadOf(topicLeaders[topic], ids)
	}
	return st
}

func TestPlanAssignment(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		current   map[tpKey][]int32
		brokers   []planBroker
		rackAware bool
		moves     int // the fewest moves a balanced plan needs
		// unevenRacks: the racks force an uneven replica spread.
		unevenRacks bool
	}{
		{name: "grow 3 to 4, rf 3", current: spread(nil, "a", 4, 3, 1, 2, 3), brokers: noRacks(1, 2, 3, 4), moves: 3},
		{name: "grow 3 to 4, rf 1", current: spread(nil, "a", 8, 1, 1, 2, 3), brokers: noRacks(1, 2, 3, 4), moves: 2},
		{name: "grow 3 to 4, rf 2, two topics", current: spread(spread(nil, "a", 6, 2, 1, 2, 3), "b", 6, 2, 1, 2, 3), brokers: noRacks(1, 2, 3, 4), moves: 6},
		{name: "balanced already", current: spread(nil, "a", 6, 2, 1, 2, 3), brokers: noRacks(1, 2, 3), moves: 0},
		{name: "drain broker 4", current: spread(nil, "a", 8, 2, 1, 2, 3, 4), brokers: noRacks(1, 2, 3), moves: 4},
		{name: "replace broker 2 by 5", current: spread(nil, "a", 6, 3, 1, 2, 3), brokers: noRacks(1, 3, 5), moves: 6},
		{name: "all on one broker", current: spread(nil, "a", 9, 1, 1), brokers: noRacks(1, 2, 3), moves: 6},
		{name: "rf equals brokers", current: spread(nil, "a", 5, 3, 1, 2, 3), brokers: noRacks(1, 2, 3), moves: 0},
		{name: "many single-partition topics", current: spread(spread(spread(spread(nil, "a", 1, 1, 1), "b", 1, 1, 1), "c", 1, 1, 1), "d", 1, 1, 1), brokers: noRacks(1, 2), moves: 2},
		{name: "racks: spread out of two racks", current: spread(nil, "a", 6, 3, 1, 2, 3, 4), brokers: withRacks("a", "a", "b", "b", "c", "c"), rackAware: true, moves: 6},
		{name: "racks: grow into a new rack", current: spread(nil, "a", 6, 2, 1, 2), brokers: withRacks("a", "b", "c"), rackAware: true, moves: 4},
		{name: "racks: already spread", current: spread(nil, "a", 6, 3, 1, 2, 3), brokers: withRacks("a", "b", "c"), rackAware: true, moves: 0},
		{name: "racks: rf 4 over 3 racks", current: spread(nil, "a", 6, 4, 1, 2, 3, 4), brokers: withRacks("a", "a", "b", "b", "c", "c"), rackAware: true, moves: 8},
		{name: "racks: unequal racks", current: spread(nil, "a", 4, 2, 1, 2, 3, 4), brokers: withRacks("a", "b", "b", "b"), rackAware: true, moves: 2, unevenRacks: true},
		{name: "racks ignored", current: spread(nil, "a", 6, 2, 1, 2), brokers: withRacks("a", "a", "b"), moves: 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			plan, err := planAssignment(tc.current, tc.brokers, tc.rackAware)
			if err != nil {
				t.Fatal(err)
			}
			st := judge(t, tc.current, plan, tc.brokers)
			var ids []int32
			for _, b := range tc.brokers {
				ids = append(ids, b.ID)
			}
			for topic, s := range st.topicSpread {
				if s > 1 && !tc.unevenRacks {
					t.Errorf("topic %s: replicas per broker differ by %d", topic, s)
				}
			}
			for topic, s := range st.leadSpread {
				if s > 1 && !tc.unevenRacks {
					t.Errorf("topic %s: leaders per broker differ by %d", topic, s)
				}
			}
			if s := spreadOf(st.replicas, ids); s > 1 && !tc.unevenRacks {
				t.Errorf("replicas per broker differ by %d: %v", s, st.replicas)
			}
			if s := spreadOf(st.leaders, ids); s > 1 && !tc.unevenRacks {
				t.Errorf("leaders per broker differ by %d: %v", s, st.leaders)
			}
			if st.moves != tc.moves {
				t.Errorf("%d replicas moved, want %d", st.moves, tc.moves)
			}
			if tc.rackAware && st.minRacks < 0 {
				t.Errorf("a partition spans %d racks fewer than it could", -st.minRacks)
			}
			if t.Failed() {
				t.Logf("current %s\nplan    %s", fmtPlan(tc.current), fmtPlan(plan))
			}
			again, err := planAssignment(tc.current, tc.brokers, tc.rackAware)
			if err != nil || fmtPlan(again) != fmtPlan(plan) {
				t.Errorf("not deterministic: %s then %s (%v)", fmtPlan(plan), fmtPlan(again), err)
			}
			// Planning the plan again moves nothing.
			if !tc.unevenRacks {
				next, err := planAssignment(plan, tc.brokers, tc.rackAware)
				if err != nil || fmtPlan(next) != fmtPlan(plan) {
					t.Errorf("replanning moves: %s then %s (%v)", fmtPlan(plan), fmtPlan(next), err)
				}
			}
		})
	}
}

func fmtPlan(m map[tpKey][]int32) string {
	var s []string
	for _, k := range slices.SortedFunc(maps.Keys(m), func(a, b tpKey) int {
		if a.Topic != b.Topic {
			return strings.Compare(a.Topic, b.Topic)
		}
		return int(a.Partition - b.Partition)
	}) {
		s = append(s, fmt.Sprintf("%s:%d=%s", k.Topic, k.Partition, ints(m[k])))
	}
	return strings.Join(s, " ")
}

func TestPlanAssignmentErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		current   map[tpKey][]int32
		brokers   []planBroker
		rackAware bool
		want      string
	}{
		{name: "rf above brokers", current: spread(nil, "a", 2, 3, 1, 2, 3), brokers: noRacks(1, 2), want: "a:0 has replication factor 3 but only 2 brokers are given ([1,2])"},
		{name: "no brokers", current: spread(nil, "a", 2, 1, 1), want: "no brokers"},
		{name: "broker twice", current: spread(nil, "a", 2, 1, 1), brokers: noRacks(1, 1), want: "broker 1 given twice"},
		{name: "some racks missing", current: spread(nil, "a", 2, 1, 1), brokers: withRacks("a", "", "b"), rackAware: true, want: "brokers [2] have no rack while others do"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := planAssignment(tc.current, tc.brokers, tc.rackAware)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
	// Without rack awareness the missing rack does not matter.
	if _, err := planAssignment(spread(nil, "a", 2, 1, 1), withRacks("a", "", "b"), false); err != nil {
		t.Fatal(err)
	}
}
