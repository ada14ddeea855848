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
// batch per coordinator write.

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const (
	offsetCommitKeyVersion    = 1
	offsetCommitValueVersion  = 3
	groupMetadataKeyVersion   = 2
	groupMetadataValueVersion = 3
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

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
	var body []byte
	for i, r := range recs {
		rec := kmsg.Record{OffsetDelta: int32(i), Key: r.key, Value: r.value}
		enc := rec.AppendTo(nil) // Length 0 as a one-byte varint
		body = kbin.AppendVarint(body, int32(len(enc)-1))
		body = append(body, enc[1:]...)
	}
	b := kmsg.RecordBatch{
		FirstOffset:     0,
		Magic:           2,
		LastOffsetDelta: int32(len(recs) - 1),
		FirstTimestamp:  nowMs,
		MaxTimestamp:    nowMs,
		ProducerID:      -1,
		ProducerEpoch:   -1,
		FirstSequence:   -1,
		NumRecords:      int32(len(recs)),
		Records:         body,
	}
	out := b.AppendTo(nil)
	binary.BigEndian.PutUint32(out[8:], uint32(len(out)-12))
	binary.BigEndian.PutUint32(out[17:], crc32.Checksum(out[21:], castagnoli))
	return out
}

// forEachRecord calls fn with every record of the whole batches in b.
// Control batches are skipped; compressed batches are an error (the
// coordinator never writes them). A truncated final batch ends the walk.
func forEachRecord(b []byte, fn func(offset int64, key, value []byte) error) error {
	for len(b) >= 61 {
		length := int32(binary.BigEndian.Uint32(b[8:]))
		if length < 49 || int64(length)+12 > int64(len(b)) {
			if length < 49 {
				return fmt.Errorf("%w: batch length %d", ErrCorruptRecord, length)
			}
			return nil
		}
		raw := b[:12+length]
		b = b[12+length:]
		var batch kmsg.RecordBatch
		if err := batch.ReadFrom(raw); err != nil {
			return fmt.Errorf("%w: %v", ErrCorruptRecord, err)
		}
		if batch.Magic != 2 {
			return fmt.Errorf("%w: magic %d", ErrCorruptRecord, batch.Magic)
		}
		if batch.Attributes&0x20 != 0 { // control batch
			continue
		}
		if batch.Attributes&0x07 != 0 {
			return fmt.Errorf("%w: compressed batch", ErrCorruptRecord)
		}
		recs := batch.Records
		for i := int32(0); i < batch.NumRecords; i++ {
			l, n := binary.Varint(recs)
			if n <= 0 || l < 0 || int64(n)+l > int64(len(recs)) {
				return fmt.Errorf("%w: record length", ErrCorruptRecord)
			}
			var r kmsg.Record
			if err := r.ReadFrom(recs[:int64(n)+l]); err != nil {
				return fmt.Errorf("%w: %v", ErrCorruptRecord, err)
			}
			recs = recs[int64(n)+l:]
			if err := fn(batch.FirstOffset+int64(r.OffsetDelta), r.Key, r.Value); err != nil {
				return err
			}
		}
	}
	return nil
}

// record is one decoded __consumer_offsets record. Exactly one of offset
// and group is set unless the key is unknown (skip).
type record struct {
	offset *offsetRecord
	group  *groupRecord
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

// decodeRecord decodes one __consumer_offsets record. Keys of versions the
// classic coordinator does not own (KIP-848 consumer group records, 3+)
// decode to the zero record, which the loader skips.
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
	default:
		return record{}, nil
	}
}
