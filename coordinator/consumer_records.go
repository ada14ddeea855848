package coordinator

// The __consumer_offsets records of KIP-848 consumer groups, in Kafka's
// formats (group-coordinator/src/main/resources/common/message). The key
// starts with its record type; its fields are non-flexible. The value is
// version 0, flexible (compact strings and arrays, tagged fields):
//
//	3 ConsumerGroupMetadata        key (group)          value Epoch, tag 0 MetadataHash
//	4 ConsumerGroupPartitionMetadata (read and ignored; Kafka 4.1+ writes the hash instead)
//	5 ConsumerGroupMemberMetadata  key (group, member)  value InstanceId, RackId, ClientId, ClientHost,
//	                                                     SubscribedTopicNames, SubscribedTopicRegex,
//	                                                     RebalanceTimeoutMs, ServerAssignor,
//	                                                     tag 0 ClassicMemberMetadata (SessionTimeoutMs,
//	                                                     SupportedProtocols: Name, Metadata) of a
//	                                                     classic-protocol member
//	6 ConsumerGroupTargetAssignmentMetadata key (group) value AssignmentEpoch
//	7 ConsumerGroupTargetAssignmentMember key (group, member) value TopicPartitions
//	8 ConsumerGroupCurrentMemberAssignment key (group, member) value MemberEpoch, PreviousMemberEpoch,
//	                                                     State, AssignedPartitions, PartitionsPendingRevocation
//
// A null value is a tombstone. Partitions are named by topic id; a topic
// id unknown when the log is replayed (the topic was deleted) is dropped.
// A static member that left for now (epoch -2) is written with member
// epoch -2 and its real epoch as the previous epoch.

import (
	"bytes"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const (
	cgRecordMetadata       = 3
	cgRecordPartitionMeta  = 4
	cgRecordMember         = 5
	cgRecordTargetMetadata = 6
	cgRecordTargetMember   = 7
	cgRecordCurrent        = 8
)

// cgRecord is one decoded consumer group record.
type cgRecord struct {
	typ          int16
	group        string
	member       string
	tombstone    bool
	epoch        int32 // 3: group epoch; 6: assignment epoch; 8: member epoch
	metadataHash int64
	meta         *cgMemberMeta
	parts        map[[16]byte][]int32 // 7: target; 8: assigned
	revoking     map[[16]byte][]int32 // 8
	prevEpoch    int32
	state        int8
}

type cgMemberMeta struct {
	instanceID, rackID *string
	clientID           string
	clientHost         string
	topics             []string
	regex              *string
	rebalanceTimeoutMs int32
	assignor           *string
	classic            *classicMeta
}

func cgKey(typ int16, group string, member ...string) []byte {
	k := kbin.AppendInt16(nil, typ)
	k = kbin.AppendString(k, group)
	for _, m := range member {
		k = kbin.AppendString(k, m)
	}
	return k
}

// appendTags appends tagged fields (tag -> encoded value), tags ascending.
func appendTags(b []byte, tags map[uint32][]byte) []byte {
	b = kbin.AppendUvarint(b, uint32(len(tags)))
	keys := make([]uint32, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		b = kbin.AppendUvarint(b, k)
		b = kbin.AppendUvarint(b, uint32(len(tags[k])))
		b = append(b, tags[k]...)
	}
	return b
}

// readTags reads tagged fields, returning the ones in want by tag.
func readTags(r *kbin.Reader) map[uint32][]byte {
	out := map[uint32][]byte{}
	n := r.Uvarint()
	for i := uint32(0); i < n && r.Ok(); i++ {
		tag := r.Uvarint()
		size := r.Uvarint()
		out[tag] = r.Span(int(size))
	}
	return out
}

func appendTopicPartitions(b []byte, parts map[[16]byte][]int32) []byte {
	ids := make([][16]byte, 0, len(parts))
	for id := range parts {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b [16]byte) int { return bytes.Compare(a[:], b[:]) })
	b = kbin.AppendCompactArrayLen(b, len(ids))
	for _, id := range ids {
		b = kbin.AppendUuid(b, id)
		b = kbin.AppendCompactArrayLen(b, len(parts[id]))
		for _, p := range parts[id] {
			b = kbin.AppendInt32(b, p)
		}
		b = appendTags(b, nil)
	}
	return b
}

func readTopicPartitions(r *kbin.Reader) map[[16]byte][]int32 {
	out := map[[16]byte][]int32{}
	n := r.CompactArrayLen()
	for i := int32(0); i < n && r.Ok(); i++ {
		id := r.Uuid()
		np := r.CompactArrayLen()
		ps := make([]int32, 0, max(np, 0))
		for j := int32(0); j < np && r.Ok(); j++ {
			ps = append(ps, r.Int32())
		}
		readTags(r) // AssignmentEpochs (KIP-1251) is not used
		out[id] = append(out[id], ps...)
	}
	return out
}

func cgGroupValue(epoch int32, hash int64) []byte {
	b := kbin.AppendInt16(nil, 0)
	b = kbin.AppendInt32(b, epoch)
	var tags map[uint32][]byte
	if hash != 0 {
		tags = map[uint32][]byte{0: kbin.AppendInt64(nil, hash)}
	}
	return appendTags(b, tags)
}

func cgEpochValue(epoch int32) []byte {
	b := kbin.AppendInt16(nil, 0)
	b = kbin.AppendInt32(b, epoch)
	return appendTags(b, nil)
}

func cgMemberValue(m *cgMemberMeta) []byte {
	b := kbin.AppendInt16(nil, 0)
	b = kbin.AppendCompactNullableString(b, m.instanceID)
	b = kbin.AppendCompactNullableString(b, m.rackID)
	b = kbin.AppendCompactString(b, m.clientID)
	b = kbin.AppendCompactString(b, m.clientHost)
	b = kbin.AppendCompactArrayLen(b, len(m.topics))
	for _, t := range m.topics {
		b = kbin.AppendCompactString(b, t)
	}
	b = kbin.AppendCompactNullableString(b, m.regex)
	b = kbin.AppendInt32(b, m.rebalanceTimeoutMs)
	b = kbin.AppendCompactNullableString(b, m.assignor)
	var tags map[uint32][]byte
	if c := m.classic; c != nil {
		// A nullable struct in a tagged field: marker 1, then the struct.
		t := []byte{1}
		t = kbin.AppendInt32(t, int32(c.sessionTimeout.Milliseconds()))
		t = kbin.AppendCompactArrayLen(t, len(c.protocols))
		for _, p := range c.protocols {
			t = kbin.AppendCompactString(t, p.Name)
			t = kbin.AppendCompactBytes(t, p.Metadata)
			t = appendTags(t, nil)
		}
		t = appendTags(t, nil)
		tags = map[uint32][]byte{0: t}
	}
	return appendTags(b, tags)
}

// readClassicMeta decodes tag 0 of a ConsumerGroupMemberMetadataValue;
// nil for a null struct.
func readClassicMeta(b []byte) (*classicMeta, error) {
	r := kbin.Reader{Src: b}
	if marker := r.Int8(); !r.Ok() || marker < 0 {
		return nil, r.Complete()
	}
	c := &classicMeta{sessionTimeout: time.Duration(r.Int32()) * time.Millisecond}
	n := r.CompactArrayLen()
	for i := int32(0); i < n && r.Ok(); i++ {
		p := kmsg.JoinGroupRequestProtocol{Name: r.CompactString(), Metadata: slices.Clone(r.CompactBytes())}
		readTags(&r)
		c.protocols = append(c.protocols, p)
	}
	readTags(&r)
	if err := r.Complete(); err != nil {
		return nil, err
	}
	if len(c.protocols) == 0 {
		return nil, fmt.Errorf("classic member without protocols")
	}
	return c, nil
}

func cgTargetValue(parts map[[16]byte][]int32) []byte {
	b := kbin.AppendInt16(nil, 0)
	b = appendTopicPartitions(b, parts)
	return appendTags(b, nil)
}

func cgCurrentValue(epoch, prev int32, state int8, assigned, revoking map[[16]byte][]int32) []byte {
	b := kbin.AppendInt16(nil, 0)
	b = kbin.AppendInt32(b, epoch)
	b = kbin.AppendInt32(b, prev)
	b = kbin.AppendInt8(b, state)
	b = appendTopicPartitions(b, assigned)
	b = appendTopicPartitions(b, revoking)
	return appendTags(b, nil)
}

// decodeConsumerRecord decodes a record of type 3-8.
func decodeConsumerRecord(typ int16, key, value []byte) (*cgRecord, error) {
	kr := kbin.Reader{Src: key[2:]}
	rec := &cgRecord{typ: typ, group: kr.String(), tombstone: value == nil}
	switch typ {
	case cgRecordMember, cgRecordTargetMember, cgRecordCurrent:
		rec.member = kr.String()
	}
	if err := kr.Complete(); err != nil {
		return nil, fmt.Errorf("%w: consumer group key type %d: %v", ErrCorruptRecord, typ, err)
	}
	if value == nil {
		return rec, nil
	}
	r := kbin.Reader{Src: value}
	if v := r.Int16(); r.Ok() && v != 0 {
		return nil, fmt.Errorf("%w: consumer group value type %d version %d", ErrCorruptRecord, typ, v)
	}
	switch typ {
	case cgRecordMetadata:
		rec.epoch = r.Int32()
		if h := readTags(&r)[0]; len(h) == 8 {
			hr := kbin.Reader{Src: h}
			rec.metadataHash = hr.Int64()
		}
	case cgRecordPartitionMeta:
		r.Src = nil // superseded by the metadata hash; not read
	case cgRecordMember:
		m := &cgMemberMeta{}
		m.instanceID = r.CompactNullableString()
		m.rackID = r.CompactNullableString()
		m.clientID = r.CompactString()
		m.clientHost = r.CompactString()
		n := r.CompactArrayLen()
		for i := int32(0); i < n && r.Ok(); i++ {
			m.topics = append(m.topics, r.CompactString())
		}
		m.regex = r.CompactNullableString()
		m.rebalanceTimeoutMs = r.Int32()
		m.assignor = r.CompactNullableString()
		if t, ok := readTags(&r)[0]; ok {
			c, err := readClassicMeta(t)
			if err != nil {
				return nil, fmt.Errorf("%w: classic member metadata: %v", ErrCorruptRecord, err)
			}
			m.classic = c
		}
		rec.meta = m
	case cgRecordTargetMetadata:
		rec.epoch = r.Int32()
		readTags(&r)
	case cgRecordTargetMember:
		rec.parts = readTopicPartitions(&r)
		readTags(&r)
	case cgRecordCurrent:
		rec.epoch = r.Int32()
		rec.prevEpoch = r.Int32()
		rec.state = r.Int8()
		rec.parts = readTopicPartitions(&r)
		rec.revoking = readTopicPartitions(&r)
		readTags(&r)
	}
	if err := r.Complete(); err != nil {
		return nil, fmt.Errorf("%w: consumer group value type %d: %v", ErrCorruptRecord, typ, err)
	}
	return rec, nil
}

// ---- writing ----

// byID converts partitions by topic name to partitions by topic id,
// dropping topics that no longer exist.
func byID(parts map[string][]int32, topics Topics) map[[16]byte][]int32 {
	out := make(map[[16]byte][]int32, len(parts))
	for t, ps := range parts {
		if ti, ok := topics.Topic(t); ok && len(ps) > 0 {
			out[ti.ID] = ps
		}
	}
	return out
}

// byName is byID's inverse.
func byName(parts map[[16]byte][]int32, topics Topics) map[string][]int32 {
	out := make(map[string][]int32, len(parts))
	for id, ps := range parts {
		if name, ok := topics.TopicName(id); ok {
			ps = slices.Clone(ps)
			slices.Sort(ps)
			out[name] = slices.Compact(ps)
		}
	}
	return out
}

func (m *cmember) metaValue() []byte {
	mm := &cgMemberMeta{instanceID: m.instanceID, rackID: m.rackID, clientID: m.clientID, clientHost: m.clientHost,
		topics: m.topics, rebalanceTimeoutMs: int32(m.rebalanceTimeout.Milliseconds())}
	if mm.topics == nil {
		mm.topics = []string{}
	}
	if m.regex != "" {
		mm.regex = &m.regex
	}
	if m.assignor != "" {
		mm.assignor = &m.assignor
	}
	mm.classic = m.classic
	return cgMemberValue(mm)
}

func (m *cmember) currentValue(topics Topics) []byte {
	epoch, prev := m.epoch, m.prevEpoch
	if m.staticLeft {
		epoch, prev = -2, m.epoch
	}
	return cgCurrentValue(epoch, prev, int8(m.state)+1, byID(m.assigned, topics), byID(m.revoking, topics))
}

// consumerRecords returns the records that bring the log up to date
// with the group: members' records that changed, tombstones of removed
// members, the group epoch and the target assignment.
func (g *group) consumerRecords(topics Topics) (recs []kv, commit func()) {
	cg := g.cg
	w := &cg.written
	var commits []func()
	put := func(key []byte, value []byte, last *[]byte) {
		if bytes.Equal(*last, value) && *last != nil {
			return
		}
		recs = append(recs, kv{key, value})
		commits = append(commits, func() { *last = value })
	}
	for _, id := range cg.removed {
		recs = append(recs,
			kv{cgKey(cgRecordCurrent, g.id, id), nil},
			kv{cgKey(cgRecordTargetMember, g.id, id), nil},
			kv{cgKey(cgRecordMember, g.id, id), nil})
	}
	removed := len(cg.removed)
	commits = append(commits, func() {
		cg.removed = cg.removed[removed:]
	})
	for _, id := range sortedKeys(cg.members) {
		m := cg.members[id]
		put(cgKey(cgRecordMember, g.id, id), m.metaValue(), &m.writtenMeta)
	}
	put(cgKey(cgRecordMetadata, g.id), cgGroupValue(cg.epoch, cg.metaHash), &w.group)
	if cg.targetDirty {
		for _, id := range sortedKeys(cg.members) {
			m := cg.members[id]
			put(cgKey(cgRecordTargetMember, g.id, id), cgTargetValue(byID(cg.target[id], topics)), &m.writtenTarget)
		}
		commits = append(commits, func() { cg.targetDirty = false })
	}
	put(cgKey(cgRecordTargetMetadata, g.id), cgEpochValue(cg.targetEpoch), &w.target)
	for _, id := range sortedKeys(cg.members) {
		m := cg.members[id]
		put(cgKey(cgRecordCurrent, g.id, id), m.currentValue(topics), &m.writtenCurrent)
	}
	return recs, func() {
		for _, c := range commits {
			c()
		}
	}
}

// flushConsumer writes the group's changed records; false if the write
// failed (they are retried with the next change).
func (g *group) flushConsumer() bool {
	recs, commit := g.consumerRecords(g.sh.c.topics())
	if len(recs) == 0 {
		return true
	}
	if err := g.sh.write(recs); err != nil {
		return false
	}
	commit()
	return true
}

// consumerTombstones deletes an empty consumer group's records.
func consumerTombstones(group string) []kv {
	return []kv{{cgKey(cgRecordTargetMetadata, group), nil}, {cgKey(cgRecordMetadata, group), nil}}
}

// applyConsumer replays one consumer group record.
func (sh *shard) applyConsumer(r *cgRecord) {
	g := sh.groups[r.group]
	if r.typ == cgRecordPartitionMeta {
		return
	}
	if r.tombstone {
		if g == nil || g.cg == nil {
			return
		}
		cg := g.cg
		switch r.typ {
		case cgRecordMetadata:
			if len(g.offsets) == 0 {
				delete(sh.groups, g.id)
			} else {
				g.cg, g.protocolType = nil, ""
			}
		case cgRecordMember, cgRecordCurrent:
			delete(cg.members, r.member)
		case cgRecordTargetMember:
			delete(cg.target, r.member)
		}
		return
	}
	if g == nil {
		g = newGroup(sh, r.group)
		sh.groups[r.group] = g
	}
	if g.cg == nil {
		g.toConsumer()
	}
	cg := g.cg
	topics := sh.c.topics()
	member := func() *cmember {
		m := cg.members[r.member]
		if m == nil {
			m = &cmember{id: r.member, assigned: map[string][]int32{}, revoking: map[string][]int32{}}
			cg.members[r.member] = m
		}
		return m
	}
	switch r.typ {
	case cgRecordMetadata:
		cg.epoch, cg.metaHash = r.epoch, r.metadataHash
	case cgRecordMember:
		m := member()
		mm := r.meta
		m.instanceID, m.rackID, m.clientID, m.clientHost = mm.instanceID, mm.rackID, mm.clientID, mm.clientHost
		m.topics = mm.topics
		slices.Sort(m.topics)
		m.regex, m.assignor = "", ""
		if mm.regex != nil {
			m.regex = *mm.regex
		}
		if mm.assignor != nil {
			m.assignor = *mm.assignor
		}
		m.rebalanceTimeout = time.Duration(mm.rebalanceTimeoutMs) * time.Millisecond
		m.classic = mm.classic
	case cgRecordTargetMetadata:
		cg.targetEpoch = r.epoch
	case cgRecordTargetMember:
		cg.target[r.member] = byName(r.parts, topics)
	case cgRecordCurrent:
		m := member()
		m.epoch, m.prevEpoch, m.staticLeft = r.epoch, r.prevEpoch, false
		if r.epoch == -2 {
			m.epoch, m.staticLeft = r.prevEpoch, true
		}
		m.state = memberStable
		if r.state >= 1 && r.state <= 3 {
			m.state = reconcileState(r.state - 1)
		}
		m.assigned, m.revoking = byName(r.parts, topics), byName(r.revoking, topics)
	}
}

// consumerLoaded finishes a replayed consumer group: who owns which
// partition, static members, what the log holds, and the members' timers.
func (g *group) consumerLoaded() {
	cg := g.cg
	topics := g.sh.c.topics()
	cg.owners = map[partKey]string{}
	cg.statics = map[string]string{}
	for _, id := range sortedKeys(cg.members) {
		m := cg.members[id]
		for _, parts := range []map[string][]int32{m.assigned, m.revoking} {
			for t, ps := range parts {
				for _, p := range ps {
					cg.owners[partKey{t, p}] = id
				}
			}
		}
		if m.instanceID != nil {
			cg.statics[*m.instanceID] = id
		}
		m.writtenMeta = m.metaValue()
		m.writtenTarget = cgTargetValue(byID(cg.target[id], topics))
		m.writtenCurrent = m.currentValue(topics)
		g.touchConsumer(m)
		if m.state == memberUnrevoked && m.classic == nil {
			g.startRevokeTimer(m)
		}
	}
	cg.written.group = cgGroupValue(cg.epoch, cg.metaHash)
	cg.written.target = cgEpochValue(cg.targetEpoch)
	if len(cg.members) > 0 {
		g.setState(stateStable)
	} else {
		g.setState(stateEmpty)
	}
}
