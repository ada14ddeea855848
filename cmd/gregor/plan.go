package main

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// planBroker is a broker the planner may place replicas on (Rack "":
// none).
type planBroker struct {
	ID   int32
	Rack string
}

// planAssignment proposes new replica lists for the partitions in
// current (each keeps its replication factor) on brokers, as
// kafka-reassign-partitions.sh --generate does, but moving as little as
// it can. Topic by topic, every broker gets an even share of the
// topic's replicas and of its leaders (first replicas), the odd ones
// going to the brokers holding the fewest of the topics planned so far,
// so that the totals are even too; replicas already on one of brokers
// stay where the share allows. With rackAware and
// brokers in racks, each partition spans as many racks as its
// replication factor allows (never more than ceil(RF/racks) replicas in
// one rack), as Kafka's rack-aware assignment does; that takes
// precedence over the even share when the racks are of unequal size.
// The proposal is deterministic.
func planAssignment(current map[tpKey][]int32, brokers []planBroker, rackAware bool) (map[tpKey][]int32, error) {
	if len(brokers) == 0 {
		return nil, fmt.Errorf("no brokers to place replicas on")
	}
	rack := map[int32]string{}
	var noRack []int32
	racks := map[string]bool{}
	for _, b := range brokers {
		if _, dup := rack[b.ID]; dup {
			return nil, fmt.Errorf("broker %d given twice", b.ID)
		}
		rack[b.ID] = b.Rack
		if b.Rack == "" {
			noRack = append(noRack, b.ID)
		} else {
			racks[b.Rack] = true
		}
	}
	if rackAware && len(racks) > 0 && len(noRack) > 0 {
		return nil, fmt.Errorf("brokers %s have no rack while others do (rack-aware placement needs a rack on every broker; --disable-rack-aware places without racks)", ints(noRack))
	}
	if !rackAware || len(racks) == 0 {
		for id := range rack {
			rack[id] = ""
		}
		racks = map[string]bool{"": true}
	}
	ids := make([]int32, 0, len(brokers))
	for _, b := range brokers {
		ids = append(ids, b.ID)
	}
	slices.Sort(ids)

	keys := slices.SortedFunc(maps.Keys(current), func(a, b tpKey) int {
		return cmp.Or(strings.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
	})
	for _, k := range keys { // in order, so the error names the first partition
		rs := current[k]
		if len(rs) == 0 {
			return nil, fmt.Errorf("%s:%d has no replicas", k.Topic, k.Partition)
		}
		if len(rs) > len(ids) {
			return nil, fmt.Errorf("%s:%d has replication factor %d but only %d brokers are given (%s)", k.Topic, k.Partition, len(rs), len(ids), ints(ids))
		}
	}
	p := &planner{ids: ids, rack: rack, numRacks: len(racks), load: map[int32]int{}, leads: map[int32]int{}}
	out := map[tpKey][]int32{}
	for start := 0; start < len(keys); {
		end := start
		for end < len(keys) && keys[end].Topic == keys[start].Topic {
			end++
		}
		p.planTopic(keys[start:end], current, out)
		start = end
	}
	return out, nil
}

// planner carries the choices across topics.
type planner struct {
	ids      []int32
	rack     map[int32]string
	numRacks int
	load     map[int32]int // replicas placed on each broker, topics so far
	leads    map[int32]int // leaders placed on each broker, topics so far
}

// part is one partition being planned.
type part struct {
	rf       int
	replicas []int32
}

func (p *planner) planTopic(keys []tpKey, current map[tpKey][]int32, out map[tpKey][]int32) {
	parts := make([]*part, len(keys))
	count := map[int32]int{}
	total := 0
	for i, k := range keys {
		pt := &part{rf: len(current[k])}
		for _, b := range current[k] {
			if _, ok := p.rack[b]; ok && !slices.Contains(pt.replicas, b) {
				pt.replicas = append(pt.replicas, b)
			}
		}
		for _, b := range pt.replicas {
			count[b]++
		}
		total += pt.rf
		parts[i] = pt
	}

	// Each broker's share: the odd replicas go to the brokers holding
	// the fewest of the topics planned so far, then to those holding
	// the most of this one.
	n := len(p.ids)
	target := map[int32]int{}
	byHeld := slices.Clone(p.ids)
	slices.SortStableFunc(byHeld, func(a, b int32) int {
		return cmp.Or(cmp.Compare(p.load[a], p.load[b]), cmp.Compare(count[b], count[a]))
	})
	for i, b := range byHeld {
		target[b] = total / n
		if i < total%n {
			target[b]++
		}
	}

	for _, pt := range parts {
		p.trimRacks(pt, count, target)
	}

	// Drop replicas beyond a broker's share, followers first, from the
	// highest partitions.
	for _, b := range p.ids {
		for pos := n - 1; pos >= 0 && count[b] > target[b]; pos-- {
			for i := len(parts) - 1; i >= 0 && count[b] > target[b]; i-- {
				pt := parts[i]
				if j := slices.Index(pt.replicas, b); j == pos {
					pt.replicas = slices.Delete(pt.replicas, j, j+1)
					count[b]--
				}
			}
		}
	}

	// Fill the missing replicas.
	for _, pt := range parts {
		for len(pt.replicas) < pt.rf {
			p.fill(pt, parts, count, target)
		}
	}

	p.balanceLeaders(parts)
	for i, k := range keys {
		out[k] = parts[i].replicas
		for _, b := range parts[i].replicas {
			p.load[b]++
		}
		p.leads[parts[i].replicas[0]]++
	}
}

// maxPerRack is how many replicas of a partition of rf replicas one rack
// may hold.
func (p *planner) maxPerRack(rf int) int { return (rf + p.numRacks - 1) / p.numRacks }

// trimRacks drops kept replicas that crowd a rack, so that no rack
// holds more than its part and the partition can still span min(rf,
// racks) racks; of the crowding replicas it drops the one whose broker
// is furthest above its share (then the last).
func (p *planner) trimRacks(pt *part, count, target map[int32]int) {
	if p.numRacks < 2 {
		return
	}
	for {
		perRack := map[string]int{}
		for _, b := range pt.replicas {
			perRack[p.rack[b]]++
		}
		over := 0 // drop from racks holding more than over
		switch {
		case slices.ContainsFunc(pt.replicas, func(b int32) bool { return perRack[p.rack[b]] > p.maxPerRack(pt.rf) }):
			over = p.maxPerRack(pt.rf)
		case len(perRack)+pt.rf-len(pt.replicas) < min(pt.rf, p.numRacks):
			over = 1
		default:
			return
		}
		drop := -1
		for j, b := range pt.replicas {
			if perRack[p.rack[b]] > over && (drop < 0 || count[b]-target[b] >= count[pt.replicas[drop]]-target[pt.replicas[drop]]) {
				drop = j
			}
		}
		count[pt.replicas[drop]]--
		pt.replicas = slices.Delete(pt.replicas, drop, drop+1)
	}
}

// eligible reports whether b may join pt's replicas (without the
// replica at skip, -1: none) under the rack rule.
func (p *planner) eligible(pt *part, b int32, skip int) bool {
	perRack := map[string]int{}
	have := 0
	for j, r := range pt.replicas {
		if j == skip {
			continue
		}
		if r == b {
			return false
		}
		perRack[p.rack[r]]++
		have++
	}
	if p.numRacks < 2 {
		return true
	}
	r := p.rack[b]
	if perRack[r] >= p.maxPerRack(pt.rf) {
		return false
	}
	// The replicas still to place after b must reach the racks unused.
	used := len(perRack)
	if perRack[r] == 0 {
		used++
	}
	return used+pt.rf-have-1 >= min(pt.rf, p.numRacks)
}

// fill adds one replica to pt: the eligible broker furthest below its
// share; if every broker below its share is ineligible, one swap with
// another partition makes room; else the least loaded eligible broker.
func (p *planner) fill(pt *part, parts []*part, count, target map[int32]int) {
	best := int32(-1)
	better := func(b int32) bool {
		if best < 0 {
			return true
		}
		return cmp.Or(cmp.Compare(target[b]-count[b], target[best]-count[best]), cmp.Compare(p.load[best], p.load[b]), cmp.Compare(best, b)) > 0
	}
	for _, b := range p.ids {
		if p.eligible(pt, b, -1) && better(b) {
			best = b
		}
	}
	if best >= 0 && count[best] < target[best] {
		pt.replicas = append(pt.replicas, best)
		count[best]++
		return
	}
	// A broker b below its share cannot take pt: hand b a replica c of
	// another partition q, and pt gets c.
	for _, b := range p.ids {
		if count[b] >= target[b] {
			continue
		}
		for _, q := range parts {
			if q == pt {
				continue
			}
			for j, c := range q.replicas {
				if p.eligible(pt, c, -1) && p.eligible(q, b, j) {
					q.replicas[j] = b
					pt.replicas = append(pt.replicas, c)
					count[b]++
					return
				}
			}
		}
	}
	if best < 0 { // the racks cannot be honoured (too few brokers in them)
		for _, b := range p.ids {
			if !slices.Contains(pt.replicas, b) && (best < 0 || count[b]-target[b] < count[best]-target[best]) {
				best = b
			}
		}
	}
	pt.replicas = append(pt.replicas, best)
	count[best]++
}

// balanceLeaders picks each partition's leader (first replica) among its
// replicas so that leaders spread evenly: it starts from the current
// first replicas and moves leadership along chains (the leader of
// partition x hands it to another of x's replicas, which hands one of
// its own on, ...) from a busy broker to one leading at least two
// fewer, until no such chain exists: first for the topic's own leaders,
// then for the leaders of every topic planned so far, among moves that
// keep the topic's spread.
func (p *planner) balanceLeaders(parts []*part) {
	leads := map[int32]int{}
	for _, pt := range parts {
		leads[pt.replicas[0]]++
	}
	all := func(b int32) int { return leads[b] + p.leads[b] }
	p.shiftLeaders(parts, leads, func(b int32) int { return leads[b] }, func(from, to int32) bool { return leads[to]+2 <= leads[from] })
	p.shiftLeaders(parts, leads, all, func(from, to int32) bool { return leads[to] < leads[from] && all(to)+2 <= all(from) })
}

// shiftLeaders moves leadership along chains from the brokers with the
// highest weight while a chain ends at a broker to which want allows it.
func (p *planner) shiftLeaders(parts []*part, leads map[int32]int, weight func(int32) int, want func(from, to int32) bool) {
	for range len(parts)*len(p.ids) + 1 {
		from := slices.Clone(p.ids)
		slices.SortStableFunc(from, func(a, b int32) int { return cmp.Compare(weight(b), weight(a)) })
		moved := false
		for _, b := range from {
			if p.shiftLeader(parts, leads, weight, b, want) {
				moved = true
				break
			}
		}
		if !moved {
			return
		}
	}
}

// shiftLeader finds by breadth-first search the shortest chain from
// broker from to a broker want accepts (the lightest first) and moves
// leadership along it.
func (p *planner) shiftLeader(parts []*part, leads map[int32]int, weight func(int32) int, from int32, want func(from, to int32) bool) bool {
	type step struct {
		prev int32
		part *part
	}
	seen := map[int32]step{from: {prev: -1}}
	queue := []int32{from}
	for len(queue) > 0 {
		x := queue[0]
		queue = queue[1:]
		var hops []int32
		via := map[int32]*part{}
		for _, pt := range parts {
			if pt.replicas[0] != x {
				continue
			}
			for _, y := range pt.replicas[1:] {
				if _, ok := seen[y]; !ok && via[y] == nil {
					hops = append(hops, y)
					via[y] = pt
				}
			}
		}
		slices.SortStableFunc(hops, func(a, b int32) int { return cmp.Compare(weight(a), weight(b)) })
		for _, y := range hops {
			seen[y] = step{prev: x, part: via[y]}
			if want(from, y) {
				for at := y; at != from; {
					s := seen[at]
					j := slices.Index(s.part.replicas, at)
					s.part.replicas[0], s.part.replicas[j] = s.part.replicas[j], s.part.replicas[0]
					at = s.prev
				}
				leads[from]--
				leads[y]++
				return true
			}
			queue = append(queue, y)
		}
	}
	return false
}
