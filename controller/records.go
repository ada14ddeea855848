package controller

import (
	"cmp"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// recordType names a metadata record, after Kafka's KRaft metadata records.
type recordType uint8

const (
	recClusterID   recordType = iota + 1 // sets ClusterID (once)
	recBroker                            // upserts Broker
	recTopic                             // creates topic TopicID/TopicName/Internal, no partitions
	recPartition                         // sets Partition of TopicID (append the next index, or replace)
	recConfig                            // sets ConfigName=*ConfigValue on TopicID, or deletes it when ConfigValue is nil
	recRemoveTopic                       // removes TopicID
	recProducerIDs                       // hands out producer IDs [ProducerIDFirst, ProducerIDNext)
)

// Record types past recProducerIDs are numbered explicitly (never iota) so
// that areas added side by side cannot renumber each other's persisted
// records. Taken ranges: 8-9 SCRAM credentials, 10-13 ACLs and client
// quotas, 14-15 finalized features (features.go), 16-19 cluster
// operations (dynamic broker configs, reassignments), 20-21
// client-metrics subscriptions (clientmetrics.go), 22 broker
// unregistration (unregister.go).

// record is one state change. Records are deterministic: applying the same
// batch to the same state always yields the same state, so they can be
// replicated as they are. All fields are JSON-encodable.
type record struct {
	Type        recordType `json:"type"`
	ClusterID   string     `json:"cluster_id,omitempty"`
	Broker      *Broker    `json:"broker,omitempty"`
	TopicID     [16]byte   `json:"topic_id,omitzero"`
	TopicName   string     `json:"topic_name,omitempty"`
	Internal    bool       `json:"internal,omitempty"`
	Partition   *Partition `json:"partition,omitempty"`
	ConfigName  string     `json:"config_name,omitempty"`
	ConfigValue *string    `json:"config_value,omitempty"`
	// ProducerIDFirst must equal the current NextProducerID, so two
	// allocations validated against the same state cannot both apply.
	ProducerIDFirst int64 `json:"producer_id_first,omitempty"`
	ProducerIDNext  int64 `json:"producer_id_next,omitempty"`

	// SCRAM credentials (scram.go): the user of recScramCredential and
	// recRemoveScramCredential, the credential an upsert sets, the
	// mechanism a removal names.
	ScramUser      string           `json:"scram_user,omitempty"`
	Scram          *ScramCredential `json:"scram,omitempty"`
	ScramMechanism int8             `json:"scram_mechanism,omitempty"`

	// BrokerConfig is the change of a recBrokerConfig record (brokerconfigs.go).
	BrokerConfig *BrokerConfigChange `json:"broker_config,omitempty"`
	// Quota is the change of recClientQuota (quotas.go).
	Quota *QuotaRecord `json:"quota,omitempty"`
	// ACL is the binding recACL adds and recRemoveACL removes (acls.go).
	ACL *ACL `json:"acl,omitempty"`
	// Feature is the level recFeatureLevel sets (features.go).
	Feature *FeatureLevel `json:"feature,omitempty"`
	// ClientMetrics is the change of recClientMetrics (clientmetrics.go).
	ClientMetrics *ClientMetricsChange `json:"client_metrics,omitempty"`
}

// applyLocked is the single applier: it applies a batch of records
// atomically, persisting the result in one bbolt transaction, then
// publishes the new snapshot and notifies subscribers. index is the Raft
// log index of the batch (0 without Raft), persisted with the state.
//
// Without Raft, on error nothing changes. With Raft the batch is a
// committed log entry: a batch whose records do not apply is rejected the
// same way on every node (deterministic, state unchanged), while a failed
// bbolt write is only logged: the in-memory state moves on with the
// quorum and meta.db, now behind, is rewritten whole at the next apply
// (until then a restart replays the log from its older applied index).
// Lock mu must be held.
func (c *Controller) applyLocked(recs []record, index uint64) error {
	if err := c.openLocked(); err != nil {
		return err
	}
	if index > 0 {
		c.applied = index
	}
	if len(recs) == 0 {
		return nil
	}
	old := c.snap.Load()
	b := newBuilder(old)
	for i := range recs {
		if err := b.apply(&recs[i]); err != nil {
			return err
		}
	}
	next := b.snapshot()
	err := c.db.Update(func(tx *bolt.Tx) error {
		if c.dbStale {
			return persistAll(tx, next, c.applied)
		}
		return b.persist(tx, next, index)
	})
	if err != nil {
		err = fmt.Errorf("controller: persist metadata: %w", err)
		if index == 0 {
			return err
		}
		c.dbStale = true
		c.log.Error().Err(err).Uint64("index", index).Msg("persist applied metadata failed")
	} else {
		c.dbStale = false
	}
	c.snap.Store(next)
	if c.onApply != nil {
		c.onApply(recs)
	}
	c.notify()
	return nil
}

// openLocked returns ErrClosed after Close. Lock mu must be held.
func (c *Controller) openLocked() error {
	if c.db == nil {
		return ErrClosed
	}
	return nil
}

// builder produces the next snapshot copy-on-write: maps are copied once,
// topics only when a record touches them.
type builder struct {
	old          *Snapshot
	next         Snapshot
	topicsCopied bool
	touched      map[[16]byte]bool // topic IDs whose persisted form changed (incl. removals)
	brokersDirty map[int32]bool
	clusterDirty bool
	pidDirty     bool
	scramDirty   map[scramKey]bool    // credentials changed (scram.go); nil if none
	quotaDirty   map[QuotaEntity]bool // client quota entities changed (quotas.go); nil if none

	brokerCfgDirty map[int32]bool // dynamic broker configs changed (brokerconfigs.go); nil if none
	aclDirty       map[ACL]bool   // bindings changed (acls.go); nil if none
	aclNext        map[ACL]bool   // the bindings after the batch, once aclDirty is set
	featuresDirty  bool           // a finalized feature level changed (features.go)

	clientMetricsDirty map[string]bool // client-metrics subscriptions changed (clientmetrics.go); nil if none
}

func newBuilder(old *Snapshot) *builder {
	return &builder{
		old:          old,
		next:         *old,
		touched:      map[[16]byte]bool{},
		brokersDirty: map[int32]bool{},
	}
}

func (b *builder) copyTopicMaps() {
	if b.topicsCopied {
		return
	}
	b.topicsCopied = true
	b.next.Topics = maps.Clone(b.old.Topics)
	b.next.TopicsByID = maps.Clone(b.old.TopicsByID)
	if b.next.Topics == nil {
		b.next.Topics = map[string]*Topic{}
		b.next.TopicsByID = map[[16]byte]*Topic{}
	}
}

// mutableTopic returns a private copy of the topic with the given ID.
func (b *builder) mutableTopic(id [16]byte) (*Topic, error) {
	b.copyTopicMaps()
	t := b.next.TopicsByID[id]
	if t == nil {
		return nil, fmt.Errorf("controller: record for unknown topic id %x", id)
	}
	if t == b.old.TopicsByID[id] { // still shared with the old snapshot
		t = t.clone()
		b.next.TopicsByID[id] = t
		b.next.Topics[t.Name] = t
	}
	b.touched[id] = true
	return t, nil
}

func (b *builder) apply(r *record) error {
	switch r.Type {
	case recClusterID:
		if b.next.ClusterID != "" && b.next.ClusterID != r.ClusterID {
			return fmt.Errorf("controller: cluster id already set to %s", b.next.ClusterID)
		}
		b.next.ClusterID = r.ClusterID
		b.clusterDirty = true
	case recBroker:
		br := *r.Broker
		list := slices.Clone(b.next.Brokers)
		i, found := slices.BinarySearchFunc(list, br.NodeID, func(x Broker, id int32) int { return cmp.Compare(x.NodeID, id) })
		if found {
			list[i] = br
		} else {
			list = slices.Insert(list, i, br)
		}
		b.next.Brokers = list
		b.brokersDirty[br.NodeID] = true
	case recUnregisterBroker:
		if r.Broker == nil {
			return fmt.Errorf("controller: malformed unregister record")
		}
		i, found := slices.BinarySearchFunc(b.next.Brokers, r.Broker.NodeID, func(x Broker, id int32) int { return cmp.Compare(x.NodeID, id) })
		if !found {
			return fmt.Errorf("controller: unregister record for unknown broker %d", r.Broker.NodeID)
		}
		b.next.Brokers = slices.Delete(slices.Clone(b.next.Brokers), i, i+1)
		b.brokersDirty[r.Broker.NodeID] = true
	case recTopic:
		b.copyTopicMaps()
		if b.next.Topics[r.TopicName] != nil || b.next.TopicsByID[r.TopicID] != nil {
			return fmt.Errorf("controller: topic record for existing topic %s", r.TopicName)
		}
		t := &Topic{Name: r.TopicName, ID: r.TopicID, Internal: r.Internal, Configs: map[string]string{}}
		b.next.Topics[t.Name] = t
		b.next.TopicsByID[t.ID] = t
		b.touched[t.ID] = true
	case recPartition:
		t, err := b.mutableTopic(r.TopicID)
		if err != nil {
			return err
		}
		p := *r.Partition
		switch {
		case int(p.Index) == len(t.Partitions):
			t.Partitions = append(t.Partitions, p)
		case p.Index >= 0 && int(p.Index) < len(t.Partitions):
			t.Partitions[p.Index] = p
		default:
			return fmt.Errorf("controller: partition record %d for topic %s with %d partitions", p.Index, t.Name, len(t.Partitions))
		}
	case recConfig:
		t, err := b.mutableTopic(r.TopicID)
		if err != nil {
			return err
		}
		if r.ConfigValue == nil {
			delete(t.Configs, r.ConfigName)
		} else {
			t.Configs[r.ConfigName] = *r.ConfigValue
		}
	case recRemoveTopic:
		b.copyTopicMaps()
		t := b.next.TopicsByID[r.TopicID]
		if t == nil {
			return fmt.Errorf("controller: remove record for unknown topic id %x", r.TopicID)
		}
		delete(b.next.Topics, t.Name)
		delete(b.next.TopicsByID, t.ID)
		b.touched[t.ID] = true
	case recProducerIDs:
		if r.ProducerIDFirst != b.next.NextProducerID || r.ProducerIDNext <= r.ProducerIDFirst {
			return fmt.Errorf("controller: producer id block [%d, %d) does not start at %d",
				r.ProducerIDFirst, r.ProducerIDNext, b.next.NextProducerID)
		}
		b.next.NextProducerID = r.ProducerIDNext
		b.pidDirty = true
	case recScramCredential, recRemoveScramCredential:
		return b.applyScram(r)
	case recBrokerConfig:
		return b.applyBrokerConfig(r)
	case recClientQuota:
		return b.applyQuota(r)
	case recACL, recRemoveACL:
		return b.applyACL(r)
	case recFeatureLevel:
		return b.applyFeature(r)
	case recClientMetrics:
		return b.applyClientMetrics(r)
	default:
		return fmt.Errorf("controller: unknown record type %d", r.Type)
	}
	return nil
}

func (b *builder) snapshot() *Snapshot {
	s := b.next
	s.Version++
	b.finishACLs(&s)
	return &s
}

// persist writes what the batch changed. Runs inside a bbolt write tx.
func (b *builder) persist(tx *bolt.Tx, next *Snapshot, index uint64) error {
	meta := tx.Bucket(bucketMeta)
	if index > 0 {
		if err := meta.Put(keyAppliedIndex, binary.BigEndian.AppendUint64(nil, index)); err != nil {
			return err
		}
	}
	if b.pidDirty {
		if err := meta.Put(keyNextProducerID, binary.BigEndian.AppendUint64(nil, uint64(next.NextProducerID))); err != nil {
			return err
		}
	}
	if b.clusterDirty {
		if err := tx.Bucket(bucketMeta).Put(keyClusterID, []byte(next.ClusterID)); err != nil {
			return err
		}
	}
	brokers := tx.Bucket(bucketBrokers)
	for id := range b.brokersDirty {
		br, ok := next.Broker(id)
		if !ok { // unregistered
			if err := brokers.Delete(brokerKey(id)); err != nil {
				return err
			}
			continue
		}
		v, err := json.Marshal(br)
		if err != nil {
			return err
		}
		if err := brokers.Put(brokerKey(id), v); err != nil {
			return err
		}
	}
	if err := b.persistScram(tx, next); err != nil {
		return err
	}
	if err := b.persistBrokerConfigs(tx, next); err != nil {
		return err
	}
	if err := b.persistQuotas(tx, next); err != nil {
		return err
	}
	if err := b.persistACLs(tx, next); err != nil {
		return err
	}
	if err := b.persistFeatures(tx, next); err != nil {
		return err
	}
	if err := b.persistClientMetrics(tx, next); err != nil {
		return err
	}
	topics := tx.Bucket(bucketTopics)
	for id := range b.touched {
		t := next.TopicsByID[id]
		if t == nil {
			if err := topics.Delete(id[:]); err != nil {
				return err
			}
			continue
		}
		if err := putTopic(topics, t); err != nil {
			return err
		}
	}
	return nil
}

func putTopic(topics *bolt.Bucket, t *Topic) error {
	v, err := json.Marshal(storedTopic{Name: t.Name, Internal: t.Internal, Partitions: t.Partitions, Configs: t.Configs})
	if err != nil {
		return err
	}
	return topics.Put(t.ID[:], v)
}

// persistAll replaces the whole stored state with s (after a Raft
// snapshot restore, or to repair a store a failed write left behind).
func persistAll(tx *bolt.Tx, s *Snapshot, applied uint64) error {
	for _, name := range [][]byte{bucketBrokers, bucketTopics} {
		if _, err := recreateBucket(tx, name); err != nil {
			return err
		}
	}
	meta := tx.Bucket(bucketMeta)
	for k, v := range map[string][]byte{
		string(keyClusterID):      []byte(s.ClusterID),
		string(keyAppliedIndex):   binary.BigEndian.AppendUint64(nil, applied),
		string(keyNextProducerID): binary.BigEndian.AppendUint64(nil, uint64(s.NextProducerID)),
	} {
		if err := meta.Put([]byte(k), v); err != nil {
			return err
		}
	}
	if err := putFeatures(meta, s); err != nil {
		return err
	}
	brokers := tx.Bucket(bucketBrokers)
	for _, br := range s.Brokers {
		v, err := json.Marshal(br)
		if err != nil {
			return err
		}
		if err := brokers.Put(brokerKey(br.NodeID), v); err != nil {
			return err
		}
	}
	topics := tx.Bucket(bucketTopics)
	for _, t := range s.TopicsByID {
		if err := putTopic(topics, t); err != nil {
			return err
		}
	}
	if err := persistAllBrokerConfigs(tx, s); err != nil {
		return err
	}
	if err := persistAllQuotas(tx, s); err != nil {
		return err
	}
	if err := persistAllScram(tx, s); err != nil {
		return err
	}
	if err := persistAllClientMetrics(tx, s); err != nil {
		return err
	}
	return persistAllACLs(tx, s)
}

func brokerKey(id int32) []byte {
	return binary.BigEndian.AppendUint32(nil, uint32(id))
}

// load creates missing buckets and reads the persisted state and the
// Raft index it reflects (0 if never applied from Raft).
func load(db *bolt.DB, nodeID int32) (*Snapshot, uint64, error) {
	var applied uint64
	s := &Snapshot{
		ControllerID: nodeID,
		Topics:       map[string]*Topic{},
		TopicsByID:   map[[16]byte]*Topic{},
	}
	err := db.Update(func(tx *bolt.Tx) error {
		for _, name := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bucketMeta)
		if v := meta.Get(keySchema); v == nil {
			if err := meta.Put(keySchema, []byte(schemaVersion)); err != nil {
				return err
			}
		} else if string(v) != schemaVersion {
			return fmt.Errorf("unsupported metadata schema version %q (want %s)", v, schemaVersion)
		}
		s.ClusterID = string(meta.Get(keyClusterID)) // string() copies
		if v := meta.Get(keyAppliedIndex); len(v) == 8 {
			applied = binary.BigEndian.Uint64(v)
		}
		if v := meta.Get(keyNextProducerID); len(v) == 8 {
			s.NextProducerID = int64(binary.BigEndian.Uint64(v))
		}
		if err := tx.Bucket(bucketBrokers).ForEach(func(k, v []byte) error {
			var br Broker
			if err := json.Unmarshal(v, &br); err != nil {
				return fmt.Errorf("decode broker %x: %w", k, err)
			}
			s.Brokers = append(s.Brokers, br)
			return nil
		}); err != nil {
			return err
		}
		if err := loadScram(tx, s); err != nil {
			return err
		}
		if err := loadBrokerConfigs(tx, s); err != nil {
			return err
		}
		if err := loadQuotas(tx, s); err != nil {
			return err
		}
		if err := loadClientMetrics(tx, s); err != nil {
			return err
		}
		if err := loadACLs(tx, s); err != nil {
			return err
		}
		if err := loadFeatures(tx, s); err != nil {
			return err
		}
		return tx.Bucket(bucketTopics).ForEach(func(k, v []byte) error {
			if len(k) != 16 {
				return fmt.Errorf("bad topic key %x", k)
			}
			var st storedTopic
			if err := json.Unmarshal(v, &st); err != nil {
				return fmt.Errorf("decode topic %x: %w", k, err)
			}
			t := &Topic{Name: st.Name, Internal: st.Internal, Partitions: st.Partitions, Configs: st.Configs}
			copy(t.ID[:], k)
			if t.Configs == nil {
				t.Configs = map[string]string{}
			}
			for i := range t.Partitions {
				if t.Partitions[i].Index != int32(i) {
					return fmt.Errorf("topic %s: partition %d stored at position %d", t.Name, t.Partitions[i].Index, i)
				}
			}
			if s.Topics[t.Name] != nil {
				return fmt.Errorf("topic %s stored twice", t.Name)
			}
			s.Topics[t.Name] = t
			s.TopicsByID[t.ID] = t
			return nil
		})
	})
	if err != nil {
		return nil, 0, fmt.Errorf("controller: load metadata: %w", err)
	}
	slices.SortFunc(s.Brokers, func(a, b Broker) int { return cmp.Compare(a.NodeID, b.NodeID) })
	return s, applied, nil
}

// recreateBucket empties bucket name (creating it if it is missing) and
// returns it: the start of rewriting an area's whole bucket from a
// snapshot (persistAll).
func recreateBucket(tx *bolt.Tx, name []byte) (*bolt.Bucket, error) {
	if err := tx.DeleteBucket(name); err != nil && !errors.Is(err, bolterrors.ErrBucketNotFound) {
		return nil, err
	}
	return tx.CreateBucket(name)
}
