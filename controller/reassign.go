package controller

import (
	"fmt"
	"maps"
	"slices"
)

// Partition reassignment, after Kafka's ReplicationControlManager,
// PartitionReassignmentReplicas and PartitionReassignmentRevert.
//
// A reassignment is kept in the partition itself (AddingReplicas,
// RemovingReplicas), as Kafka keeps it in its PartitionRecord: it is
// replicated, persisted in bbolt and carried by Raft snapshots with the
// partition (recPartition records replace a partition whole). While it is
// in progress Replicas is the target replicas followed by the removing
// ones, so Metadata shows the full replica set and the brokers being added
// start as followers of the current leader and catch up. Once every target
// replica is in the ISR the next partition change (the leader's
// AlterPartition adding the last one, or a reassignment that only
// removes) completes it: the removing replicas leave the replicas and the
// ISR, the leader moves to the first target replica in the ISR if it was
// being removed, the leader epoch is bumped (replicas were removed), and
// the adding and removing sets are cleared.

// Reassignment is one partition of an AlterPartitionReassignments
// request: Replicas is the target, nil cancels the partition's
// reassignment.
type Reassignment struct {
	Topic     string
	Partition int32
	Replicas  []int32
}

// OngoingReassignment is one partition being reassigned
// (ListPartitionReassignments).
type OngoingReassignment struct {
	Topic            string
	Partition        int32
	Replicas         []int32
	AddingReplicas   []int32
	RemovingReplicas []int32
}

// Reassigning reports whether a reassignment of p is in progress.
func (p *Partition) Reassigning() bool {
	return len(p.AddingReplicas) > 0 || len(p.RemovingReplicas) > 0
}

// OriginalReplicas are the replicas before the reassignment: Replicas
// without the adding ones.
func (p *Partition) OriginalReplicas() []int32 {
	return without(p.Replicas, p.AddingReplicas)
}

func without(s, drop []int32) []int32 {
	out := make([]int32, 0, len(s))
	for _, x := range s {
		if !slices.Contains(drop, x) {
			out = append(out, x)
		}
	}
	return out
}

// AlterPartitionReassignments starts, changes or cancels reassignments
// (Kafka's AlterPartitionReassignments). The result has one entry per
// request entry, in order, nil for success: ErrUnknownTopic for a topic
// or partition that does not exist, ErrInvalidReplicaAssignment for an
// empty target, duplicates or unregistered brokers (and for a
// cancellation that would need an unclean election the topic does not
// allow), ErrInvalidReplicationFactor when !allowRFChange and the target
// has another size than the original replicas, ErrNoReassignmentInProgress
// when cancelling a partition that is not being reassigned. All accepted
// entries commit as one batch; the error is for the whole request
// (ErrNotController, ErrClosed, a failed commit).
func (c *Controller) AlterPartitionReassignments(reqs []Reassignment, allowRFChange bool) ([]error, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.beginWriteLocked(); err != nil {
		return nil, err
	}
	s := c.snap.Load()
	res := make([]error, len(reqs))
	// A batch may name a partition twice: later entries see earlier ones.
	pending := map[TopicPartition]*Partition{}
	var order []TopicPartition
	for i, r := range reqs {
		t := s.Topics[r.Topic]
		p := t.Partition(r.Partition)
		if p == nil {
			res[i] = fmt.Errorf("%w: %s-%d", ErrUnknownTopic, r.Topic, r.Partition)
			continue
		}
		tp := TopicPartition{r.Topic, r.Partition}
		if q := pending[tp]; q != nil {
			p = q
		}
		var np *Partition
		var err error
		if r.Replicas == nil {
			np, err = cancelReassignment(s, t, p)
		} else {
			np, err = startReassignment(s, t, p, r.Replicas, allowRFChange)
		}
		if err != nil {
			res[i] = err
			continue
		}
		if np == nil {
			continue // nothing to change
		}
		if pending[tp] == nil {
			order = append(order, tp)
		}
		pending[tp] = np
	}
	recs := make([]record, 0, len(order))
	for _, tp := range order {
		recs = append(recs, changed(s.Topics[tp.Topic], pending[tp]))
	}
	if err := c.commitLocked(recs); err != nil {
		return nil, err
	}
	for _, tp := range order {
		np := pending[tp]
		ev := c.log.Info().Str("topic", tp.Topic).Int32("partition", tp.Partition).Ints32("replicas", np.Replicas)
		if np.Reassigning() {
			ev.Ints32("adding", np.AddingReplicas).Ints32("removing", np.RemovingReplicas).Msg("partition reassignment started")
		} else {
			ev.Msg("partition reassignment done")
		}
	}
	return res, nil
}

// startReassignment returns p reassigned to target (nil if that changes
// nothing), after Kafka's PartitionReassignmentReplicas: removing are the
// current replicas not in target, adding the target replicas not current,
// and the replicas the target followed by the removing ones. During a
// reassignment the current replicas are the whole set, as in Kafka.
func startReassignment(s *Snapshot, t *Topic, p *Partition, target []int32, allowRFChange bool) (*Partition, error) {
	if len(target) == 0 {
		return nil, fmt.Errorf("%w: the manual partition assignment of %s-%d includes an empty replica list", ErrInvalidReplicaAssignment, t.Name, p.Index)
	}
	if err := validateReplicas(s, p.Index, target); err != nil {
		return nil, fmt.Errorf("%w (topic %s)", err, t.Name)
	}
	if orig := p.OriginalReplicas(); !allowRFChange && len(target) != len(orig) {
		return nil, fmt.Errorf("%w: the replication factor of %s-%d would change from %d to %d",
			ErrInvalidReplicationFactor, t.Name, p.Index, len(orig), len(target))
	}
	// As Kafka's PartitionChangeBuilder: the adding and removing sets
	// are sorted, and an empty one keeps the partition's current set.
	var adding, removing []int32
	for _, r := range p.Replicas {
		if !slices.Contains(target, r) {
			removing = append(removing, r)
		}
	}
	for _, r := range target {
		if !slices.Contains(p.Replicas, r) {
			adding = append(adding, r)
		}
	}
	slices.Sort(adding)
	slices.Sort(removing)
	np := *p
	np.Replicas = slices.Concat(target, removing)
	if len(adding) > 0 {
		np.AddingReplicas = adding
	}
	if len(removing) > 0 {
		np.RemovingReplicas = removing
	}
	if slices.Equal(np.Replicas, p.Replicas) && slices.Equal(np.AddingReplicas, p.AddingReplicas) && slices.Equal(np.RemovingReplicas, p.RemovingReplicas) {
		return nil, nil
	}
	completeReassignment(s, p, &np)
	np.PartitionEpoch++
	return &np, nil
}

// cancelReassignment returns p with its reassignment reverted, after
// Kafka's PartitionReassignmentRevert: the adding replicas leave the
// replicas and the ISR, the removing ones stay. If that leaves the ISR
// empty the revert needs an unclean election, refused unless the topic
// allows it.
func cancelReassignment(s *Snapshot, t *Topic, p *Partition) (*Partition, error) {
	if !p.Reassigning() {
		return nil, fmt.Errorf("%w: %s-%d is not being reassigned", ErrNoReassignmentInProgress, t.Name, p.Index)
	}
	np := *p
	np.Replicas = without(p.Replicas, p.AddingReplicas)
	np.ISR = without(p.ISR, p.AddingReplicas)
	np.AddingReplicas, np.RemovingReplicas = nil, nil
	if len(np.ISR) == 0 {
		if !uncleanEnabled(t) {
			return nil, fmt.Errorf("%w: unable to revert the partition assignment of %s-%d because it would require an unclean leader election",
				ErrInvalidReplicaAssignment, t.Name, p.Index)
		}
		for _, r := range np.Replicas {
			if s.Live(r) {
				np.ISR = []int32{r}
				break
			}
		}
		if len(np.ISR) == 0 {
			np.ISR = []int32{np.Replicas[0]}
		}
	}
	if !slices.Contains(np.ISR, np.Leader) {
		np.Leader = electFrom(s, np.Replicas, np.ISR)
	}
	if np.Leader != p.Leader || len(np.Replicas) < len(p.Replicas) {
		np.LeaderEpoch++
	}
	np.PartitionEpoch++
	return &np, nil
}

// electFrom returns the first of replicas that is in isr and live, or -1.
func electFrom(s *Snapshot, replicas, isr []int32) int32 {
	for _, r := range replicas {
		if slices.Contains(isr, r) && s.Live(r) {
			return r
		}
	}
	return -1
}

// completeReassignment finishes np's reassignment if every target replica
// is in its ISR (Kafka's maybeCompleteReassignment): the removing
// replicas leave, the leader moves to the first target replica in the
// ISR if it was removed, and the leader epoch is bumped when replicas
// were removed (so removed replicas stop fetching, and the rest follow
// the new epoch). old is the partition before the change (np may already
// carry other changes of the same record, such as a new ISR); the caller
// bumps the partition epoch. Reports whether it completed.
func completeReassignment(s *Snapshot, old, np *Partition) bool {
	if !np.Reassigning() {
		return false
	}
	isr := without(np.ISR, np.RemovingReplicas)
	replicas := without(np.Replicas, np.RemovingReplicas)
	if len(isr) == 0 {
		return false
	}
	for _, r := range replicas {
		if !slices.Contains(isr, r) {
			return false
		}
	}
	removed := len(np.RemovingReplicas) > 0
	np.Replicas, np.ISR = replicas, isr
	np.AddingReplicas, np.RemovingReplicas = nil, nil
	if !slices.Contains(replicas, np.Leader) {
		np.Leader = electFrom(s, replicas, isr)
	}
	if removed && np.LeaderEpoch == old.LeaderEpoch {
		np.LeaderEpoch++
	}
	return true
}

// Reassignments lists the partitions being reassigned (Kafka's
// ListPartitionReassignments): all of them when partitions is nil, else
// those of the named ones that are; unknown topics and partitions are
// left out. Sorted by topic, then partition.
func (s *Snapshot) Reassignments(partitions map[string][]int32) []OngoingReassignment {
	var out []OngoingReassignment
	add := func(t *Topic, p *Partition) {
		if p.Reassigning() {
			out = append(out, OngoingReassignment{Topic: t.Name, Partition: p.Index, Replicas: p.Replicas,
				AddingReplicas: p.AddingReplicas, RemovingReplicas: p.RemovingReplicas})
		}
	}
	if partitions == nil {
		forEachPartition(s, add)
		return out
	}
	for _, name := range slices.Sorted(maps.Keys(partitions)) {
		t := s.Topics[name]
		if t == nil {
			continue
		}
		idx := slices.Clone(partitions[name])
		slices.Sort(idx)
		for _, i := range slices.Compact(idx) {
			if p := t.Partition(i); p != nil {
				add(t, p)
			}
		}
	}
	return out
}
