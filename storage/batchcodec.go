package storage

import (
	"encoding/binary"
	"fmt"
)

// The exported magic-2 record batch codec: the one header walker and
// CRC-stamping encoder the broker, coordinator, tests and tools share.

// Record is one record to encode into a batch. A nil Key or Value is
// encoded as null.
type Record struct {
	TimestampDelta int64
	Key, Value     []byte
	Headers        []RecordHeader
}

// RecordHeader is one record header. A nil Value is encoded as null.
type RecordHeader struct {
	Key   string
	Value []byte
}

// AppendRecord appends r, with attributes 0 and the given offset delta, in
// the records encoding of a magic-2 batch (a varint length, then the
// record).
func AppendRecord(dst []byte, offsetDelta int32, r Record) []byte {
	var body []byte
	body = append(body, 0) // attributes
	body = binary.AppendVarint(body, r.TimestampDelta)
	body = binary.AppendVarint(body, int64(offsetDelta))
	body = appendVarBytes(body, r.Key)
	body = appendVarBytes(body, r.Value)
	body = binary.AppendVarint(body, int64(len(r.Headers)))
	for _, h := range r.Headers {
		body = binary.AppendVarint(body, int64(len(h.Key)))
		body = append(body, h.Key...)
		body = appendVarBytes(body, h.Value)
	}
	dst = binary.AppendVarint(dst, int64(len(body)))
	return append(dst, body...)
}

func appendVarBytes(dst, b []byte) []byte {
	if b == nil {
		return binary.AppendVarint(dst, -1)
	}
	dst = binary.AppendVarint(dst, int64(len(b)))
	return append(dst, b...)
}

// EncodeBatch assembles a magic-2 batch from header h and an already
// encoded (and, per h.Attributes, compressed) records section. Magic is 2;
// Length, CRC and NumRecords are computed from the arguments; the other
// fields are h's.
func EncodeBatch(h BatchHeader, numRecords int32, records []byte) []byte {
	return encodeBatch(h, numRecords, records)
}

// BuildBatch encodes recs as one uncompressed batch: record i has offset
// delta i, LastOffsetDelta and NumRecords follow len(recs), the other
// header fields are h's (the codec bits of h.Attributes must be 0).
func BuildBatch(h BatchHeader, recs []Record) []byte {
	var body []byte
	for i, r := range recs {
		body = AppendRecord(body, int32(i), r)
	}
	h.LastOffsetDelta = int32(len(recs) - 1)
	return encodeBatch(h, int32(len(recs)), body)
}

// StampCRC recomputes the CRC of the whole batch b (after its attributes
// or anything after them changed). b must hold at least a batch header.
func StampCRC(b []byte) {
	if len(b) < BatchHeaderSize {
		return
	}
	binary.BigEndian.PutUint32(b[offCRC:], crc32c(b[offAttributes:]))
}

// WalkBatches calls fn with the header and the bytes of each whole batch
// in b, in order, until fn returns an error (returned as is). A truncated
// final batch ends the walk without error, as at the end of a fetch; a
// batch whose length cannot hold its header, or whose magic is not 2, is
// ErrCorruptMessage or ErrUnsupportedMagic. The CRC is not checked.
func WalkBatches(b []byte, fn func(h BatchHeader, batch []byte) error) error {
	for len(b) >= BatchHeaderSize {
		h, err := ParseBatchHeader(b)
		if err != nil {
			return err
		}
		if err := checkLength(h, -1); err != nil {
			return err
		}
		if h.Size() > int64(len(b)) {
			return nil
		}
		batch := b[:h.Size()]
		b = b[h.Size():]
		if err := fn(h, batch); err != nil {
			return err
		}
	}
	return nil
}

// BatchRecords is the records section of the whole batch b with header h,
// checked to be there.
func BatchRecords(b []byte, h BatchHeader) ([]byte, error) {
	if int64(len(b)) < h.Size() || h.Size() < BatchHeaderSize {
		return nil, fmt.Errorf("%w: batch of %d bytes, header says %d", ErrCorruptMessage, len(b), h.Size())
	}
	return b[BatchHeaderSize:h.Size()], nil
}
