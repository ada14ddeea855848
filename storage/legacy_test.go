package storage

import (
	"bytes"
	stdgzip "compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"testing"

	"github.com/klauspost/compress/s2"
	"github.com/pierrec/lz4/v4"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// msg is one message of a test message set.
type msg struct {
	off   int64
	ts    int64 // magic 1 only
	key   []byte
	value []byte
}

// kmsgEntry encodes one message set entry with kmsg's MessageV0/V1 (an
// encoder independent of legacy.go), then sets its size and CRC-32.
func kmsgEntry(magic, attrs int8, m msg) []byte {
	var b []byte
	if magic == 0 {
		v := kmsg.MessageV0{Offset: m.off, Magic: 0, Attributes: attrs, Key: m.key, Value: m.value}
		b = v.AppendTo(nil)
	} else {
		v := kmsg.MessageV1{Offset: m.off, Magic: 1, Attributes: attrs, Timestamp: m.ts, Key: m.key, Value: m.value}
		b = v.AppendTo(nil)
	}
	binary.BigEndian.PutUint32(b[8:], uint32(len(b)-12))
	binary.BigEndian.PutUint32(b[12:], crc32.ChecksumIEEE(b[16:]))
	return b
}

func kmsgSet(magic int8, ms []msg) []byte {
	var b []byte
	for _, m := range ms {
		b = append(b, kmsgEntry(magic, 0, m)...)
	}
	return b
}

// testCompress compresses a legacy inner set with codec as the clients of
// that era did: gzip (standard library), snappy raw or xerial-framed,
// lz4 frames (magic 0 with Kafka's wrong descriptor checksum).
func testCompress(t *testing.T, codec int8, magic int8, xerial bool, set []byte) []byte {
	t.Helper()
	switch codec {
	case 1:
		var buf bytes.Buffer
		zw := stdgzip.NewWriter(&buf)
		zw.Write(set)
		zw.Close()
		return buf.Bytes()
	case 2:
		if xerial {
			out, err := compress(2, set)
			if err != nil {
				t.Fatal(err)
			}
			return out
		}
		return s2.EncodeSnappy(nil, set)
	case 3:
		var buf bytes.Buffer
		zw := lz4.NewWriter(&buf)
		zw.Write(set)
		zw.Close()
		out := buf.Bytes()
		if magic == 0 {
			out[6] = byte(xxh32(out[:6]) >> 8) // FLG without content size: HC at 6
		}
		return out
	}
	t.Fatalf("codec %d", codec)
	return nil
}

// decodedRecord is a record read back from a v2 batch with kmsg.
type decodedRecord struct {
	delta int32
	ts    int64
	key   []byte
	value []byte
}

func decodeV2(t *testing.T, b []byte) (kmsg.RecordBatch, []decodedRecord) {
	t.Helper()
	var kb kmsg.RecordBatch
	if err := kb.ReadFrom(b); err != nil {
		t.Fatal(err)
	}
	if got := crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)); uint32(kb.CRC) != got {
		t.Fatalf("batch crc %08x, computed %08x", uint32(kb.CRC), got)
	}
	p, err := decompress(int8(kb.Attributes&7), kb.Records)
	if err != nil {
		t.Fatal(err)
	}
	var out []decodedRecord
	for i := int32(0); i < kb.NumRecords; i++ {
		var r kmsg.Record
		if err := r.ReadFrom(p); err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		p = p[int(r.Length)+varintLen(int64(r.Length)):]
		out = append(out, decodedRecord{r.OffsetDelta, kb.FirstTimestamp + r.TimestampDelta64, r.Key, r.Value})
	}
	return kb, out
}

// decodeLegacy reads a message set back with kmsg, unpacking wrappers,
// checking every CRC, and returns absolute offsets.
func decodeLegacy(t *testing.T, set []byte, magic int8) []msg {
	t.Helper()
	var out []msg
	for len(set) > 0 {
		size := int(binary.BigEndian.Uint32(set[8:]))
		entry := set[:12+size]
		set = set[12+size:]
		if got := crc32.ChecksumIEEE(entry[16:]); binary.BigEndian.Uint32(entry[12:]) != got {
			t.Fatalf("message crc mismatch")
		}
		if entry[16] != byte(magic) {
			t.Fatalf("magic %d, want %d", entry[16], magic)
		}
		var m msg
		var attrs int8
		if magic == 0 {
			var v kmsg.MessageV0
			if err := v.ReadFrom(entry); err != nil {
				t.Fatal(err)
			}
			m, attrs = msg{off: v.Offset, ts: -1, key: v.Key, value: v.Value}, v.Attributes
		} else {
			var v kmsg.MessageV1
			if err := v.ReadFrom(entry); err != nil {
				t.Fatal(err)
			}
			m, attrs = msg{off: v.Offset, ts: v.Timestamp, key: v.Key, value: v.Value}, v.Attributes
		}
		codec := attrs & 7
		if codec == 0 {
			out = append(out, m)
			continue
		}
		value := m.value
		if codec == 3 {
			if magic == 0 {
				if value[6] != byte(xxh32(value[:6])>>8) {
					t.Fatalf("magic 0 lz4 without Kafka's descriptor checksum")
				}
				fixed, err := lz4FixHeaderChecksum(value)
				if err != nil {
					t.Fatal(err)
				}
				value = fixed
			}
			if value[4]&0x04 != 0 {
				t.Fatalf("lz4 content checksum set: Kafka's old readers do not expect it")
			}
		}
		inner, err := decompress(codec, value)
		if err != nil {
			t.Fatal(err)
		}
		ms := decodeLegacy(t, inner, magic)
		if magic == 1 {
			last := ms[len(ms)-1].off
			for i := range ms {
				ms[i].off = m.off - last + ms[i].off
			}
		}
		out = append(out, ms...)
	}
	return out
}

func sameMsgs(t *testing.T, got, want []msg) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d messages, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.off != w.off || g.ts != w.ts || !bytes.Equal(g.key, w.key) || (g.key == nil) != (w.key == nil) ||
			!bytes.Equal(g.value, w.value) || (g.value == nil) != (w.value == nil) {
			t.Fatalf("message %d: %+v, want %+v", i, g, w)
		}
	}
}

func testMsgs(n int) []msg {
	ms := make([]msg, n)
	for i := range ms {
		ms[i] = msg{off: int64(i), ts: 1_700_000_000_000 + int64(i*7), key: fmt.Appendf(nil, "k%d", i), value: bytes.Repeat([]byte{byte('a' + i)}, 50+i)}
	}
	ms[1].key = nil   // null key
	ms[2].value = nil // tombstone
	ms[3].key = []byte{}
	return ms
}

// TestConvertLegacy: magic 0/1 sets, plain and in every wrapper codec,
// become one v2 batch with the same keys, values and timestamps (-1 for
// magic 0), offset deltas 0..n-1, no producer, the wrapper's codec.
func TestConvertLegacy(t *testing.T) {
	t.Parallel()
	for _, magic := range []int8{0, 1} {
		for _, tc := range []struct {
			name   string
			codec  int8
			xerial bool
		}{{"none", 0, false}, {"gzip", 1, false}, {"snappy", 2, false}, {"snappy-xerial", 2, true}, {"lz4", 3, false}} {
			t.Run(fmt.Sprintf("magic%d/%s", magic, tc.name), func(t *testing.T) {
				t.Parallel()
				ms := testMsgs(6)
				var set []byte
				if tc.codec == 0 {
					set = kmsgSet(magic, ms)
				} else {
					// Two wrappers; magic 1 inner offsets are relative.
					for _, part := range [][]msg{ms[:4], ms[4:]} {
						inner := append([]msg(nil), part...)
						for i := range inner {
							if magic == 1 {
								inner[i].off = int64(i)
							}
						}
						w := msg{off: part[len(part)-1].off, ts: part[len(part)-1].ts,
							value: testCompress(t, tc.codec, magic, tc.xerial, kmsgSet(magic, inner))}
						set = append(set, kmsgEntry(magic, tc.codec, w)...)
					}
				}
				orig := append([]byte(nil), set...)
				b, err := ConvertLegacy(set)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(orig, set) {
					t.Fatal("ConvertLegacy modified its input")
				}
				if _, err := validateBatch(b); err != nil {
					t.Fatal(err)
				}
				kb, recs := decodeV2(t, b)
				if kb.ProducerID != -1 || kb.ProducerEpoch != -1 || kb.FirstSequence != -1 || int8(kb.Attributes&7) != tc.codec {
					t.Fatalf("header %+v", kb)
				}
				if len(recs) != len(ms) {
					t.Fatalf("%d records, want %d", len(recs), len(ms))
				}
				wantMax := int64(-1)
				for i, r := range recs {
					ts := ms[i].ts
					if magic == 0 {
						ts = -1
					}
					wantMax = max(wantMax, ts)
					if r.delta != int32(i) || r.ts != ts || !bytes.Equal(r.key, ms[i].key) || (r.key == nil) != (ms[i].key == nil) ||
						!bytes.Equal(r.value, ms[i].value) || (r.value == nil) != (ms[i].value == nil) {
						t.Fatalf("record %d: %+v, want %+v", i, r, ms[i])
					}
				}
				if kb.MaxTimestamp != wantMax {
					t.Fatalf("max timestamp %d, want %d", kb.MaxTimestamp, wantMax)
				}
			})
		}
	}
}

// TestConvertLegacyLogAppendTimeWrapper: a magic-1 wrapper with the
// LogAppendTime bit gives its timestamp to every inner message.
func TestConvertLegacyLogAppendTimeWrapper(t *testing.T) {
	t.Parallel()
	ms := testMsgs(4)
	w := msg{off: 2, ts: 42, value: testCompress(t, 1, 1, false, kmsgSet(1, ms))}
	b, err := ConvertLegacy(kmsgEntry(1, 1|0x08, w))
	if err != nil {
		t.Fatal(err)
	}
	_, recs := decodeV2(t, b)
	for i, r := range recs {
		if r.ts != 42 {
			t.Fatalf("record %d timestamp %d, want 42", i, r.ts)
		}
	}
}

// TestConvertLegacyCorrupt: every malformed set is ErrCorruptMessage.
func TestConvertLegacyCorrupt(t *testing.T) {
	t.Parallel()
	good := kmsgSet(1, testMsgs(4))
	flip := func(b []byte, at int) []byte { b = append([]byte(nil), b...); b[at] ^= 0x40; return b }
	inner := kmsgSet(1, testMsgs(4))
	nested := kmsgEntry(1, 1, msg{off: 1, value: testCompress(t, 1, 1, false, kmsgEntry(1, 1, msg{value: testCompress(t, 1, 1, false, inner)}))})
	badInnerCRC := kmsgEntry(1, 1, msg{off: 1, value: testCompress(t, 1, 1, false, flip(inner, len(inner)-1))})
	mixed := kmsgEntry(1, 1, msg{off: 1, value: testCompress(t, 1, 1, false, kmsgSet(0, testMsgs(4)))})
	for name, b := range map[string][]byte{
		"empty":            {},
		"crc":              flip(good, len(good)-1),
		"crc of timestamp": flip(good, 20), // a timestamp byte of the first message
		"truncated":        good[:len(good)-3],
		"short entry":      good[:10],
		"magic 2":          func() []byte { b := flip(good, 16); b[16] = 2; return b }(),
		"zstd wrapper":     kmsgEntry(1, 4, msg{value: []byte("x")}),
		"null wrapper":     kmsgEntry(1, 1, msg{}),
		"bad gzip":         kmsgEntry(1, 1, msg{value: []byte("not gzip")}),
		"nested wrapper":   nested,
		"inner crc":        badInnerCRC,
		"inner magic":      mixed,
		"empty wrapper":    kmsgEntry(1, 1, msg{value: testCompress(t, 1, 1, false, nil)}),
		"key past end": func() []byte {
			b := kmsgEntry(0, 0, msg{key: []byte("k")})
			binary.BigEndian.PutUint32(b[18:], 99)
			return restampCRC(b)
		}(),
		"trailing garbage": func() []byte {
			b := kmsgEntry(0, 0, msg{key: []byte("k"), value: []byte("v")})
			b = append(b, 1, 2)
			binary.BigEndian.PutUint32(b[8:], uint32(len(b)-12))
			return restampCRC(b)
		}(),
	} {
		if _, err := ConvertLegacy(b); !errors.Is(err, ErrCorruptMessage) {
			t.Errorf("%s: %v, want ErrCorruptMessage", name, err)
		}
	}
}

func restampCRC(b []byte) []byte {
	binary.BigEndian.PutUint32(b[12:], crc32.ChecksumIEEE(b[16:]))
	return b
}

// TestDownConvert: v2 batches (each codec, LogAppendTime, a compacted gap,
// a fetch offset inside the batch) read back as magic 0/1 message sets
// with the records' offsets, keys, values and timestamps.
func TestDownConvert(t *testing.T) {
	t.Parallel()
	for _, magic := range []int8{0, 1} {
		for _, codec := range []int8{0, 1, 2, 3, 4} {
			for _, lat := range []bool{false, true} {
				t.Run(fmt.Sprintf("magic%d/codec%d/lat=%v", magic, codec, lat), func(t *testing.T) {
					t.Parallel()
					ms := testMsgs(5)
					var body []byte
					for i, m := range ms {
						delta := int32(i)
						if i == 4 {
							delta = 6 // a gap left by compaction
						}
						body = AppendRecord(body, delta, Record{TimestampDelta: m.ts - ms[0].ts, Key: m.key, Value: m.value,
							Headers: []RecordHeader{{Key: "h", Value: []byte("dropped")}}})
					}
					comp, err := compress(codec, body)
					if err != nil {
						t.Fatal(err)
					}
					h := BatchHeader{BaseOffset: 100, PartitionLeaderEpoch: 3, Attributes: int16(codec), LastOffsetDelta: 6,
						BaseTimestamp: ms[0].ts, MaxTimestamp: ms[4].ts, ProducerID: 7, ProducerEpoch: 0, BaseSequence: 0}
					if lat {
						h.Attributes |= attrLogAppendTime
						h.MaxTimestamp = 999
					}
					b := EncodeBatch(h, 5, comp)
					got, err := DownConvert([]byte("prefix"), b, magic, 101)
					if err != nil {
						t.Fatal(err)
					}
					if string(got[:6]) != "prefix" {
						t.Fatal("dst not appended to")
					}
					var want []msg
					for i, m := range ms[1:] {
						m.off = 101 + int64(i)
						if i == 3 {
							m.off = 106
						}
						switch {
						case magic == 0:
							m.ts = -1
						case lat:
							m.ts = 999
						}
						want = append(want, m)
					}
					sameMsgs(t, decodeLegacy(t, got[6:], magic), want)
					entries := legacyEntries(got[6:])
					if codec == 1 || codec == 2 || codec == 3 {
						if entries != 1 {
							t.Fatalf("%d entries, want one wrapper", entries)
						}
					} else if entries != 4 {
						t.Fatalf("%d entries, want 4 plain messages", entries)
					}
				})
			}
		}
	}
}

func legacyEntries(set []byte) int {
	n := 0
	for len(set) >= 12 {
		set = set[12+int(binary.BigEndian.Uint32(set[8:])):]
		n++
	}
	return n
}

// TestDownConvertSkips: control batches, empty batches and batches wholly
// below the fetch offset add nothing; a corrupt batch is ErrCorruptMessage.
func TestDownConvertSkips(t *testing.T) {
	t.Parallel()
	ctrl := BuildBatch(BatchHeader{BaseOffset: 5, Attributes: attrControl | attrTransactional, ProducerID: 1}, []Record{{Key: []byte{0, 0, 0, 1}, Value: []byte{0, 0, 0, 0, 0, 0}}})
	old := BuildBatch(BatchHeader{BaseOffset: 0}, []Record{{Value: []byte("a")}, {Value: []byte("b")}})
	for name, b := range map[string][]byte{"control": ctrl, "below the fetch offset": old} {
		got, err := DownConvert(nil, b, 1, 5)
		if err != nil || len(got) != 0 {
			t.Errorf("%s: %d bytes, %v", name, len(got), err)
		}
	}
	bad := append([]byte(nil), old...)
	bad[len(bad)-1] ^= 1
	bad[offAttributes+1] = 1 // gzip over plain records
	if _, err := DownConvert(nil, bad, 1, 0); !errors.Is(err, ErrCorruptMessage) {
		t.Fatalf("corrupt batch: %v", err)
	}
	if _, err := DownConvert(nil, old[:40], 1, 0); !errors.Is(err, ErrCorruptMessage) {
		t.Fatalf("short batch: %v", err)
	}
}

// TestLegacyRoundTrip: magic 0/1 → v2 → magic 0/1 gives the messages back
// (offsets assigned from the batch's base offset).
func TestLegacyRoundTrip(t *testing.T) {
	t.Parallel()
	for _, magic := range []int8{0, 1} {
		for _, codec := range []int8{0, 1, 2, 3} {
			ms := testMsgs(4)
			set := kmsgSet(magic, ms)
			if codec != 0 {
				w := msg{off: 3, ts: ms[3].ts, value: testCompress(t, codec, magic, true, kmsgSet(magic, ms))}
				set = kmsgEntry(magic, codec, w)
			}
			b, err := ConvertLegacy(set)
			if err != nil {
				t.Fatal(err)
			}
			stamp(b, 50, 0)
			got, err := DownConvert(nil, b, magic, 0)
			if err != nil {
				t.Fatal(err)
			}
			for i := range ms {
				ms[i].off += 50
				if magic == 0 {
					ms[i].ts = -1
				}
			}
			sameMsgs(t, decodeLegacy(t, got, magic), ms)
		}
	}
}

// TestXXH32: known XXH32 (seed 0) values, and the descriptor checksum
// pierrec/lz4 writes.
func TestXXH32(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]uint32{
		"":    0x02cc5d05,
		"abc": 0x32d153ff,
		"Nobody inspects the spammish repetition": 0xe2293b2f,
	} {
		if got := xxh32([]byte(in)); got != want {
			t.Errorf("xxh32(%q) = %08x, want %08x", in, got, want)
		}
	}
	var buf bytes.Buffer
	zw := lz4.NewWriter(&buf)
	zw.Write([]byte("hello"))
	zw.Close()
	f := buf.Bytes()
	end, err := lz4DescriptorEnd(f)
	if err != nil {
		t.Fatal(err)
	}
	if f[end] != byte(xxh32(f[4:end])>>8) {
		t.Fatalf("descriptor checksum %02x, computed %02x", f[end], byte(xxh32(f[4:end])>>8))
	}
}

func FuzzLegacyMessageSet(f *testing.F) {
	ms := []msg{{off: 0, ts: 5, key: []byte("k"), value: []byte("v")}, {off: 1, ts: 6, value: []byte("w")}}
	f.Add(kmsgSet(0, ms))
	f.Add(kmsgSet(1, ms))
	var gz bytes.Buffer
	zw := stdgzip.NewWriter(&gz)
	zw.Write(kmsgSet(1, ms))
	zw.Close()
	f.Add(kmsgEntry(1, 1, msg{off: 1, value: gz.Bytes()}))
	f.Add(kmsgEntry(0, 2, msg{off: 1, value: s2.EncodeSnappy(nil, kmsgSet(0, ms))}))
	f.Add(kmsgSet(1, ms)[:20])
	f.Fuzz(func(t *testing.T, b []byte) {
		batch, err := ConvertLegacy(b)
		if err != nil {
			if !errors.Is(err, ErrCorruptMessage) {
				t.Fatalf("error %v is not ErrCorruptMessage", err)
			}
			return
		}
		h, err := validateBatch(batch)
		if err != nil {
			t.Fatalf("converted batch invalid: %v", err)
		}
		for _, magic := range []int8{0, 1} {
			set, err := DownConvert(nil, batch, magic, 0)
			if err != nil {
				t.Fatal(err)
			}
			back, err := ConvertLegacy(set)
			if err != nil {
				t.Fatalf("down-converted set does not convert back: %v", err)
			}
			bh, _ := ParseBatchHeader(back)
			if bh.NumRecords != h.NumRecords {
				t.Fatalf("%d records after the round trip, want %d", bh.NumRecords, h.NumRecords)
			}
		}
	})
}
