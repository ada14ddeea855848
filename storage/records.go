package storage

import (
	"encoding/binary"
	"fmt"
)

// attrDeleteHorizon is attribute bit 6 (KIP-534): baseTimestamp holds the
// time after which the compactor may remove the batch's tombstones.
const attrDeleteHorizon = 0x40

// recordView is one record of a batch, pointing into the batch's
// (decompressed) records section.
type recordView struct {
	raw       []byte // the whole record with its length prefix
	attrs     byte
	tsDelta   int64
	offDelta  int32
	rest      []byte // key length onward (key, value, headers)
	key       []byte
	keyNull   bool
	valueNull bool
}

// forEachRecord parses n records from data, calling fn for each; it stops
// early when fn returns false. Malformed records are ErrCorruptMessage.
func forEachRecord(data []byte, n int32, fn func(r *recordView) bool) error {
	bad := func(what string) error { return fmt.Errorf("%w: malformed record: %s", ErrCorruptMessage, what) }
	p := data
	var r recordView
	for i := int32(0); i < n; i++ {
		l, m := binary.Varint(p)
		if m <= 0 || l < 1 || int64(len(p)-m) < l {
			return bad("length")
		}
		r.raw = p[:m+int(l)]
		b := p[m : m+int(l)]
		p = p[m+int(l):]
		r.attrs = b[0]
		b = b[1:]
		var k int
		if r.tsDelta, k = binary.Varint(b); k <= 0 {
			return bad("timestamp delta")
		}
		b = b[k:]
		od, k := binary.Varint(b)
		if k <= 0 || od < 0 || od > 1<<31-1 {
			return bad("offset delta")
		}
		r.offDelta = int32(od)
		b = b[k:]
		r.rest = b
		kl, k := binary.Varint(b)
		if k <= 0 || kl < -1 || int64(len(b)-k) < kl {
			return bad("key")
		}
		b = b[k:]
		r.keyNull, r.key = kl < 0, nil
		if kl >= 0 {
			r.key = b[:kl]
			b = b[kl:]
		}
		vl, k := binary.Varint(b)
		if k <= 0 || vl < -1 || int64(len(b)-k) < vl {
			return bad("value")
		}
		r.valueNull = vl < 0
		if !fn(&r) {
			return nil
		}
	}
	return nil
}

// batchRecords returns the decompressed records section of batch b.
func batchRecords(b []byte, h BatchHeader) ([]byte, error) {
	return decompress(h.Codec(), b[BatchHeaderSize:h.Size()])
}

// checkKeys rejects a batch holding a record without a key (appends to a
// compacted log). Control batches are exempt.
func checkKeys(b []byte, h BatchHeader) error {
	if h.IsControl() {
		return nil
	}
	recs, err := batchRecords(b, h)
	if err != nil {
		return err
	}
	var missing bool
	if err := forEachRecord(recs, h.NumRecords, func(r *recordView) bool {
		missing = r.keyNull
		return !missing
	}); err != nil {
		return err
	}
	if missing {
		return fmt.Errorf("%w: Compacted topic cannot accept message without key", ErrInvalidRecord)
	}
	return nil
}

// appendRecord appends r re-encoded with a new timestamp delta.
func appendRecord(dst []byte, r *recordView, tsDelta int64) []byte {
	var tmp [2 * binary.MaxVarintLen64]byte
	n := binary.PutVarint(tmp[:], tsDelta)
	n += binary.PutVarint(tmp[n:], int64(r.offDelta))
	dst = binary.AppendVarint(dst, int64(1+n+len(r.rest)))
	dst = append(dst, r.attrs)
	dst = append(dst, tmp[:n]...)
	return append(dst, r.rest...)
}

// encodeBatch assembles a batch from header h (Length, CRC, NumRecords taken
// from the arguments) and an already compressed records section.
func encodeBatch(h BatchHeader, numRecords int32, payload []byte) []byte {
	b := make([]byte, BatchHeaderSize, BatchHeaderSize+len(payload))
	binary.BigEndian.PutUint64(b[offBaseOffset:], uint64(h.BaseOffset))
	binary.BigEndian.PutUint32(b[offLength:], uint32(BatchHeaderSize-logOverhead+len(payload)))
	binary.BigEndian.PutUint32(b[offLeaderEpoch:], uint32(h.PartitionLeaderEpoch))
	b[offMagic] = 2
	binary.BigEndian.PutUint16(b[offAttributes:], uint16(h.Attributes))
	binary.BigEndian.PutUint32(b[offLastOffsetDelta:], uint32(h.LastOffsetDelta))
	binary.BigEndian.PutUint64(b[offBaseTimestamp:], uint64(h.BaseTimestamp))
	binary.BigEndian.PutUint64(b[offMaxTimestamp:], uint64(h.MaxTimestamp))
	binary.BigEndian.PutUint64(b[offProducerID:], uint64(h.ProducerID))
	binary.BigEndian.PutUint16(b[offProducerEpoch:], uint16(h.ProducerEpoch))
	binary.BigEndian.PutUint32(b[offBaseSequence:], uint32(h.BaseSequence))
	binary.BigEndian.PutUint32(b[offNumRecords:], uint32(numRecords))
	b = append(b, payload...)
	binary.BigEndian.PutUint32(b[offCRC:], crc32c(b[offAttributes:]))
	return b
}
