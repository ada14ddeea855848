package coordinator

// Server-side assignors of KIP-848 consumer groups (group.consumer.assignors):
// "uniform" (balanced and sticky) and "range" (contiguous ranges per topic).
// They are pure functions of the members' subscriptions, their current
// assignments and the topics' partition counts, so the coordinator can run
// them on its shard goroutine and tests can run them without a group.
// Not wired to a group yet: nothing calls them outside tests.

import (
	"sort"
)

// GroupType tells the kinds of groups apart: classic (JoinGroup/SyncGroup),
// consumer (KIP-848 ConsumerGroupHeartbeat) and, later, share (KIP-932).
type GroupType int8

const (
	GroupTypeClassic GroupType = iota
	GroupTypeConsumer
	// GroupTypeShare is reserved for KIP-932 share groups; none exist yet.
	GroupTypeShare
)

// String returns the name Kafka uses in ListGroups and DescribeGroups.
func (t GroupType) String() string {
	switch t {
	case GroupTypeClassic:
		return "classic"
	case GroupTypeConsumer:
		return "consumer"
	case GroupTypeShare:
		return "share"
	}
	return "unknown"
}

// AssignMember is one member as an assignor sees it.
type AssignMember struct {
	ID      string
	Topics  []string           // subscribed topics, already resolved from a regex
	Current map[string][]int32 // partitions the member owns now, by topic
}

// Assignment maps member id to topic to partitions, partitions ascending.
type Assignment map[string]map[string][]int32

type tp struct {
	topic string
	part  int32
}

// AssignRange gives each topic's partitions to its subscribers in contiguous
// ranges: subscribers sorted by id, the first (partitions % subscribers) get
// one partition more. Topics missing from partitions (unknown) are skipped.
func AssignRange(members []AssignMember, partitions map[string]int32) Assignment {
	out := make(Assignment, len(members))
	for _, m := range members {
		out[m.ID] = map[string][]int32{}
	}
	subs := subscribers(members, partitions)
	for topic, ids := range subs {
		n := partitions[topic]
		per, extra := n/int32(len(ids)), n%int32(len(ids))
		next := int32(0)
		for i, id := range ids {
			cnt := per
			if int32(i) < extra {
				cnt++
			}
			for p := next; p < next+cnt; p++ {
				out[id][topic] = append(out[id][topic], p)
			}
			next += cnt
		}
	}
	dropEmpty(out)
	return out
}

// AssignUniform spreads all subscribed partitions so that members' counts
// differ as little as possible while keeping partitions where they are: a
// member keeps its current partitions (still subscribed, still existing) up
// to its quota (total/members, one more for as many members as
// total%members), and the rest go one at a time to the subscribed member with
// the fewest partitions (ties by member id). With identical subscriptions
// counts differ by at most one.
func AssignUniform(members []AssignMember, partitions map[string]int32) Assignment {
	out := make(Assignment, len(members))
	count := make(map[string]int, len(members))
	subscribed := make(map[string]map[string]bool, len(members))
	for _, m := range members {
		out[m.ID] = map[string][]int32{}
		s := map[string]bool{}
		for _, t := range m.Topics {
			if _, ok := partitions[t]; ok {
				s[t] = true
			}
		}
		subscribed[m.ID] = s
	}
	subs := subscribers(members, partitions)
	total := 0
	topics := make([]string, 0, len(subs))
	for t := range subs {
		total += int(partitions[t])
		topics = append(topics, t)
	}
	sort.Strings(topics)
	if len(members) == 0 || total == 0 {
		dropEmpty(out)
		return out
	}
	// A member keeps at most base partitions, base+1 for the first extra
	// members that own that many: keeping ceil(total/members) each could
	// leave nothing for a new member (2, 2, 0 of 4).
	base, extra := total/len(members), total%len(members)
	above := 0 // members that kept base+1

	taken := map[tp]bool{}
	ordered := append([]AssignMember(nil), members...)
	sort.Slice(ordered, func(i, j int) bool { return ordered[i].ID < ordered[j].ID })
	for _, m := range ordered {
		quota := base
		if above < extra {
			quota++
		}
		cur := make([]string, 0, len(m.Current))
		for t := range m.Current {
			cur = append(cur, t)
		}
		sort.Strings(cur)
		for _, t := range cur {
			if !subscribed[m.ID][t] {
				continue
			}
			ps := append([]int32(nil), m.Current[t]...)
			sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
			for _, p := range ps {
				k := tp{t, p}
				if p < 0 || p >= partitions[t] || taken[k] || count[m.ID] >= quota {
					continue
				}
				taken[k] = true
				out[m.ID][t] = append(out[m.ID][t], p)
				count[m.ID]++
			}
		}
		if count[m.ID] > base {
			above++
		}
	}
	for _, t := range topics {
		for p := int32(0); p < partitions[t]; p++ {
			k := tp{t, p}
			if taken[k] {
				continue
			}
			best := ""
			for _, id := range subs[t] {
				if best == "" || count[id] < count[best] {
					best = id
				}
			}
			taken[k] = true
			out[best][t] = append(out[best][t], p)
			count[best]++
		}
	}
	for _, byTopic := range out {
		for _, ps := range byTopic {
			sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
		}
	}
	dropEmpty(out)
	return out
}

// subscribers returns, per known topic with partitions, the ids of the
// members subscribed to it, sorted.
func subscribers(members []AssignMember, partitions map[string]int32) map[string][]string {
	subs := map[string][]string{}
	for _, m := range members {
		seen := map[string]bool{}
		for _, t := range m.Topics {
			if n, ok := partitions[t]; !ok || n <= 0 || seen[t] {
				continue
			}
			seen[t] = true
			subs[t] = append(subs[t], m.ID)
		}
	}
	for _, ids := range subs {
		sort.Strings(ids)
	}
	return subs
}

func dropEmpty(a Assignment) {
	for _, byTopic := range a {
		for t, ps := range byTopic {
			if len(ps) == 0 {
				delete(byTopic, t)
			}
		}
	}
}
