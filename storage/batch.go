package storage

import (
	"encoding/binary"
	"fmt"
	"math"
)

// BatchHeaderSize is the size of a magic-2 record batch header.
const BatchHeaderSize = 61

// logOverhead is baseOffset + batchLength: the bytes not counted by batchLength.
const logOverhead = 12

// Byte offsets of the magic-2 batch header fields.
const (
	offBaseOffset      = 0
	offLength          = 8
	offLeaderEpoch     = 12
	offMagic           = 16
	offCRC             = 17
	offAttributes      = 21
	offLastOffsetDelta = 23
	offBaseTimestamp   = 27
	offMaxTimestamp    = 35
	offProducerID      = 43
	offProducerEpoch   = 51
	offBaseSequence    = 53
	offNumRecords      = 57
)

// Attribute bits.
const (
	attrCodecMask     = 0x07
	attrLogAppendTime = 0x08
	attrTransactional = 0x10
	attrControl       = 0x20
)

// BatchHeader is the parsed header of a magic-2 record batch.
type BatchHeader struct {
	BaseOffset           int64
	Length               int32 // batchLength: bytes after the Length field
	PartitionLeaderEpoch int32
	Magic                int8
	CRC                  uint32
	Attributes           int16
	LastOffsetDelta      int32
	BaseTimestamp        int64
	MaxTimestamp         int64
	ProducerID           int64
	ProducerEpoch        int16
	BaseSequence         int32
	NumRecords           int32
}

// ParseBatchHeader parses the first BatchHeaderSize bytes of b. It returns
// ErrCorruptMessage on short input and ErrUnsupportedMagic (with BaseOffset,
// Length, PartitionLeaderEpoch and Magic filled) when magic != 2. It never
// panics and does not check the CRC.
func ParseBatchHeader(b []byte) (BatchHeader, error) {
	var h BatchHeader
	if len(b) < offMagic+1 {
		return h, fmt.Errorf("%w: short batch header (%d bytes)", ErrCorruptMessage, len(b))
	}
	h.BaseOffset = int64(binary.BigEndian.Uint64(b[offBaseOffset:]))
	h.Length = int32(binary.BigEndian.Uint32(b[offLength:]))
	h.PartitionLeaderEpoch = int32(binary.BigEndian.Uint32(b[offLeaderEpoch:]))
	h.Magic = int8(b[offMagic])
	if h.Magic != 2 {
		return h, fmt.Errorf("%w: magic %d", ErrUnsupportedMagic, h.Magic)
	}
	if len(b) < BatchHeaderSize {
		return h, fmt.Errorf("%w: short batch header (%d bytes)", ErrCorruptMessage, len(b))
	}
	h.CRC = binary.BigEndian.Uint32(b[offCRC:])
	h.Attributes = int16(binary.BigEndian.Uint16(b[offAttributes:]))
	h.LastOffsetDelta = int32(binary.BigEndian.Uint32(b[offLastOffsetDelta:]))
	h.BaseTimestamp = int64(binary.BigEndian.Uint64(b[offBaseTimestamp:]))
	h.MaxTimestamp = int64(binary.BigEndian.Uint64(b[offMaxTimestamp:]))
	h.ProducerID = int64(binary.BigEndian.Uint64(b[offProducerID:]))
	h.ProducerEpoch = int16(binary.BigEndian.Uint16(b[offProducerEpoch:]))
	h.BaseSequence = int32(binary.BigEndian.Uint32(b[offBaseSequence:]))
	h.NumRecords = int32(binary.BigEndian.Uint32(b[offNumRecords:]))
	return h, nil
}

// Codec returns the compression codec (attributes & 7): 0 none, 1 gzip,
// 2 snappy, 3 lz4, 4 zstd.
func (h BatchHeader) Codec() int8 { return int8(h.Attributes & attrCodecMask) }

// IsTransactional reports attribute bit 4.
func (h BatchHeader) IsTransactional() bool { return h.Attributes&attrTransactional != 0 }

// IsControl reports attribute bit 5.
func (h BatchHeader) IsControl() bool { return h.Attributes&attrControl != 0 }

// IsLogAppendTime reports attribute bit 3.
func (h BatchHeader) IsLogAppendTime() bool { return h.Attributes&attrLogAppendTime != 0 }

// Size is the total size of the batch on disk (12 + Length).
func (h BatchHeader) Size() int64 { return logOverhead + int64(h.Length) }

// LastOffset is BaseOffset + LastOffsetDelta.
func (h BatchHeader) LastOffset() int64 { return h.BaseOffset + int64(h.LastOffsetDelta) }

// LastSequence is the sequence of the batch's last record, with Kafka's
// int32 wraparound (the sequence after MaxInt32 is 0).
func (h BatchHeader) LastSequence() int32 { return addSeq(h.BaseSequence, h.LastOffsetDelta) }

func addSeq(seq, delta int32) int32 {
	if seq < 0 {
		return seq
	}
	if seq > math.MaxInt32-delta {
		return delta - (math.MaxInt32 - seq) - 1
	}
	return seq + delta
}

// hasLength checks the length field alone: the batch must hold a full header
// and, if avail >= 0, fit in avail bytes.
func checkLength(h BatchHeader, avail int64) error {
	if int64(h.Length) < BatchHeaderSize-logOverhead {
		return fmt.Errorf("%w: batch length %d smaller than header", ErrCorruptMessage, h.Length)
	}
	if avail >= 0 && h.Size() > avail {
		return fmt.Errorf("%w: batch length %d exceeds available %d bytes", ErrCorruptMessage, h.Length, avail)
	}
	return nil
}

// validateBatch validates one complete batch b (len(b) == h.Size()): magic,
// CRC-32C over attributes..end, record count.
func validateBatch(b []byte) (BatchHeader, error) {
	h, err := ParseBatchHeader(b)
	if err != nil {
		return h, err
	}
	if err := checkLength(h, int64(len(b))); err != nil {
		return h, err
	}
	b = b[:h.Size()]
	if crc := crc32c(b[offAttributes:]); crc != h.CRC {
		return h, fmt.Errorf("%w: crc mismatch (stored %08x, computed %08x)", ErrCorruptMessage, h.CRC, crc)
	}
	if err := checkCount(h); err != nil {
		return h, err
	}
	return h, nil
}

// checkStoredCount is checkCount for batches already in the log: the
// compactor keeps a batch's lastOffsetDelta while dropping records, and may
// keep an empty batch (Kafka retains the last batch of each producer).
func checkStoredCount(h BatchHeader) error {
	if h.NumRecords < 0 || h.LastOffsetDelta < 0 || int64(h.NumRecords) > int64(h.LastOffsetDelta)+1 {
		return fmt.Errorf("%w: record count %d does not fit lastOffsetDelta %d", ErrCorruptMessage, h.NumRecords, h.LastOffsetDelta)
	}
	return nil
}

// checkCount is Kafka's LogValidator check of a client's batch: an
// offset range or count that disagree is INVALID_RECORD (the CRC matched,
// so the batch is intact, just wrong).
func checkCount(h BatchHeader) error {
	if h.NumRecords <= 0 || h.LastOffsetDelta < 0 || int64(h.NumRecords) != int64(h.LastOffsetDelta)+1 {
		return fmt.Errorf("%w: record count %d does not match lastOffsetDelta %d", ErrInvalidRecord, h.NumRecords, h.LastOffsetDelta)
	}
	return nil
}

// stamp writes baseOffset and partitionLeaderEpoch into b (not covered by the CRC).
func stamp(b []byte, baseOffset int64, leaderEpoch int32) {
	binary.BigEndian.PutUint64(b[offBaseOffset:], uint64(baseOffset))
	binary.BigEndian.PutUint32(b[offLeaderEpoch:], uint32(leaderEpoch))
}

// stampLogAppendTime sets the timestamp-type bit, baseTimestamp and
// maxTimestamp to ts, and recomputes the CRC.
func stampLogAppendTime(b []byte, ts int64) {
	attrs := binary.BigEndian.Uint16(b[offAttributes:])
	binary.BigEndian.PutUint16(b[offAttributes:], attrs|attrLogAppendTime)
	binary.BigEndian.PutUint64(b[offBaseTimestamp:], uint64(ts))
	binary.BigEndian.PutUint64(b[offMaxTimestamp:], uint64(ts))
	binary.BigEndian.PutUint32(b[offCRC:], crc32c(b[offAttributes:]))
}

// recordTimestamps calls fn(offsetDelta, timestamp) for each record of an
// uncompressed batch b, stopping when fn returns false. It returns false if
// the records are malformed.
func recordTimestamps(b []byte, h BatchHeader, fn func(offsetDelta int32, ts int64) bool) bool {
	p := b[BatchHeaderSize:]
	for i := int32(0); i < h.NumRecords; i++ {
		l, n := binary.Varint(p)
		if n <= 0 || l < 0 || int64(len(p)-n) < l {
			return false
		}
		rec := p[n : n+int(l)]
		p = p[n+int(l):]
		if len(rec) < 1 {
			return false
		}
		rec = rec[1:] // attributes
		tsDelta, n := binary.Varint(rec)
		if n <= 0 {
			return false
		}
		rec = rec[n:]
		offDelta, n := binary.Varint(rec)
		if n <= 0 {
			return false
		}
		if !fn(int32(offDelta), h.BaseTimestamp+tsDelta) {
			return true
		}
	}
	return true
}
