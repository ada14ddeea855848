package coordinator

// The __consumer_offsets record formats, as Kafka writes them so that
// Kafka's own tools (kafka-console-consumer with the offsets formatter,
// kafka-dump-log --offsets-decoder) can read a gregor log:
//
//   - offset commit: key version 1 (group, topic, partition), value
//     version 3 (offset, leader epoch, metadata, commit timestamp);
//   - group metadata: key version 2 (group), value version 3 (protocol
//     type, generation, protocol, leader, state timestamp, members);
//   - a null value is a tombstone: the offset or the group is deleted.
//
// Records go in uncompressed magic-2 batches with producer id -1, one
// batch per coordinator write; a TxnOffsetCommit's offset records go in a
// transactional batch of its producer (buildTxnBatch), which count once
// that producer's COMMIT marker follows them in the partition.

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/storage"
)

const (
	offsetCommitKeyVersion    = 1
	offsetCommitValueVersion  = 3
	groupMetadataKeyVersion   = 2
	groupMetadataValueVersion = 3
)

// kv is one record to write: a nil value is a tombstone.
type kv struct{ key, value []byte }

func offsetCommitKey(group, topic string, partition int32) []byte {
	k := kmsg.OffsetCommitKey{Version: offsetCommitKeyVersion, Group: group, Topic: topic, Partition: partition}
	return k.AppendTo(nil)
}

func offsetCommitValue(o offsetEntry) []byte {
	v := kmsg.OffsetCommitValue{
		Version:         offsetCommitValueVersion,
		Offset:          o.offset,
		LeaderEpoch:     o.leaderEpoch,
		Metadata:        o.metadata,
		CommitTimestamp: o.commitMs,
	}
	return v.AppendTo(nil)
}

func groupMetadataKey(group string) []byte {
	k := kmsg.GroupMetadataKey{Version: groupMetadataKeyVersion, Group: group}
	return k.AppendTo(nil)
}

// buildBatch encodes records as one uncompressed magic-2 batch with base
// offset 0 (the log stamps the real one).
func buildBatch(nowMs int64, recs []kv) []byte {
	return encodeRecords(storage.BatchHeader{ProducerID: -1, ProducerEpoch: -1}, nowMs, recs)
}

// attrTransactional is the record batch attribute bit of transactional
// batches.
const attrTransactional = 0x10

// buildTxnBatch encodes records as one transactional batch of producer
// pid at epoch (TxnOffsetCommit's offsets, as Kafka writes them): base
// sequence -1, so the partition's producer state takes it without a
// sequence check, and its transaction is open until the marker.
func buildTxnBatch(nowMs int64, pid int64, epoch int16, recs []kv) []byte {
	return encodeRecords(storage.BatchHeader{Attributes: attrTransactional, ProducerID: pid, ProducerEpoch: epoch}, nowMs, recs)
}

func encodeRecords(h storage.BatchHeader, nowMs int64, recs []kv) []byte {
	rs := make([]storage.Record, len(recs))
	for i, r := range recs {
		rs[i] = storage.Record{Key: r.key, Value: r.value}
	}
	h.BaseTimestamp, h.MaxTimestamp, h.BaseSequence = nowMs, nowMs, -1
	return storage.BuildBatch(h, rs)
}

// forEachRecord calls fn with every record of the whole batches in b.
// Control batches are skipped; compressed batches are an error (the
// coordinator never writes them). A truncated final batch ends the walk.
func forEachRecord(b []byte, fn func(offset int64, key, value []byte) error) error {
	return walkBatches(b, nil, func(_ storage.BatchHeader, offset int64, key, value []byte) error {
		return fn(offset, key, value)
	})
}

// walkBatches calls fn with every record of the whole batches in b and its
// batch's header, and ctl (when not nil) with each control batch's header
// and whether it is a COMMIT marker. Compressed batches are an error. A
// truncated final batch ends the walk.
func walkBatches(b []byte, ctl func(h storage.BatchHeader, commit bool) error, fn func(h storage.BatchHeader, offset int64, key, value []byte) error) error {
	err := storage.WalkBatches(b, func(h storage.BatchHeader, batch []byte) error {
		if h.IsControl() {
			if ctl == nil {
				return nil
			}
			cr, err := storage.ParseControlBatch(batch)
			if err != nil {
				return fmt.Errorf("%w: %v", ErrCorruptRecord, err)
			}
			return ctl(h, cr.Type == storage.ControlCommit)
		}
		if h.Codec() != 0 {
			return fmt.Errorf("%w: compressed batch", ErrCorruptRecord)
		}
		recs, err := storage.BatchRecords(batch, h)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrCorruptRecord, err)
		}
		for i := int32(0); i < h.NumRecords; i++ {
			l, n := binary.Varint(recs)
			if n <= 0 || l < 0 || int64(n)+l > int64(len(recs)) {
				return fmt.Errorf("%w: record length", ErrCorruptRecord)
			}
			var r kmsg.Record
			if err := r.ReadFrom(recs[:int64(n)+l]); err != nil {
				return fmt.Errorf("%w: %v", ErrCorruptRecord, err)
			}
			recs = recs[int64(n)+l:]
			if err := fn(h, h.BaseOffset+int64(r.OffsetDelta), r.Key, r.Value); err != nil {
				return err
			}
		}
		return nil
	})
	if errors.Is(err, storage.ErrCorruptMessage) || errors.Is(err, storage.ErrUnsupportedMagic) {
		return fmt.Errorf("%w: %v", ErrCorruptRecord, err)
	}
	return err
}

// record is one decoded __consumer_offsets record. Exactly one of offset
// and group is set unless the key is unknown (skip).
type record struct {
	offset *offsetRecord
	group  *groupRecord
	cg     *cgRecord // KIP-848 consumer group records (consumer_records.go)
}

type offsetRecord struct {
	group, topic string
	partition    int32
	value        *offsetEntry // nil: tombstone
}

type groupRecord struct {
	group string
	value *kmsg.GroupMetadataValue // nil: tombstone
}

// decodeRecord decodes one __consumer_offsets record. Keys of other
// versions (share groups, 9+) decode to the zero record, which the loader
// skips.
func decodeRecord(key, value []byte) (record, error) {
	if len(key) < 2 {
		return record{}, fmt.Errorf("%w: key of %d bytes", ErrCorruptRecord, len(key))
	}
	switch version := int16(binary.BigEndian.Uint16(key)); version {
	case 0, 1:
		var k kmsg.OffsetCommitKey
		if err := k.ReadFrom(key); err != nil {
			return record{}, fmt.Errorf("%w: offset key: %v", ErrCorruptRecord, err)
		}
		or := &offsetRecord{group: k.Group, topic: k.Topic, partition: k.Partition}
		if value != nil {
			var v kmsg.OffsetCommitValue
			if err := v.ReadFrom(value); err != nil {
				return record{}, fmt.Errorf("%w: offset value: %v", ErrCorruptRecord, err)
			}
			if v.Version < 0 || v.Version > 4 {
				return record{}, fmt.Errorf("%w: offset value version %d", ErrCorruptRecord, v.Version)
			}
			e := offsetEntry{offset: v.Offset, leaderEpoch: -1, metadata: v.Metadata, commitMs: v.CommitTimestamp}
			if v.Version >= 3 {
				e.leaderEpoch = v.LeaderEpoch
			}
			or.value = &e
		}
		return record{offset: or}, nil
	case 2:
		var k kmsg.GroupMetadataKey
		if err := k.ReadFrom(key); err != nil {
			return record{}, fmt.Errorf("%w: group key: %v", ErrCorruptRecord, err)
		}
		gr := &groupRecord{group: k.Group}
		if value != nil {
			var v kmsg.GroupMetadataValue
			if err := v.ReadFrom(value); err != nil {
				return record{}, fmt.Errorf("%w: group value: %v", ErrCorruptRecord, err)
			}
			if v.Version < 0 || v.Version > 4 {
				return record{}, fmt.Errorf("%w: group value version %d", ErrCorruptRecord, v.Version)
			}
			gr.value = &v
		}
		return record{group: gr}, nil
	case cgRecordMetadata, cgRecordPartitionMeta, cgRecordMember, cgRecordTargetMetadata, cgRecordTargetMember, cgRecordCurrent:
		r, err := decodeConsumerRecord(version, key, value)
		if err != nil {
			return record{}, err
		}
		return record{cg: r}, nil
	default:
		return record{}, nil
	}
}
