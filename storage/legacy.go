package storage

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math/bits"

	"github.com/pierrec/lz4/v4"
)

// Message sets of magic 0 and 1, the formats before record batches (Kafka
// 0.8-0.10, clients from before Kafka 0.11). The log stores only magic-2
// batches: ConvertLegacy turns a produced message set into one batch, and
// DownConvert turns a stored batch back into a message set for an old
// fetch.
//
// A message set is a sequence of entries: offset int64, message_size int32,
// then the message: crc uint32 (CRC-32 IEEE over magic..end), magic int8,
// attributes int8 (bits 0-2 codec: 0 none, 1 gzip, 2 snappy, 3 lz4; bit 3,
// magic 1 only, timestamp type 1 = LogAppendTime), timestamp int64 (magic 1
// only), key and value as int32-length bytes (-1 is null). A compressed
// message is a wrapper whose value is the compressed message set of its
// inner messages. Magic 1 inner messages carry offsets relative to the
// first inner one, and the wrapper carries the absolute offset of the last;
// magic 0 inner messages carry absolute offsets. Magic 0 LZ4 wrappers use
// the LZ4 frame with Kafka's early, wrong frame-descriptor checksum
// (computed over the magic number too): it is ignored on read and written
// on DownConvert, as Kafka's KafkaLZ4Block streams do.

// legacyMinSize is the smallest message (crc..value) of each magic.
var legacyMinSize = [2]int32{14, 22}

// LegacyMagic returns the magic byte of records' first entry: it sits at
// the same position (16) in a message set entry and in a record batch.
// It returns -1 when records is too short to say.
func LegacyMagic(records []byte) int8 {
	if len(records) <= offMagic {
		return -1
	}
	return int8(records[offMagic])
}

// legacyMessage is one parsed magic 0/1 message.
type legacyMessage struct {
	offset    int64
	magic     int8
	attrs     int8
	timestamp int64 // -1 for magic 0
	key       []byte
	value     []byte
}

func (m *legacyMessage) codec() int8 { return m.attrs & 0x07 }

// parseLegacy parses one entry from the front of b and returns it and the
// rest. The CRC is checked.
func parseLegacy(b []byte) (legacyMessage, []byte, error) {
	var m legacyMessage
	bad := func(format string, a ...any) (legacyMessage, []byte, error) {
		return m, nil, fmt.Errorf("%w: message set: "+format, append([]any{ErrCorruptMessage}, a...)...)
	}
	if len(b) < logOverhead {
		return bad("truncated entry (%d bytes)", len(b))
	}
	m.offset = int64(binary.BigEndian.Uint64(b))
	size := int32(binary.BigEndian.Uint32(b[8:]))
	if size < legacyMinSize[0] || int64(size) > int64(len(b)-logOverhead) {
		return bad("message size %d with %d bytes left", size, len(b)-logOverhead)
	}
	msg := b[logOverhead : logOverhead+int(size)]
	rest := b[logOverhead+int(size):]
	m.magic = int8(msg[4])
	if m.magic != 0 && m.magic != 1 {
		return bad("magic %d in a message set", m.magic)
	}
	if size < legacyMinSize[m.magic] {
		return bad("message size %d too small for magic %d", size, m.magic)
	}
	if stored, crc := binary.BigEndian.Uint32(msg), crc32.ChecksumIEEE(msg[4:]); stored != crc {
		return bad("crc mismatch (stored %08x, computed %08x)", stored, crc)
	}
	m.attrs = int8(msg[5])
	p := msg[6:]
	m.timestamp = -1
	if m.magic == 1 {
		m.timestamp = int64(binary.BigEndian.Uint64(p))
		p = p[8:]
	}
	var ok bool
	if m.key, p, ok = legacyBytes(p); !ok {
		return bad("key length")
	}
	if m.value, p, ok = legacyBytes(p); !ok || len(p) != 0 {
		return bad("value length")
	}
	return m, rest, nil
}

// legacyBytes reads int32-length bytes (-1 is nil).
func legacyBytes(p []byte) ([]byte, []byte, bool) {
	if len(p) < 4 {
		return nil, nil, false
	}
	n := int32(binary.BigEndian.Uint32(p))
	p = p[4:]
	switch {
	case n == -1:
		return nil, p, true
	case n < 0 || int64(n) > int64(len(p)):
		return nil, nil, false
	}
	return p[:n:n], p[n:], true
}

// legacyInner decompresses wrapper w and parses its inner messages.
func legacyInner(w *legacyMessage) ([]legacyMessage, error) {
	if w.value == nil {
		return nil, fmt.Errorf("%w: compressed message without a value", ErrCorruptMessage)
	}
	src := w.value
	var set []byte
	var err error
	switch w.codec() {
	case 1, 2:
		set, err = decompress(w.codec(), src)
	case 3:
		if w.magic == 0 {
			// Kafka's magic-0 LZ4 frames carry a wrong descriptor
			// checksum: read them with the right one.
			src, err = lz4FixHeaderChecksum(src)
			if err != nil {
				return nil, err
			}
		}
		set, err = decompress(3, src)
	default:
		return nil, fmt.Errorf("%w: codec %d in a magic %d message", ErrCorruptMessage, w.codec(), w.magic)
	}
	if err != nil {
		return nil, err
	}
	var inner []legacyMessage
	for len(set) > 0 {
		m, rest, err := parseLegacy(set)
		if err != nil {
			return nil, err
		}
		if m.codec() != 0 {
			return nil, fmt.Errorf("%w: compressed message inside a compressed message", ErrCorruptMessage)
		}
		if m.magic != w.magic {
			return nil, fmt.Errorf("%w: inner message of magic %d in a magic %d wrapper", ErrCorruptMessage, m.magic, w.magic)
		}
		if w.magic == 1 && w.attrs&0x08 != 0 {
			m.timestamp = w.timestamp // LogAppendTime wrapper: its time for every inner message
		}
		inner = append(inner, m)
		set = rest
	}
	return inner, nil
}

// ConvertLegacy converts the magic 0/1 message set set into one magic-2
// batch holding every message, in order, with offset deltas 0..n-1 (the
// log assigns the offsets), the keys and values as sent, and each
// message's timestamp: a magic-1 message's own (a LogAppendTime wrapper's
// for its inner messages), -1 (no timestamp) for magic 0, as Kafka's
// LogValidator keeps them. Compressed wrappers are unpacked; the batch is
// compressed with the codec of the first compressed wrapper, as Kafka does
// for compression.type=producer. The producer id, epoch and sequence are
// -1. Every CRC is checked: a mismatch, truncation, a nested wrapper, a
// codec magic 0/1 cannot carry or an empty set is ErrCorruptMessage. set
// is not modified.
func ConvertLegacy(set []byte) ([]byte, error) {
	var recs []Record
	var stamps []int64
	codec := int8(0)
	add := func(m *legacyMessage) {
		recs = append(recs, Record{Key: m.key, Value: m.value})
		stamps = append(stamps, m.timestamp)
	}
	for p := set; len(p) > 0; {
		m, rest, err := parseLegacy(p)
		if err != nil {
			return nil, err
		}
		p = rest
		if m.codec() == 0 {
			add(&m)
			continue
		}
		inner, err := legacyInner(&m)
		if err != nil {
			return nil, err
		}
		if codec == 0 {
			codec = m.codec()
		}
		for i := range inner {
			add(&inner[i])
		}
	}
	if len(recs) == 0 {
		return nil, fmt.Errorf("%w: empty message set", ErrCorruptMessage)
	}
	h := BatchHeader{PartitionLeaderEpoch: -1, Attributes: int16(codec), BaseTimestamp: stamps[0],
		MaxTimestamp: stamps[0], ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1,
		LastOffsetDelta: int32(len(recs) - 1)}
	var body []byte
	for i := range recs {
		h.MaxTimestamp = max(h.MaxTimestamp, stamps[i])
		recs[i].TimestampDelta = stamps[i] - h.BaseTimestamp
		body = AppendRecord(body, int32(i), recs[i])
	}
	body, err := compress(codec, body)
	if err != nil {
		return nil, err
	}
	return EncodeBatch(h, int32(len(recs)), body), nil
}

// DownConvert appends to dst the magic 0 or 1 message set form of the
// magic-2 batch b, leaving out records below minOffset. Control batches and
// empty batches add nothing. Records keep their offsets, keys and values
// (headers are dropped, as Kafka does); magic 1 messages carry the record's
// timestamp (the batch's max timestamp and the LogAppendTime bit for a
// LogAppendTime batch). A gzip, snappy or lz4 batch becomes one wrapper
// message of that codec; zstd, which magic 0/1 cannot carry, becomes
// uncompressed messages. A malformed batch is ErrCorruptMessage.
func DownConvert(dst, b []byte, magic int8, minOffset int64) ([]byte, error) {
	if magic != 0 && magic != 1 {
		return nil, fmt.Errorf("%w: down-conversion to magic %d", ErrUnsupportedMagic, magic)
	}
	h, err := ParseBatchHeader(b)
	if err != nil {
		return nil, err
	}
	if err := checkLength(h, int64(len(b))); err != nil {
		return nil, err
	}
	if h.IsControl() || h.NumRecords == 0 || h.LastOffset() < minOffset {
		return dst, nil
	}
	recs, err := batchRecords(b, h)
	if err != nil {
		return nil, err
	}
	attrs := int8(0)
	if magic == 1 && h.IsLogAppendTime() {
		attrs = 0x08
	}
	codec := h.Codec()
	if codec == 4 {
		codec = 0
	}
	var inner []byte
	first, last := int64(-1), int64(-1)
	err = forEachRecord(recs, h.NumRecords, func(r *recordView) bool {
		off := h.BaseOffset + int64(r.offDelta)
		if off < minOffset {
			return true
		}
		ts := h.BaseTimestamp + r.tsDelta
		if h.IsLogAppendTime() {
			ts = h.MaxTimestamp
		}
		var key, value []byte
		if !r.keyNull {
			key = r.key
		}
		value = recordValue(r)
		if codec == 0 {
			dst = appendLegacy(dst, off, magic, attrs, ts, key, value)
			return true
		}
		if first < 0 {
			first = off
		}
		last = off
		innerOff := off
		if magic == 1 {
			innerOff = off - first
		}
		inner = appendLegacy(inner, innerOff, magic, attrs, ts, key, value)
		return true
	})
	if err != nil {
		return nil, err
	}
	if codec == 0 || first < 0 {
		return dst, nil
	}
	wrapped, err := compressLegacy(codec, magic, inner)
	if err != nil {
		return nil, err
	}
	ts := h.MaxTimestamp
	return appendLegacy(dst, last, magic, attrs|codec, ts, nil, wrapped), nil
}

// recordValue returns the value of a parsed record (nil when null).
func recordValue(r *recordView) []byte {
	if r.valueNull {
		return nil
	}
	p := r.rest
	kl, k := binary.Varint(p)
	p = p[k:]
	if kl > 0 {
		p = p[kl:]
	}
	vl, k := binary.Varint(p)
	return p[k : k+int(vl)]
}

// appendLegacy appends one message set entry.
func appendLegacy(dst []byte, offset int64, magic, attrs int8, ts int64, key, value []byte) []byte {
	size := legacyMinSize[magic] + int32(len(key)) + int32(len(value))
	dst = binary.BigEndian.AppendUint64(dst, uint64(offset))
	dst = binary.BigEndian.AppendUint32(dst, uint32(size))
	crcAt := len(dst)
	dst = append(dst, 0, 0, 0, 0, byte(magic), byte(attrs))
	if magic == 1 {
		dst = binary.BigEndian.AppendUint64(dst, uint64(ts))
	}
	dst = appendLegacyBytes(dst, key)
	dst = appendLegacyBytes(dst, value)
	binary.BigEndian.PutUint32(dst[crcAt:], crc32.ChecksumIEEE(dst[crcAt+4:]))
	return dst
}

func appendLegacyBytes(dst, b []byte) []byte {
	if b == nil {
		return binary.BigEndian.AppendUint32(dst, 0xffffffff)
	}
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(b)))
	return append(dst, b...)
}

// compressLegacy compresses a wrapper's inner message set. LZ4 is written
// as Kafka's KafkaLZ4BlockOutputStream writes it (64 KiB independent
// blocks, no content checksum) with, for magic 0, its wrong descriptor
// checksum, which the clients of that era expect.
func compressLegacy(codec, magic int8, set []byte) ([]byte, error) {
	if codec != 3 {
		return compress(codec, set)
	}
	var buf bytes.Buffer
	zw := lz4.NewWriter(&buf)
	if err := zw.Apply(lz4.BlockSizeOption(lz4.Block64Kb), lz4.ChecksumOption(false)); err != nil {
		return nil, err
	}
	if _, err := zw.Write(set); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	out := buf.Bytes()
	if magic == 0 {
		end, err := lz4DescriptorEnd(out)
		if err != nil {
			return nil, err
		}
		out[end] = byte(xxh32(out[:end]) >> 8)
	}
	return out, nil
}

// lz4DescriptorEnd returns the position of the header checksum byte of the
// LZ4 frame f (after magic, FLG, BD and the optional content size and
// dictionary id).
func lz4DescriptorEnd(f []byte) (int, error) {
	if len(f) < 7 || binary.LittleEndian.Uint32(f) != 0x184D2204 {
		return 0, fmt.Errorf("%w: not an lz4 frame", ErrCorruptMessage)
	}
	end := 6
	if f[4]&0x08 != 0 {
		end += 8
	}
	if f[4]&0x01 != 0 {
		end += 4
	}
	if len(f) <= end {
		return 0, fmt.Errorf("%w: truncated lz4 frame header", ErrCorruptMessage)
	}
	return end, nil
}

// lz4FixHeaderChecksum returns f with its descriptor checksum recomputed
// (the frame's blocks are shared with f, the header is copied).
func lz4FixHeaderChecksum(f []byte) ([]byte, error) {
	end, err := lz4DescriptorEnd(f)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(f))
	out = append(out, f...)
	out[end] = byte(xxh32(out[4:end]) >> 8)
	return out, nil
}

// xxh32 is XXH32 with seed 0, the hash of the LZ4 frame descriptor checksum.
func xxh32(p []byte) uint32 {
	const (
		p1 uint32 = 2654435761
		p2 uint32 = 2246822519
		p3 uint32 = 3266489917
		p4 uint32 = 668265263
		p5 uint32 = 374761393
	)
	n := uint32(len(p))
	var h uint32
	if len(p) >= 16 {
		v1, v2, v3, v4 := p1, p2, uint32(0), uint32(0)
		v1 += p2
		v4 -= p1
		round := func(v, in uint32) uint32 { return bits.RotateLeft32(v+in*p2, 13) * p1 }
		for ; len(p) >= 16; p = p[16:] {
			v1 = round(v1, binary.LittleEndian.Uint32(p))
			v2 = round(v2, binary.LittleEndian.Uint32(p[4:]))
			v3 = round(v3, binary.LittleEndian.Uint32(p[8:]))
			v4 = round(v4, binary.LittleEndian.Uint32(p[12:]))
		}
		h = bits.RotateLeft32(v1, 1) + bits.RotateLeft32(v2, 7) + bits.RotateLeft32(v3, 12) + bits.RotateLeft32(v4, 18)
	} else {
		h = p5
	}
	h += n
	for ; len(p) >= 4; p = p[4:] {
		h = bits.RotateLeft32(h+binary.LittleEndian.Uint32(p)*p3, 17) * p4
	}
	for _, c := range p {
		h = bits.RotateLeft32(h+uint32(c)*p5, 11) * p1
	}
	h ^= h >> 15
	h *= p2
	h ^= h >> 13
	h *= p3
	h ^= h >> 16
	return h
}
