package controller

import (
	"fmt"
	"maps"
	"slices"
)

// Partition leadership and ISR changes, after Kafka's
// ReplicationControlManager and PartitionChangeBuilder. Every change
// replaces the whole partition with a recPartition record computed on the
// active controller. A leader change bumps LeaderEpoch and PartitionEpoch,
// an ISR-only change PartitionEpoch.

// TopicPartition names one partition.
type TopicPartition struct {
	Topic     string
	Partition int32
}

func uncleanEnabled(t *Topic) bool {
	v, _, _ := t.ConfigValue("unclean.leader.election.enable")
	return v == "true"
}

// forEachPartition visits every partition, topics in name order.
func forEachPartition(s *Snapshot, fn func(t *Topic, p *Partition)) {
	for _, name := range s.TopicNames() {
		t := s.Topics[name]
		for i := range t.Partitions {
			fn(t, &t.Partitions[i])
		}
	}
}

func changed(t *Topic, p *Partition) record {
	return record{Type: recPartition, TopicID: t.ID, Partition: p}
}

// fenceElections takes broker id (about to be fenced) out of every ISR
// and leadership. An ISR never becomes empty: its last member stays, and
// if that is id the partition goes offline (leader -1) until id returns,
// unless the topic allows unclean election: then any live replica leads.
func fenceElections(s *Snapshot, id int32) []record {
	return moveAwayElections(s, id, nil)
}

// moveAwayElections is fenceElections for the partitions only accepts
// (nil: every partition): replicas of id whose log dir failed
// (ReplicasOffline), or all of them.
func moveAwayElections(s *Snapshot, id int32, only func(t *Topic, p *Partition) bool) []record {
	var recs []record
	forEachPartition(s, func(t *Topic, p *Partition) {
		if p.Leader != id && !slices.Contains(p.ISR, id) {
			return
		}
		if only != nil && !only(t, p) {
			return
		}
		live := func(x int32) bool { return x != id && s.ReplicaOnline(x, t, p.Index) }
		np := *p
		if isr := slices.DeleteFunc(slices.Clone(p.ISR), func(x int32) bool { return x == id }); len(isr) > 0 {
			np.ISR = isr
		}
		if p.Leader == id {
			np.Leader = -1
			for _, r := range p.Replicas {
				if slices.Contains(np.ISR, r) && live(r) {
					np.Leader = r
					break
				}
			}
			if np.Leader == -1 && uncleanEnabled(t) {
				for _, r := range p.Replicas {
					if live(r) {
						np.Leader, np.ISR = r, []int32{r}
						break
					}
				}
			}
			np.LeaderEpoch++
		}
		if np.Leader == p.Leader && slices.Equal(np.ISR, p.ISR) {
			return
		}
		completeReassignment(s, p, &np)
		np.PartitionEpoch++
		recs = append(recs, changed(t, &np))
	})
	return recs
}

// unfenceElections makes broker id (about to be unfenced) leader of the
// offline partitions whose ISR holds it (or, for topics allowing unclean
// election, that it is a replica of).
func unfenceElections(s *Snapshot, id int32) []record {
	var recs []record
	forEachPartition(s, func(t *Topic, p *Partition) {
		if p.Leader != -1 {
			return
		}
		np := *p
		br, _ := s.Broker(id)
		switch {
		case br.ReplicaOffline(t.ID, p.Index):
			return
		case slices.Contains(p.ISR, id):
		case uncleanEnabled(t) && slices.Contains(p.Replicas, id):
			np.ISR = []int32{id}
		default:
			return
		}
		np.Leader = id
		np.LeaderEpoch++
		np.PartitionEpoch++
		recs = append(recs, changed(t, &np))
	})
	return recs
}

// AlterPartition changes a partition's ISR on behalf of its leader
// (Kafka's AlterPartition). The caller must be the current leader
// (ErrNotLeader) at the current leader epoch (ErrFencedLeaderEpoch) and
// know the current partition epoch (ErrInvalidUpdateVersion). newISR
// must be non-empty, without duplicates, a subset of the replicas and
// contain the leader (ErrInvalidRequest); brokers it adds must be live
// (ErrIneligibleReplica). Returns the partition as it now is (unchanged
// when newISR is the current ISR); the partition epoch is bumped, the
// leader epoch is not. Needs the active controller.
func (c *Controller) AlterPartition(topicID [16]byte, partition int32, leaderID int32, leaderEpoch int32, partitionEpoch int32, newISR []int32) (Partition, error) {
	res, err := c.AlterPartitions(leaderID, []ISRChange{{TopicID: topicID, Partition: partition,
		LeaderEpoch: leaderEpoch, PartitionEpoch: partitionEpoch, ISR: newISR}})
	if err != nil {
		return Partition{}, err
	}
	return res[0].Partition, res[0].Err
}

// ISRChange is one partition's new ISR in AlterPartitions, with the
// leader's epochs.
type ISRChange struct {
	TopicID        [16]byte
	Partition      int32
	LeaderEpoch    int32
	PartitionEpoch int32
	ISR            []int32
}

// ISRResult is AlterPartitions' answer for one ISRChange: the partition
// as it now is (as it was, with Err set, when the change was refused).
type ISRResult struct {
	Partition Partition
	Err       error
}

// AlterPartitions is AlterPartition for several partitions led by
// leaderID, checked one by one (a later change of the same partition
// sees the earlier one) and committed as one log entry. The error is for
// the whole batch (ErrNotController, ErrClosed, a failed commit); a
// refused change has its own Err.
func (c *Controller) AlterPartitions(leaderID int32, changes []ISRChange) ([]ISRResult, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.beginWriteLocked(); err != nil {
		return nil, err
	}
	s := c.snap.Load()
	res := make([]ISRResult, len(changes))
	type key struct {
		id [16]byte
		p  int32
	}
	pending := map[key]*Partition{}
	var recs []record
	for i, ch := range changes {
		t := s.TopicsByID[ch.TopicID]
		if t == nil {
			res[i].Err = fmt.Errorf("%w: topic id %x does not exist", ErrUnknownTopic, ch.TopicID)
			continue
		}
		k := key{ch.TopicID, ch.Partition}
		p := pending[k]
		if p == nil {
			p = t.Partition(ch.Partition)
		}
		if p == nil {
			res[i].Err = fmt.Errorf("%w: topic '%s' has no partition %d", ErrUnknownTopic, t.Name, ch.Partition)
			continue
		}
		np, err := alterISR(s, t, p, leaderID, ch)
		res[i] = ISRResult{Partition: *np, Err: err}
		if err == nil && np != p {
			pending[k] = np
			recs = append(recs, changed(t, np))
		}
	}
	if err := c.commitLocked(recs); err != nil {
		return nil, err
	}
	now := c.snap.Load()
	for i, ch := range changes {
		if res[i].Err != nil {
			continue
		}
		if p := now.TopicsByID[ch.TopicID].Partition(ch.Partition); p != nil {
			res[i].Partition = *p
		}
	}
	return res, nil
}

// alterISR checks ch against p, the partition as the batch has left it,
// and returns the changed partition (p itself when the ISR is already
// ch.ISR), or p and why the change is refused.
func alterISR(s *Snapshot, t *Topic, p *Partition, leaderID int32, ch ISRChange) (*Partition, error) {
	switch {
	case ch.LeaderEpoch != p.LeaderEpoch:
		return p, fmt.Errorf("%w: %s-%d is at leader epoch %d, request has %d", ErrFencedLeaderEpoch, t.Name, p.Index, p.LeaderEpoch, ch.LeaderEpoch)
	case leaderID != p.Leader:
		return p, fmt.Errorf("%w: broker %d does not lead %s-%d (leader %d)", ErrNotLeader, leaderID, t.Name, p.Index, p.Leader)
	case ch.PartitionEpoch != p.PartitionEpoch:
		return p, fmt.Errorf("%w: %s-%d is at partition epoch %d, request has %d", ErrInvalidUpdateVersion, t.Name, p.Index, p.PartitionEpoch, ch.PartitionEpoch)
	}
	if len(ch.ISR) == 0 {
		return p, fmt.Errorf("%w: empty ISR for %s-%d", ErrInvalidRequest, t.Name, p.Index)
	}
	seen := map[int32]bool{}
	for _, r := range ch.ISR {
		switch {
		case seen[r]:
			return p, fmt.Errorf("%w: ISR of %s-%d lists broker %d twice", ErrInvalidRequest, t.Name, p.Index, r)
		case !slices.Contains(p.Replicas, r):
			return p, fmt.Errorf("%w: broker %d in the ISR of %s-%d is not a replica", ErrInvalidRequest, r, t.Name, p.Index)
		case !slices.Contains(p.ISR, r) && !s.ReplicaOnline(r, t, p.Index):
			return p, fmt.Errorf("%w: broker %d is fenced or unregistered and cannot join the ISR of %s-%d", ErrIneligibleReplica, r, t.Name, p.Index)
		}
		seen[r] = true
	}
	if !seen[leaderID] {
		return p, fmt.Errorf("%w: ISR of %s-%d must contain its leader %d", ErrInvalidRequest, t.Name, p.Index, leaderID)
	}
	if slices.Equal(ch.ISR, p.ISR) {
		return p, nil
	}
	np := *p
	np.ISR = slices.Clone(ch.ISR)
	completeReassignment(s, p, &np) // the last target replica joined the ISR
	np.PartitionEpoch++
	return &np, nil
}

// ElectLeaders runs leader elections (Kafka's ElectLeaders). preferred:
// make the first replica the leader if it is live and in the ISR
// (ErrElectionNotNeeded if it already leads, ErrPreferredLeaderNotAvailable
// if it cannot). Otherwise (unclean): give offline partitions a leader,
// from the ISR if possible, else any live replica, which then forms the
// ISR alone (ErrElectionNotNeeded if the partition has a leader,
// ErrEligibleLeadersNotAvailable if no replica is live).
//
// partitions maps topic names to partitions; nil means every partition,
// and then the result holds only the partitions whose leader changed.
// The result has one entry per partition, nil for success. The error is
// for the whole request (ErrNotController, ErrClosed, a failed commit).
func (c *Controller) ElectLeaders(preferred bool, partitions map[string][]int32) (map[TopicPartition]error, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.beginWriteLocked(); err != nil {
		return nil, err
	}
	s := c.snap.Load()
	all := partitions == nil
	if all {
		partitions = map[string][]int32{}
		for name, t := range s.Topics {
			for i := range t.Partitions {
				partitions[name] = append(partitions[name], int32(i))
			}
		}
	}
	res := map[TopicPartition]error{}
	var recs []record
	for _, name := range slices.Sorted(maps.Keys(partitions)) {
		t := s.Topics[name]
		for _, idx := range partitions[name] {
			tp := TopicPartition{name, idx}
			if _, dup := res[tp]; dup {
				continue
			}
			var p *Partition
			if t != nil {
				p = t.Partition(idx)
			}
			if p == nil {
				res[tp] = fmt.Errorf("%w: %s-%d", ErrUnknownTopic, name, idx)
				continue
			}
			np, err := elect(s, t, p, preferred)
			if err != nil {
				if !all {
					res[tp] = fmt.Errorf("%w: %s-%d", err, name, idx)
				}
				continue
			}
			res[tp] = nil
			recs = append(recs, changed(t, np))
		}
	}
	if err := c.commitLocked(recs); err != nil {
		return nil, err
	}
	return res, nil
}

func elect(s *Snapshot, t *Topic, p *Partition, preferred bool) (*Partition, error) {
	np := *p
	online := func(r int32) bool { return s.ReplicaOnline(r, t, p.Index) }
	if preferred {
		pref := p.Replicas[0]
		switch {
		case p.Leader == pref:
			return nil, ErrElectionNotNeeded
		case !slices.Contains(p.ISR, pref) || !online(pref):
			return nil, ErrPreferredLeaderNotAvailable
		}
		np.Leader = pref
	} else {
		if p.Leader != -1 {
			return nil, ErrElectionNotNeeded
		}
		for _, r := range p.Replicas {
			if slices.Contains(p.ISR, r) && online(r) {
				np.Leader = r
				break
			}
		}
		if np.Leader == -1 {
			for _, r := range p.Replicas {
				if online(r) {
					np.Leader, np.ISR = r, []int32{r}
					break
				}
			}
		}
		if np.Leader == -1 {
			return nil, ErrEligibleLeadersNotAvailable
		}
	}
	np.LeaderEpoch++
	np.PartitionEpoch++
	return &np, nil
}
