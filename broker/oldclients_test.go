package broker

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// legacyEntry encodes one magic 0/1 message set entry with kmsg, setting
// its size and CRC-32.
func legacyEntry(magic, attrs int8, off, ts int64, key, value []byte) []byte {
	var b []byte
	if magic == 0 {
		b = (&kmsg.MessageV0{Offset: off, Attributes: attrs, Key: key, Value: value}).AppendTo(nil)
	} else {
		b = (&kmsg.MessageV1{Offset: off, Magic: 1, Attributes: attrs, Timestamp: ts, Key: key, Value: value}).AppendTo(nil)
	}
	binary.BigEndian.PutUint32(b[8:], uint32(len(b)-12))
	binary.BigEndian.PutUint32(b[12:], crc32.ChecksumIEEE(b[16:]))
	return b
}

type oldMsg struct {
	key, value []byte
	ts         int64
}

func oldMsgs(prefix string, n int) []oldMsg {
	ms := make([]oldMsg, n)
	for i := range ms {
		ms[i] = oldMsg{fmt.Appendf(nil, "%s-k%d", prefix, i), fmt.Appendf(nil, "%s-v%d", prefix, i), 1_700_000_000_000 + int64(i)}
	}
	return ms
}

// TestProduceLegacyMessageSets: Produce v0-v2 with magic 0/1 message sets,
// plain and gzip-wrapped, sent raw, read back by a modern kgo consumer with
// the same keys, values and timestamps (magic 0 has none: -1).
func TestProduceLegacyMessageSets(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	rc := b.raw(t)
	for _, tc := range []struct {
		version int16
		magic   int8
		gzip    bool
	}{{0, 0, false}, {1, 0, true}, {2, 1, false}, {2, 1, true}, {2, 0, false}} {
		t.Run(fmt.Sprintf("v%d/magic%d/gzip=%v", tc.version, tc.magic, tc.gzip), func(t *testing.T) {
			topic := fmt.Sprintf("legacy-%d-%d-%v", tc.version, tc.magic, tc.gzip)
			if _, err := b.admin().CreateTopic(context.Background(), 1, 1, nil, topic); err != nil {
				t.Fatal(err)
			}
			ms := oldMsgs(topic, 4)
			var set []byte
			for i, m := range ms {
				set = append(set, legacyEntry(tc.magic, 0, int64(i), m.ts, m.key, m.value)...)
			}
			if tc.gzip {
				var buf bytes.Buffer
				zw := gzip.NewWriter(&buf)
				zw.Write(set)
				zw.Close()
				set = legacyEntry(tc.magic, 1, 3, ms[3].ts, nil, buf.Bytes())
			}
			req := produceReq(topic, 0, 1, set)
			req.Version = tc.version
			resp := rc.do(req).(*kmsg.ProduceResponse)
			if sp := resp.Topics[0].Partitions[0]; sp.ErrorCode != 0 || sp.BaseOffset != 0 {
				t.Fatalf("produce: error %v, base offset %d", kerr.ErrorForCode(sp.ErrorCode), sp.BaseOffset)
			}
			cl := b.client(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			var got []*kgo.Record
			for len(got) < len(ms) && ctx.Err() == nil {
				got = append(got, cl.PollFetches(ctx).Records()...)
			}
			if len(got) != len(ms) {
				t.Fatalf("%d records, want %d", len(got), len(ms))
			}
			for i, r := range got {
				ts := ms[i].ts
				if tc.magic == 0 {
					ts = -1
				}
				if r.Offset != int64(i) || !bytes.Equal(r.Key, ms[i].key) || !bytes.Equal(r.Value, ms[i].value) || r.Timestamp.UnixMilli() != ts {
					t.Fatalf("record %d: offset %d key %q value %q ts %d, want %q %q %d", i, r.Offset, r.Key, r.Value, r.Timestamp.UnixMilli(), ms[i].key, ms[i].value, ts)
				}
			}
		})
	}
	// A bad CRC is CORRUPT_MESSAGE; a message set in Produce v3+ is refused.
	set := legacyEntry(1, 0, 0, 5, nil, []byte("v"))
	bad := append([]byte(nil), set...)
	bad[len(bad)-1] ^= 1
	if _, err := b.admin().CreateTopic(context.Background(), 1, 1, nil, "legacy-bad"); err != nil {
		t.Fatal(err)
	}
	req := produceReq("legacy-bad", 0, 1, bad)
	req.Version = 2
	if code := rc.do(req).(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode; code != kerr.CorruptMessage.Code {
		t.Fatalf("bad crc: %v", kerr.ErrorForCode(code))
	}
	req = produceReq("legacy-bad", 0, 1, set)
	req.Version = 3
	if code := rc.do(req).(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode; code == 0 {
		t.Fatal("magic 1 accepted in Produce v3")
	}
}

// TestFetchDownConversion: kgo-produced (idempotent, compressed or not)
// batches read with raw Fetch v0-v3 as message sets of magic 0 (v0-v1) or
// 1 (v2-v3), with their offsets, keys, values and (magic 1) timestamps;
// kgo pinned to Kafka 0.10.2 consumes them; a topic with
// message.downconversion.enable=false answers UNSUPPORTED_VERSION.
func TestFetchDownConversion(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for ci, codec := range []kgo.CompressionCodec{kgo.NoCompression(), kgo.SnappyCompression(), kgo.Lz4Compression()} {
		topic := fmt.Sprintf("down-%d", ci)
		if _, err := b.admin().CreateTopic(ctx, 1, 1, nil, topic); err != nil {
			t.Fatal(err)
		}
		p := b.client(kgo.ProducerBatchCompression(codec), kgo.DefaultProduceTopic(topic))
		var want []*kgo.Record
		for i := range 5 {
			r := &kgo.Record{Key: fmt.Appendf(nil, "k%d", i), Value: bytes.Repeat([]byte{byte('a' + i)}, 100), Timestamp: time.UnixMilli(1_700_000_000_000 + int64(i))}
			want = append(want, r)
			if err := p.ProduceSync(ctx, r).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		rc := b.raw(t)
		for v := int16(0); v <= 3; v++ {
			req := kmsg.NewPtrFetchRequest()
			req.Version, req.ReplicaID, req.MaxWaitMillis, req.MaxBytes = v, -1, 100, 1<<20
			rt := kmsg.NewFetchRequestTopic()
			rt.Topic = topic
			rp := kmsg.NewFetchRequestTopicPartition()
			rp.FetchOffset, rp.PartitionMaxBytes = 1, 1<<20
			rt.Partitions = append(rt.Partitions, rp)
			req.Topics = append(req.Topics, rt)
			sp := rc.do(req).(*kmsg.FetchResponse).Topics[0].Partitions[0]
			if sp.ErrorCode != 0 || sp.HighWatermark != 5 {
				t.Fatalf("%v fetch v%d: %v, hw %d", codec, v, kerr.ErrorForCode(sp.ErrorCode), sp.HighWatermark)
			}
			magic := int8(0)
			if v >= 2 {
				magic = 1
			}
			var got []oldMsg
			var offs []int64
			for set := sp.RecordBatches; len(set) > 0; {
				size := int(binary.BigEndian.Uint32(set[8:]))
				entry := set[:12+size]
				set = set[12+size:]
				if int8(entry[16]) != magic || binary.BigEndian.Uint32(entry[12:]) != crc32.ChecksumIEEE(entry[16:]) {
					t.Fatalf("%v fetch v%d: magic %d or crc wrong", codec, v, entry[16])
				}
				var m kmsg.MessageV1
				if magic == 0 {
					var m0 kmsg.MessageV0
					if err := m0.ReadFrom(entry); err != nil {
						t.Fatal(err)
					}
					m = kmsg.MessageV1{Offset: m0.Offset, Attributes: m0.Attributes, Timestamp: -1, Key: m0.Key, Value: m0.Value}
				} else if err := m.ReadFrom(entry); err != nil {
					t.Fatal(err)
				}
				if m.Attributes&7 != int8(ci) { // none, snappy 2, lz4 3
					if ci == 0 || m.Attributes&7 != int8(ci)+1 {
						t.Fatalf("%v fetch v%d: wrapper codec %d", codec, v, m.Attributes&7)
					}
				}
				if ci != 0 {
					offs = append(offs, m.Offset) // one wrapper per batch, at its last offset
					continue
				}
				got = append(got, oldMsg{m.Key, m.Value, m.Timestamp})
				offs = append(offs, m.Offset)
			}
			if ci != 0 {
				if len(offs) != 4 || offs[0] != 1 || offs[3] != 4 {
					t.Fatalf("%v fetch v%d: wrappers at %v, want 1-4", codec, v, offs)
				}
				continue
			}
			if len(got) != 4 {
				t.Fatalf("%v fetch v%d: %d messages, want 4 (offsets 1-4)", codec, v, len(got))
			}
			for i, m := range got {
				w := want[i+1]
				ts := w.Timestamp.UnixMilli()
				if magic == 0 {
					ts = -1
				}
				if offs[i] != int64(i+1) || !bytes.Equal(m.key, w.Key) || !bytes.Equal(m.value, w.Value) || m.ts != ts {
					t.Fatalf("%v fetch v%d message %d: %d %q %d", codec, v, i, offs[i], m.key, m.ts)
				}
			}
		}
		// kgo speaking Kafka 0.10.2 (Fetch v3, magic 1) reads them all.
		old := b.client(kgo.MaxVersions(kversion.V0_10_2()), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		var got []*kgo.Record
		for len(got) < len(want) && ctx.Err() == nil {
			got = append(got, old.PollFetches(ctx).Records()...)
		}
		for i, r := range got {
			if !bytes.Equal(r.Value, want[i].Value) || !r.Timestamp.Equal(want[i].Timestamp) {
				t.Fatalf("%v old kgo record %d: %q %v", codec, i, r.Value, r.Timestamp)
			}
		}
		if len(got) != len(want) {
			t.Fatalf("%v old kgo: %d records, want %d", codec, len(got), len(want))
		}
	}
	if _, err := b.admin().CreateTopic(ctx, 1, 1, map[string]*string{"message.downconversion.enable": kmsg.StringPtr("false")}, "nodown"); err != nil {
		t.Fatal(err)
	}
	req := kmsg.NewPtrFetchRequest()
	req.Version, req.ReplicaID = 2, -1
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = "nodown"
	rt.Partitions = append(rt.Partitions, kmsg.NewFetchRequestTopicPartition())
	req.Topics = append(req.Topics, rt)
	if code := b.raw(t).do(req).(*kmsg.FetchResponse).Topics[0].Partitions[0].ErrorCode; code != kerr.UnsupportedVersion.Code {
		t.Fatalf("down-conversion disabled: %v", kerr.ErrorForCode(code))
	}
}

// TestSmallSegmentBytes: segment.bytes=200 (kafka-go's
// TestReaderReadCompactedMessage; Kafka 3.x accepts down to 14, Kafka 4
// only from 1 MiB) is accepted, and a log of many tiny segments is read
// back whole.
func TestSmallSegmentBytes(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := b.admin().CreateTopic(ctx, 1, 1, map[string]*string{"segment.bytes": kmsg.StringPtr("200")}, "tiny-segments"); err != nil {
		t.Fatal(err)
	}
	p := b.client(kgo.DefaultProduceTopic("tiny-segments"))
	for i := range 20 {
		if err := p.ProduceSync(ctx, &kgo.Record{Value: bytes.Repeat([]byte{byte(i)}, 60)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	c := b.client(kgo.ConsumeTopics("tiny-segments"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	var got []*kgo.Record
	for len(got) < 20 && ctx.Err() == nil {
		got = append(got, c.PollFetches(ctx).Records()...)
	}
	for i, r := range got {
		if r.Offset != int64(i) || len(r.Value) != 60 || r.Value[0] != byte(i) {
			t.Fatalf("record %d: offset %d value %x", i, r.Offset, r.Value)
		}
	}
	if len(got) != 20 {
		t.Fatalf("%d records, want 20", len(got))
	}
}

// TestFetchDownConversionLimits: a down-converted fetch stays within the
// partition limit, except that the first partition always gets one whole
// message, so an old consumer never sticks behind a large one.
func TestFetchDownConversionLimits(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := b.admin().CreateTopic(ctx, 1, 1, nil, "down-limits"); err != nil {
		t.Fatal(err)
	}
	p := b.client(kgo.DefaultProduceTopic("down-limits"), kgo.ProducerBatchCompression(kgo.NoCompression()))
	for i := range 10 {
		if err := p.ProduceSync(ctx, &kgo.Record{Value: bytes.Repeat([]byte{byte(i)}, 100)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	rc := b.raw(t)
	// A magic-1 message of a 100-byte value and no key is 12+22+100 = 134
	// bytes; its stored v2 batch about 170, and the read stops at the limit
	// in stored bytes first.
	for _, tc := range []struct {
		limit int32
		want  int
	}{{1, 1}, {134, 1}, {400, 2}, {1 << 20, 10}} {
		req := kmsg.NewPtrFetchRequest()
		req.Version, req.ReplicaID, req.MaxBytes = 3, -1, 1<<20
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic = "down-limits"
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.PartitionMaxBytes = tc.limit
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		sp := rc.do(req).(*kmsg.FetchResponse).Topics[0].Partitions[0]
		n := 0
		for set := sp.RecordBatches; len(set) >= 12; n++ {
			set = set[12+int(binary.BigEndian.Uint32(set[8:])):]
		}
		if sp.ErrorCode != 0 || n != tc.want || (tc.want > 1 && len(sp.RecordBatches) > int(tc.limit)) {
			t.Fatalf("limit %d: %v, %d messages in %d bytes, want %d", tc.limit, kerr.ErrorForCode(sp.ErrorCode), n, len(sp.RecordBatches), tc.want)
		}
	}
}

// TestFetchDownConversionSkipsMarkers: an old consumer positioned on a
// transaction's commit marker (a control batch, which magic 0/1 cannot
// show) gets the records after it once there are some, rather than empty
// responses forever.
func TestFetchDownConversionSkipsMarkers(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := b.admin().CreateTopic(ctx, 1, 1, nil, "down-markers"); err != nil {
		t.Fatal(err)
	}
	tx := b.client(kgo.DefaultProduceTopic("down-markers"), kgo.TransactionalID("down-markers-tx"))
	if err := tx.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := tx.ProduceSync(ctx, &kgo.Record{Value: fmt.Appendf(nil, "tx%d", i)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	rc := b.raw(t)
	fetch := func() kmsg.FetchResponseTopicPartition {
		req := kmsg.NewPtrFetchRequest()
		req.Version, req.ReplicaID, req.MaxBytes = 3, -1, 1<<20
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic = "down-markers"
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.FetchOffset, rp.PartitionMaxBytes = 3, 1 // the commit marker, and only it read at first
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		return rc.do(req).(*kmsg.FetchResponse).Topics[0].Partitions[0]
	}
	if sp := fetch(); sp.ErrorCode != 0 || len(sp.RecordBatches) != 0 || sp.HighWatermark != 4 {
		t.Fatalf("at the marker: %v, %d bytes, hw %d", kerr.ErrorForCode(sp.ErrorCode), len(sp.RecordBatches), sp.HighWatermark)
	}
	p := b.client(kgo.DefaultProduceTopic("down-markers"))
	if err := p.ProduceSync(ctx, &kgo.Record{Value: []byte("after")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	sp := fetch()
	var m kmsg.MessageV1
	if sp.ErrorCode != 0 || m.ReadFrom(sp.RecordBatches) != nil || m.Offset != 4 || string(m.Value) != "after" {
		t.Fatalf("after the marker: %v, message %+v", kerr.ErrorForCode(sp.ErrorCode), m)
	}
}
