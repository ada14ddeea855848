package controller

import (
	"fmt"
	"slices"
)

// Replicas in failed log dirs, after Kafka's handling of a broker's
// offline log dirs (KIP-858): a broker whose log dir fails reports the
// replicas it held there (ReplicasOffline); the controller records them
// on the broker's registration, moves their leadership to other in-sync
// replicas and takes the broker out of their ISRs, as fencing does for
// the whole broker. An offline replica is not elected leader nor let back
// into the ISR. A new registration (the broker restarted) clears the set;
// a broker whose dir is still failed reports its replicas again.

// Replica names a partition by topic id (a topic recreated under the
// same name is another topic).
type Replica struct {
	TopicID   [16]byte `json:"topic_id"`
	Partition int32    `json:"partition"`
}

// ReplicaOffline reports whether b's replica of the partition is in a
// failed log dir.
func (b Broker) ReplicaOffline(topicID [16]byte, partition int32) bool {
	return slices.Contains(b.OfflineReplicas, Replica{topicID, partition})
}

// ReplicaOnline reports whether broker id is live and its replica of
// partition p of t is not in a failed log dir: whether it may lead or
// join the ISR.
func (s *Snapshot) ReplicaOnline(id int32, t *Topic, p int32) bool {
	b, ok := s.Broker(id)
	return ok && !b.Fenced && !b.ReplicaOffline(t.ID, p)
}

// ReplicasOffline records that broker id's replicas of replicas are in a
// failed log dir (see above). brokerEpoch, unless -1, must be the
// broker's current epoch (ErrStaleBrokerEpoch). Replicas of unknown
// topics, of partitions the broker holds no replica of, or already
// recorded are skipped. Needs the active controller.
func (c *Controller) ReplicasOffline(id int32, brokerEpoch int64, replicas []Replica) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.beginWriteLocked(); err != nil {
		return err
	}
	s := c.snap.Load()
	br, ok := s.Broker(id)
	if !ok {
		return fmt.Errorf("%w: broker %d", ErrBrokerNotRegistered, id)
	}
	if brokerEpoch != -1 && brokerEpoch != br.Epoch {
		return fmt.Errorf("%w: broker %d is at epoch %d, request has %d", ErrStaleBrokerEpoch, id, br.Epoch, brokerEpoch)
	}
	added := map[Replica]bool{}
	offline := slices.Clone(br.OfflineReplicas)
	for _, r := range replicas {
		t := s.TopicByID(r.TopicID)
		p := t.Partition(r.Partition)
		if p == nil || !slices.Contains(p.Replicas, id) || added[r] || br.ReplicaOffline(r.TopicID, r.Partition) {
			continue
		}
		added[r] = true
		offline = append(offline, r)
	}
	if len(added) == 0 {
		return nil
	}
	br.OfflineReplicas = offline
	recs := moveAwayElections(s, id, func(t *Topic, p *Partition) bool { return added[Replica{t.ID, p.Index}] })
	if err := c.commitLocked(append(recs, record{Type: recBroker, Broker: &br})); err != nil {
		return err
	}
	c.log.Warn().Int32("broker", id).Int("replicas", len(added)).Msg("replicas offline after a log dir failure")
	return nil
}
