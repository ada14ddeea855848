package controller

// Dynamic broker configs, kept as Kafka's KRaft controller keeps them
// (ConfigRecord with resource type BROKER): per broker id, and for the
// cluster-wide default (resource name "", here DefaultBrokerConfigs). The
// controller stores names and values only; which keys may be set, and
// what their values mean, is the broker's key table.

import (
	"cmp"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// recBrokerConfig sets BrokerConfig.Name to BrokerConfig.Value for
// BrokerConfig.Broker, or deletes it when Value is nil (the range 16-19
// taken in records.go).
const recBrokerConfig recordType = 16

// DefaultBrokerConfigs is the broker id under which the cluster-wide
// defaults are kept (the resource name "" of BROKER config resources).
const DefaultBrokerConfigs int32 = -1

// BrokerConfigChange is the payload of recBrokerConfig.
type BrokerConfigChange struct {
	Broker int32   `json:"broker"`
	Name   string  `json:"name"`
	Value  *string `json:"value,omitempty"`
}

// BrokerConfigs returns the dynamic configs set for broker (or, with
// DefaultBrokerConfigs, the cluster-wide defaults). The map is shared with
// the snapshot: never modify it. Nil when none are set.
func (s *Snapshot) BrokerConfigs(broker int32) map[string]string {
	return s.brokerConfigs[broker]
}

// BrokerConfigsVersion increases whenever any dynamic broker config
// changes (counted from 0 at each Open; not persisted): readers compare it
// to learn that they must re-resolve.
func (s *Snapshot) BrokerConfigsVersion() int64 { return s.brokerConfigsGen }

// AlterBrokerConfigs changes the dynamic configs of broker (or of the
// cluster default, DefaultBrokerConfigs). compute gets a copy of the
// current configs and returns the configs wanted, or an error (which is
// returned as it is); it runs with writes serialized, so two alters never
// compute from the same state. With validateOnly nothing is stored.
// Needs the active controller.
func (c *Controller) AlterBrokerConfigs(broker int32, compute func(cur map[string]string) (map[string]string, error), validateOnly bool) error {
	if broker < DefaultBrokerConfigs {
		return fmt.Errorf("%w: invalid broker id %d", ErrInvalidRequest, broker)
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.beginWriteLocked(); err != nil {
		return err
	}
	cur := c.snap.Load().brokerConfigs[broker]
	next, err := compute(maps.Clone(cur))
	if err != nil || validateOnly {
		return err
	}
	var recs []record
	for _, k := range slices.Sorted(maps.Keys(cur)) {
		if _, ok := next[k]; !ok {
			recs = append(recs, record{Type: recBrokerConfig, BrokerConfig: &BrokerConfigChange{Broker: broker, Name: k}})
		}
	}
	for _, k := range slices.Sorted(maps.Keys(next)) {
		if old, ok := cur[k]; !ok || old != next[k] {
			v := next[k]
			recs = append(recs, record{Type: recBrokerConfig, BrokerConfig: &BrokerConfigChange{Broker: broker, Name: k, Value: &v}})
		}
	}
	return c.commitLocked(recs)
}

// applyBrokerConfig applies a recBrokerConfig record to the builder.
func (b *builder) applyBrokerConfig(r *record) error {
	ch := r.BrokerConfig
	if ch == nil || ch.Name == "" || ch.Broker < DefaultBrokerConfigs {
		return fmt.Errorf("controller: malformed broker config record")
	}
	if b.brokerCfgDirty == nil {
		b.brokerCfgDirty = map[int32]bool{}
		b.next.brokerConfigs = maps.Clone(b.old.brokerConfigs)
		if b.next.brokerConfigs == nil {
			b.next.brokerConfigs = map[int32]map[string]string{}
		}
	}
	m := b.next.brokerConfigs[ch.Broker]
	if !b.brokerCfgDirty[ch.Broker] { // still shared with the old snapshot
		m = maps.Clone(m)
	}
	if m == nil {
		m = map[string]string{}
	}
	if ch.Value == nil {
		delete(m, ch.Name)
	} else {
		m[ch.Name] = *ch.Value
	}
	if len(m) == 0 {
		delete(b.next.brokerConfigs, ch.Broker)
	} else {
		b.next.brokerConfigs[ch.Broker] = m
	}
	if len(b.brokerCfgDirty) == 0 {
		b.next.brokerConfigsGen++
	}
	b.brokerCfgDirty[ch.Broker] = true
	return nil
}

// brokerConfigDBKey is a broker's key in bucketBrokerConfigs (schema.go):
// its id as a big-endian uint32 (the default, -1, as 0xffffffff).
func brokerConfigDBKey(id int32) []byte { return binary.BigEndian.AppendUint32(nil, uint32(id)) }

// persistBrokerConfigs writes the brokers' configs the batch changed.
func (b *builder) persistBrokerConfigs(tx *bolt.Tx, next *Snapshot) error {
	bk := tx.Bucket(bucketBrokerConfigs)
	for id := range b.brokerCfgDirty {
		if err := putBrokerConfigs(bk, id, next.brokerConfigs[id]); err != nil {
			return err
		}
	}
	return nil
}

// putBrokerConfigs stores (or, when m is empty, deletes) one broker's
// configs.
func putBrokerConfigs(bk *bolt.Bucket, id int32, m map[string]string) error {
	if len(m) == 0 {
		return bk.Delete(brokerConfigDBKey(id))
	}
	v, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return bk.Put(brokerConfigDBKey(id), v)
}

// persistAllBrokerConfigs rewrites the whole bucket from s.
func persistAllBrokerConfigs(tx *bolt.Tx, s *Snapshot) error {
	bk, err := recreateBucket(tx, bucketBrokerConfigs)
	if err != nil {
		return err
	}
	for id, m := range s.brokerConfigs {
		if err := putBrokerConfigs(bk, id, m); err != nil {
			return err
		}
	}
	return nil
}

// loadBrokerConfigs reads the bucket into s.
func loadBrokerConfigs(tx *bolt.Tx, s *Snapshot) error {
	return tx.Bucket(bucketBrokerConfigs).ForEach(func(k, v []byte) error {
		if len(k) != 4 {
			return fmt.Errorf("bad broker config key %x", k)
		}
		var m map[string]string
		if err := json.Unmarshal(v, &m); err != nil {
			return fmt.Errorf("decode broker configs %x: %w", k, err)
		}
		if len(m) == 0 {
			return nil
		}
		if s.brokerConfigs == nil {
			s.brokerConfigs = map[int32]map[string]string{}
		}
		s.brokerConfigs[int32(binary.BigEndian.Uint32(k))] = m
		return nil
	})
}

// snapBrokerConfigs is one broker's configs in the Raft snapshot.
type snapBrokerConfigs struct {
	Broker  int32             `json:"broker"`
	Configs map[string]string `json:"configs"`
}

// brokerConfigsSnapshot lists s's dynamic broker configs for the Raft
// snapshot, sorted by broker id.
func brokerConfigsSnapshot(s *Snapshot) []snapBrokerConfigs {
	out := make([]snapBrokerConfigs, 0, len(s.brokerConfigs))
	for id, m := range s.brokerConfigs {
		out = append(out, snapBrokerConfigs{Broker: id, Configs: m})
	}
	slices.SortFunc(out, func(a, b snapBrokerConfigs) int { return cmp.Compare(a.Broker, b.Broker) })
	return out
}

// restoreBrokerConfigs fills s from a Raft snapshot's list.
func restoreBrokerConfigs(s *Snapshot, old *Snapshot, list []snapBrokerConfigs) {
	s.brokerConfigs = nil
	s.brokerConfigsGen = old.brokerConfigsGen + 1
	for _, e := range list {
		if len(e.Configs) == 0 {
			continue
		}
		if s.brokerConfigs == nil {
			s.brokerConfigs = map[int32]map[string]string{}
		}
		s.brokerConfigs[e.Broker] = e.Configs
	}
}
