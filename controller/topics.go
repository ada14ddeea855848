package controller

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// CreateTopic is a topic creation request (one CreateTopics entry).
type CreateTopic struct {
	Name              string
	NumPartitions     int32 // -1 = Config.DefaultNumPartitions
	ReplicationFactor int16 // -1 = Config.DefaultReplicationFactor
	// Assignments is a manual replica assignment, partition -> broker
	// IDs (first = preferred leader). If non-empty, NumPartitions and
	// ReplicationFactor must be -1; partitions must be 0..n-1.
	Assignments map[int32][]int32
	Configs     map[string]string
	// Internal marks the topic internal; the names in IsInternalTopic
	// are internal regardless.
	Internal     bool
	ValidateOnly bool
}

// CreateTopic validates and creates a topic. With ValidateOnly it returns
// the topic that would have been created (with a fresh ID) and stores
// nothing.
func (c *Controller) CreateTopic(req CreateTopic) (*Topic, error) {
	if err := ValidateTopicName(req.Name); err != nil {
		return nil, err
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.beginWriteLocked(); err != nil {
		return nil, err
	}
	s := c.snap.Load()
	if s.Topics[req.Name] != nil {
		return nil, fmt.Errorf("%w: topic '%s' already exists", ErrTopicExists, req.Name)
	}
	key := collisionKey(req.Name)
	for name := range s.Topics {
		if collisionKey(name) == key {
			return nil, fmt.Errorf("%w: topic '%s' collides with existing topic: %s", ErrInvalidTopic, req.Name, name)
		}
	}

	var replicas [][]int32
	if len(req.Assignments) > 0 {
		if req.NumPartitions != -1 || req.ReplicationFactor != -1 {
			return nil, fmt.Errorf("%w: both numPartitions or replicationFactor and replicasAssignments were set, only one is allowed", ErrInvalidRequest)
		}
		var err error
		if replicas, err = c.manualAssignment(s, req.Assignments); err != nil {
			return nil, err
		}
	} else {
		n, rf := req.NumPartitions, req.ReplicationFactor
		if n == -1 {
			n = c.cfg.DefaultNumPartitions
		}
		if rf == -1 {
			rf = c.cfg.DefaultReplicationFactor
		}
		if n <= 0 {
			return nil, fmt.Errorf("%w: number of partitions was set to an invalid non-positive value %d", ErrInvalidPartitions, n)
		}
		if n > c.cfg.MaxPartitionsPerTopic {
			return nil, fmt.Errorf("%w: %d partitions exceeds the limit of %d per topic", ErrInvalidPartitions, n, c.cfg.MaxPartitionsPerTopic)
		}
		if rf <= 0 {
			return nil, fmt.Errorf("%w: replication factor must be larger than 0, or -1 to use the default value", ErrInvalidReplicationFactor)
		}
		var err error
		if replicas, err = c.assignLocked(s, 0, n, rf); err != nil {
			return nil, err
		}
	}

	configs := maps.Clone(req.Configs)
	if configs == nil {
		configs = map[string]string{}
	}
	if err := ValidateTopicConfigs(configs); err != nil {
		return nil, err
	}
	c.warnConfigs(req.Name, configs)

	id := newUUID()
	for s.TopicsByID[id] != nil {
		id = newUUID()
	}
	recs := make([]record, 0, 1+len(replicas)+len(configs))
	recs = append(recs, record{Type: recTopic, TopicID: id, TopicName: req.Name, Internal: req.Internal || IsInternalTopic(req.Name)})
	for i, r := range replicas {
		p, err := newPartition(s, int32(i), r)
		if err != nil {
			return nil, err
		}
		recs = append(recs, record{Type: recPartition, TopicID: id, Partition: p})
	}
	for _, k := range slices.Sorted(maps.Keys(configs)) {
		v := configs[k]
		recs = append(recs, record{Type: recConfig, TopicID: id, ConfigName: k, ConfigValue: &v})
	}

	if req.ValidateOnly {
		return wouldBe(s, recs, id)
	}
	if err := c.commitLocked(recs); err != nil {
		return nil, err
	}
	return c.snap.Load().TopicsByID[id], nil
}

// wouldBe applies recs to a throwaway copy of s and returns topic id.
func wouldBe(s *Snapshot, recs []record, id [16]byte) (*Topic, error) {
	b := newBuilder(s)
	for i := range recs {
		if err := b.apply(&recs[i]); err != nil {
			return nil, err
		}
	}
	return b.next.TopicsByID[id], nil
}

// newPartition places a new partition on replicas: the ISR is its live
// replicas, the leader the first of them (the preferred leader whenever
// it is live). A replica set with no live broker is refused, as Kafka
// does.
func newPartition(s *Snapshot, index int32, replicas []int32) (*Partition, error) {
	p := &Partition{Index: index, Leader: -1, Replicas: replicas}
	for _, r := range replicas {
		if s.Live(r) {
			p.ISR = append(p.ISR, r)
		}
	}
	if len(p.ISR) == 0 {
		return nil, fmt.Errorf("%w: all brokers specified in the assignment of partition %d are fenced", ErrInvalidReplicaAssignment, index)
	}
	p.Leader = p.ISR[0]
	return p, nil
}

// assignLocked spreads partitions [first, first+n) round-robin over the
// live brokers: partition p's leader is broker (start+p) mod brokers and
// its followers the next rf-1 brokers. start rotates between calls so
// leaders of successive topics land on different brokers. When brokers
// have racks, the list alternates racks (a broker of rack A, one of B,
// one of C, the next of A...), so consecutive brokers, and therefore one
// partition's replicas, sit in different racks as far as there are
// racks; brokers without a rack count as one rack. Lock wmu must be held.
func (c *Controller) assignLocked(s *Snapshot, first, n int32, rf int16) ([][]int32, error) {
	order := rackAlternated(s)
	nb := len(order)
	if int(rf) > nb {
		return nil, fmt.Errorf("%w: unable to replicate the partition %d time(s): the target replication factor of %d cannot be reached because only %d broker(s) are registered and unfenced",
			ErrInvalidReplicationFactor, rf, rf, nb)
	}
	start := c.rotate % nb
	c.rotate++
	out := make([][]int32, n)
	for p := range n {
		r := make([]int32, rf)
		for j := range int(rf) {
			r[j] = order[(start+int(first+p)+j)%nb]
		}
		out[p] = r
	}
	return out, nil
}

// rackAlternated lists the live brokers, alternating racks (racks in
// name order, brokers of a rack in ID order); without racks it is the
// live brokers in ID order.
func rackAlternated(s *Snapshot) []int32 {
	byRack := map[string][]int32{}
	for _, b := range s.Brokers { // sorted by ID
		if b.Fenced || b.ControllerOnly {
			continue
		}
		rack := ""
		if b.Rack != nil {
			rack = "r:" + *b.Rack
		}
		byRack[rack] = append(byRack[rack], b.NodeID)
	}
	racks := slices.Sorted(maps.Keys(byRack))
	var out []int32
	for i := 0; ; i++ {
		added := false
		for _, r := range racks {
			if i < len(byRack[r]) {
				out = append(out, byRack[r][i])
				added = true
			}
		}
		if !added {
			return out
		}
	}
}

// manualAssignment validates a CreateTopics replica assignment and returns
// it as a slice indexed by partition.
func (c *Controller) manualAssignment(s *Snapshot, as map[int32][]int32) ([][]int32, error) {
	if len(as) == 0 {
		return nil, fmt.Errorf("%w: the manual partition assignment is empty", ErrInvalidReplicaAssignment)
	}
	if len(as) > int(c.cfg.MaxPartitionsPerTopic) {
		return nil, fmt.Errorf("%w: %d partitions exceeds the limit of %d per topic", ErrInvalidPartitions, len(as), c.cfg.MaxPartitionsPerTopic)
	}
	out := make([][]int32, len(as))
	for p, r := range as {
		if p < 0 || int(p) >= len(as) {
			return nil, fmt.Errorf("%w: partitions should be consecutive and start from 0, found partition %d among %d", ErrInvalidReplicaAssignment, p, len(as))
		}
		out[p] = slices.Clone(r)
	}
	for p, r := range out {
		if err := validateReplicas(s, int32(p), r); err != nil {
			return nil, err
		}
		if len(r) != len(out[0]) {
			return nil, fmt.Errorf("%w: all partitions in the manual partition assignment must have the same number of replicas (partition 0 has %d, partition %d has %d)",
				ErrInvalidReplicaAssignment, len(out[0]), p, len(r))
		}
	}
	return out, nil
}

// validateReplicas checks one partition's manual replica list and returns
// a copy owned by the controller.
func validateReplicas(s *Snapshot, p int32, r []int32) error {
	if len(r) == 0 {
		return fmt.Errorf("%w: partition %d has an empty replica list", ErrInvalidReplicaAssignment, p)
	}
	if len(r) > 32767 {
		return fmt.Errorf("%w: partition %d has too many replicas", ErrInvalidReplicaAssignment, p)
	}
	seen := make(map[int32]bool, len(r))
	for _, id := range r {
		if seen[id] {
			return fmt.Errorf("%w: partition %d includes broker %d more than once", ErrInvalidReplicaAssignment, p, id)
		}
		seen[id] = true
		if b, ok := s.Broker(id); !ok || b.ControllerOnly {
			return fmt.Errorf("%w: partition %d includes broker %d, but no such broker is registered", ErrInvalidReplicaAssignment, p, id)
		}
	}
	return nil
}

// DeleteTopic deletes the named topic and returns it as it was.
func (c *Controller) DeleteTopic(name string) (*Topic, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.beginWriteLocked(); err != nil {
		return nil, err
	}
	t := c.snap.Load().Topics[name]
	if t == nil {
		return nil, fmt.Errorf("%w: topic '%s' does not exist", ErrUnknownTopic, name)
	}
	return t, c.commitLocked([]record{{Type: recRemoveTopic, TopicID: t.ID}})
}

// DeleteTopicByID deletes the topic with the given ID (DeleteTopics v6+)
// and returns it as it was.
func (c *Controller) DeleteTopicByID(id [16]byte) (*Topic, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.beginWriteLocked(); err != nil {
		return nil, err
	}
	t := c.snap.Load().TopicsByID[id]
	if t == nil {
		return nil, fmt.Errorf("%w: topic id %x does not exist", ErrUnknownTopic, id)
	}
	return t, c.commitLocked([]record{{Type: recRemoveTopic, TopicID: t.ID}})
}

// CreatePartitions grows a topic to total partitions. assignments, if
// non-nil, gives the replicas of each new partition (len must be
// total-current, each with the topic's replication factor). Returns the
// resulting topic (the would-be topic with validateOnly).
func (c *Controller) CreatePartitions(name string, total int32, assignments [][]int32, validateOnly bool) (*Topic, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.beginWriteLocked(); err != nil {
		return nil, err
	}
	s := c.snap.Load()
	t := s.Topics[name]
	if t == nil {
		return nil, fmt.Errorf("%w: topic '%s' does not exist", ErrUnknownTopic, name)
	}
	cur := int32(len(t.Partitions))
	switch {
	case total < cur:
		return nil, fmt.Errorf("%w: topic currently has %d partitions, which is higher than the requested %d", ErrInvalidPartitions, cur, total)
	case total == cur:
		return nil, fmt.Errorf("%w: topic already has %d partitions", ErrInvalidPartitions, cur)
	case total > c.cfg.MaxPartitionsPerTopic:
		return nil, fmt.Errorf("%w: %d partitions exceeds the limit of %d per topic", ErrInvalidPartitions, total, c.cfg.MaxPartitionsPerTopic)
	}
	add := total - cur
	rf := t.ReplicationFactor()
	var replicas [][]int32
	if assignments != nil {
		if int32(len(assignments)) != add {
			return nil, fmt.Errorf("%w: attempted to add %d additional partition(s), but only %d assignment(s) were specified",
				ErrInvalidReplicaAssignment, add, len(assignments))
		}
		for i, r := range assignments {
			p := cur + int32(i)
			if err := validateReplicas(s, p, r); err != nil {
				return nil, err
			}
			if rf != 0 && len(r) != int(rf) {
				return nil, fmt.Errorf("%w: partition %d has %d replica(s), but the existing partitions have %d",
					ErrInvalidReplicaAssignment, p, len(r), rf)
			}
			replicas = append(replicas, slices.Clone(r))
		}
	} else {
		if rf == 0 {
			rf = c.cfg.DefaultReplicationFactor
		}
		var err error
		if replicas, err = c.assignLocked(s, cur, add, rf); err != nil {
			return nil, err
		}
	}
	recs := make([]record, 0, len(replicas))
	for i, r := range replicas {
		p, err := newPartition(s, cur+int32(i), r)
		if err != nil {
			return nil, err
		}
		recs = append(recs, record{Type: recPartition, TopicID: t.ID, Partition: p})
	}
	if validateOnly {
		return wouldBe(s, recs, t.ID)
	}
	if err := c.commitLocked(recs); err != nil {
		return nil, err
	}
	return c.snap.Load().TopicsByID[t.ID], nil
}

// Incremental config operations (IncrementalAlterConfigs op codes).
const (
	OpSet      int8 = 0
	OpDelete   int8 = 1
	OpAppend   int8 = 2
	OpSubtract int8 = 3
)

// ConfigOp is one config change. For a non-incremental alter only Name
// and Value matter (a nil Value leaves the key unset).
type ConfigOp struct {
	Name  string
	Op    int8
	Value *string
}

// AlterTopicConfigs changes a topic's configs. Without incremental it
// replaces the whole set of explicit configs with ops (AlterConfigs);
// with incremental it applies each op (IncrementalAlterConfigs): SET,
// DELETE (unset; a no-op if not set), APPEND and SUBTRACT (LIST keys only,
// starting from the default when unset). The result is validated as a
// whole; with validateOnly nothing is stored.
func (c *Controller) AlterTopicConfigs(name string, ops []ConfigOp, incremental, validateOnly bool) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.beginWriteLocked(); err != nil {
		return err
	}
	t := c.snap.Load().Topics[name]
	if t == nil {
		return fmt.Errorf("%w: topic '%s' does not exist", ErrUnknownTopic, name)
	}
	seen := make(map[string]bool, len(ops))
	for _, op := range ops {
		if seen[op.Name] {
			return fmt.Errorf("%w: duplicate config key %s", ErrInvalidRequest, op.Name)
		}
		seen[op.Name] = true
		if _, ok := topicConfigDefs[op.Name]; !ok {
			return fmt.Errorf("%w: unknown topic config name: %s", ErrInvalidConfig, op.Name)
		}
	}

	var next map[string]string
	if incremental {
		next = maps.Clone(t.Configs)
		for _, op := range ops {
			if err := applyConfigOp(next, op); err != nil {
				return err
			}
		}
	} else {
		next = make(map[string]string, len(ops))
		for _, op := range ops {
			if op.Value != nil {
				next[op.Name] = *op.Value
			}
		}
	}
	if err := ValidateTopicConfigs(next); err != nil {
		return err
	}
	c.warnConfigs(name, next)
	if validateOnly {
		return nil
	}
	var recs []record
	for _, k := range slices.Sorted(maps.Keys(t.Configs)) {
		if _, ok := next[k]; !ok {
			recs = append(recs, record{Type: recConfig, TopicID: t.ID, ConfigName: k})
		}
	}
	for _, k := range slices.Sorted(maps.Keys(next)) {
		if old, ok := t.Configs[k]; !ok || old != next[k] {
			v := next[k]
			recs = append(recs, record{Type: recConfig, TopicID: t.ID, ConfigName: k, ConfigValue: &v})
		}
	}
	return c.commitLocked(recs)
}

// ListOp applies APPEND (items of value not yet in cur are added) or
// SUBTRACT (items of value are removed) to the LIST value cur.
func ListOp(cur, value string, op int8) string {
	list := splitList(cur)
	for _, item := range splitList(value) {
		if op == OpAppend {
			if !slices.Contains(list, item) {
				list = append(list, item)
			}
		} else {
			list = slices.DeleteFunc(list, func(s string) bool { return s == item })
		}
	}
	return strings.Join(list, ",")
}

func applyConfigOp(m map[string]string, op ConfigOp) error {
	def := topicConfigDefs[op.Name]
	switch op.Op {
	case OpSet:
		if op.Value == nil {
			return fmt.Errorf("%w: null value not supported for: %s", ErrInvalidConfig, op.Name)
		}
		m[op.Name] = *op.Value
	case OpDelete:
		delete(m, op.Name)
	case OpAppend, OpSubtract:
		if !def.IsList() {
			verb := "append"
			if op.Op == OpSubtract {
				verb = "subtract"
			}
			return fmt.Errorf("%w: can't %s to key %s because its type is not LIST", ErrInvalidConfig, verb, op.Name)
		}
		if op.Value == nil {
			return fmt.Errorf("%w: null value not supported for: %s", ErrInvalidConfig, op.Name)
		}
		cur, ok := m[op.Name]
		if !ok {
			cur = def.Default
		}
		m[op.Name] = ListOp(cur, *op.Value, op.Op)
	default:
		return fmt.Errorf("%w: unknown config operation %d for %s", ErrInvalidRequest, op.Op, op.Name)
	}
	return nil
}

// warnConfigs logs the settings of topic that Kafka 4 would refuse but
// Kafka 3.x, and gregor, accept.
func (c *Controller) warnConfigs(topic string, configs map[string]string) {
	for _, w := range TopicConfigWarnings(configs) {
		c.log.Warn().Str("topic", topic).Str("config", w).Msg("topic config below the kafka 4 minimum")
	}
}
