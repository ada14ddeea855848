// Package franz runs the compatibility scenarios with franz-go (kgo, kadm,
// and kmsg for the few raw requests) against a running gregor.
package franz

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"net"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/compat-tests/internal/compat"
)

const client = "franz-go"

func run(t *testing.T, name string, fn func(t *compat.T)) { compat.Run(t, client, name, fn) }

func newClient(t *compat.T, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	return newClientAt(t, compat.Bootstrap(), opts...)
}

func newClientAt(t *compat.T, seed string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	base := []kgo.Opt{kgo.SeedBrokers(seed), kgo.AllowAutoTopicCreation()}
	if os.Getenv("COMPAT_DEBUG") != "" {
		base = append(base, kgo.WithLogger(kgo.BasicLogger(os.Stderr, kgo.LogLevelDebug, nil)))
	}
	cl, err := kgo.NewClient(append(base, opts...)...)
	t.Check(err, "new client")
	t.Cleanup(cl.Close)
	return cl
}

func ctxT(t *compat.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func createTopic(t *compat.T, adm *kadm.Client, topic string, partitions int32, configs map[string]*string) {
	t.Helper()
	resp, err := adm.CreateTopic(ctxT(t, 15*time.Second), partitions, 1, configs, topic)
	t.Check(err, "create topic")
	t.Check(resp.Err, "create topic "+topic)
}

// consumeN reads exactly n records (failing on timeout) from the given
// client, which must already be consuming.
func consumeN(t *compat.T, cl *kgo.Client, n int, d time.Duration) []*kgo.Record {
	t.Helper()
	ctx := ctxT(t, d)
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("timed out after %v with %d of %d records", d, len(out), n)
		}
		for _, e := range fs.Errors() {
			if !errors.Is(e.Err, context.DeadlineExceeded) {
				t.Fatalf("fetch %s[%d]: %v", e.Topic, e.Partition, e.Err)
			}
		}
		out = append(out, fs.Records()...)
	}
	return out
}

// consumeAll consumes n records of topic from the start, on a new client.
func consumeAll(t *compat.T, topic string, n int, opts ...kgo.Opt) []*kgo.Record {
	t.Helper()
	cl := newClient(t, append([]kgo.Opt{kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())}, opts...)...)
	recs := consumeN(t, cl, n, 20*time.Second)
	if len(recs) != n {
		t.Fatalf("consumed %d records, want %d", len(recs), n)
	}
	return recs
}

func produceSync(t *compat.T, cl *kgo.Client, recs ...*kgo.Record) {
	t.Helper()
	t.Check(cl.ProduceSync(ctxT(t, 20*time.Second), recs...).FirstErr(), "produce")
}

func seqRecords(topic string, n int) []*kgo.Record {
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = &kgo.Record{Topic: topic, Key: []byte(fmt.Sprintf("k%d", i)), Value: []byte(fmt.Sprintf("value-%06d-%s", i, bytes.Repeat([]byte("x"), i%50)))}
	}
	return recs
}

func checkSeq(t *compat.T, got []*kgo.Record, want []*kgo.Record) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d records, want %d", len(got), len(want))
	}
	for i := range got {
		if !bytes.Equal(got[i].Key, want[i].Key) || !bytes.Equal(got[i].Value, want[i].Value) {
			t.Fatalf("record %d: got key %q value %q, want key %q value %q", i, got[i].Key, got[i].Value, want[i].Key, want[i].Value)
		}
		if got[i].Offset != int64(i) {
			t.Fatalf("record %d has offset %d", i, got[i].Offset)
		}
	}
}

func TestMetadata(t *testing.T) {
	run(t, "metadata", func(t *compat.T) {
		adm := kadm.NewClient(newClient(t))
		topic := compat.Topic(client, "metadata")
		createTopic(t, adm, topic, 3, nil)
		md, err := adm.Metadata(ctxT(t, 10*time.Second), topic)
		t.Check(err, "metadata")
		if len(md.Brokers) != 1 {
			t.Fatalf("got %d brokers, want 1", len(md.Brokers))
		}
		b := md.Brokers[0]
		host, port, _ := net.SplitHostPort(compat.Bootstrap())
		if b.Host != host || strconv.Itoa(int(b.Port)) != port {
			t.Fatalf("broker advertised as %s:%d, bootstrap is %s", b.Host, b.Port, compat.Bootstrap())
		}
		if md.Controller != b.NodeID {
			t.Errorf("controller %d, broker %d", md.Controller, b.NodeID)
		}
		td := md.Topics[topic]
		t.Check(td.Err, "topic metadata")
		if len(td.Partitions) != 3 {
			t.Fatalf("topic has %d partitions, want 3", len(td.Partitions))
		}
		for p, pd := range td.Partitions {
			if pd.Leader != b.NodeID || len(pd.Replicas) != 1 || len(pd.ISR) != 1 || pd.Err != nil {
				t.Fatalf("partition %d: leader %d replicas %v isr %v err %v", p, pd.Leader, pd.Replicas, pd.ISR, pd.Err)
			}
		}
		if td.ID == (kadm.TopicID{}) {
			t.Errorf("topic has a zero topic ID")
		}
		apis, err := compat.ServedAPIs()
		t.Check(err, "api versions")
		for _, k := range []kmsg.Key{kmsg.Produce, kmsg.Fetch, kmsg.ListOffsets, kmsg.Metadata, kmsg.ApiVersions} {
			if _, ok := apis[int16(k)]; !ok {
				t.Errorf("ApiVersions lacks %s", k.Name())
			}
		}
		t.Detail("1 broker %s:%d, 3 partitions, %d APIs advertised", b.Host, b.Port, len(apis))
	})
}

func TestProduceConsume(t *testing.T) {
	run(t, "produce_consume", func(t *compat.T) {
		topic := compat.Topic(client, "produce_consume")
		bin := make([]byte, 256)
		for i := range bin {
			bin[i] = byte(i)
		}
		want := []*kgo.Record{
			{Key: []byte("key-1"), Value: []byte("value-1"), Headers: []kgo.RecordHeader{{Key: "h1", Value: []byte("v1")}, {Key: "h2", Value: nil}, {Key: "h1", Value: []byte("dup")}}},
			{Key: nil, Value: []byte("null key")},
			{Key: []byte("tombstone"), Value: nil},
			{Key: []byte{}, Value: []byte{}},
			{Key: bin, Value: bytes.Repeat(bin, 40), Headers: []kgo.RecordHeader{{Key: "bin", Value: bin}}},
			{Key: []byte("ünïcode-ключ"), Value: []byte("値")},
		}
		ts := time.UnixMilli(time.Now().UnixMilli() - 3600_000)
		for _, r := range want {
			r.Topic = topic
			r.Timestamp = ts
		}
		produceSync(t, newClient(t), want...)
		got := consumeAll(t, topic, len(want))
		for i, g := range got {
			w := want[i]
			if g.Offset != int64(i) {
				t.Errorf("record %d: offset %d", i, g.Offset)
			}
			if !sameBytes(g.Key, w.Key) || !sameBytes(g.Value, w.Value) {
				t.Errorf("record %d: key %q (nil=%v) value %q (nil=%v); want key %q (nil=%v) value %q (nil=%v)", i, g.Key, g.Key == nil, g.Value, g.Value == nil, w.Key, w.Key == nil, w.Value, w.Value == nil)
			}
			if len(g.Headers) != len(w.Headers) {
				t.Errorf("record %d: %d headers, want %d", i, len(g.Headers), len(w.Headers))
				continue
			}
			for j := range g.Headers {
				if g.Headers[j].Key != w.Headers[j].Key || !sameBytes(g.Headers[j].Value, w.Headers[j].Value) {
					t.Errorf("record %d header %d: %q=%q, want %q=%q", i, j, g.Headers[j].Key, g.Headers[j].Value, w.Headers[j].Key, w.Headers[j].Value)
				}
			}
			if !g.Timestamp.Equal(ts) {
				t.Errorf("record %d: timestamp %v, want %v", i, g.Timestamp, ts)
			}
		}
		t.Detail("%d records byte-exact (null/empty keys and values, binary, headers, timestamps)", len(got))
	})
}

// sameBytes is bytes.Equal that also tells null from empty.
func sameBytes(a, b []byte) bool { return (a == nil) == (b == nil) && bytes.Equal(a, b) }

// topicID looks up a topic's ID: kgo sends raw requests at the newest
// version both sides support, where Produce and Fetch name topics by ID.
func topicID(t *compat.T, cl *kgo.Client, topic string) [16]byte {
	t.Helper()
	md, err := kadm.NewClient(cl).Metadata(ctxT(t, 10*time.Second), topic)
	t.Check(err, "metadata")
	t.Check(md.Topics[topic].Err, "metadata "+topic)
	return md.Topics[topic].ID
}

func TestCodecs(t *testing.T) {
	codecs := []struct {
		name  string
		codec kgo.CompressionCodec
		id    int16
	}{
		{"none", kgo.NoCompression(), 0},
		{"gzip", kgo.GzipCompression(), 1},
		{"snappy", kgo.SnappyCompression(), 2},
		{"lz4", kgo.Lz4Compression(), 3},
		{"zstd", kgo.ZstdCompression(), 4},
	}
	for _, c := range codecs {
		run(t, "codec_"+c.name, func(t *compat.T) {
			topic := compat.Topic(client, "codec_"+c.name)
			cl := newClient(t, kgo.ProducerBatchCompression(c.codec), kgo.ProducerLinger(50*time.Millisecond))
			want := seqRecords(topic, 500)
			produceSync(t, cl, want...)
			checkSeq(t, consumeAll(t, topic, len(want)), want)
			n, err := compat.CheckCodec(topic, 0, c.id)
			t.Check(err, "stored batches")
			t.Detail("500 records in %d %s batches, read back in order", n, c.name)
		})
	}
}

func TestIdempotent(t *testing.T) {
	run(t, "idempotent", func(t *compat.T) {
		topic := compat.Topic(client, "idempotent")
		cl := newClient(t) // idempotent by default
		want := seqRecords(topic, 300)
		produceSync(t, cl, want...)
		got := consumeAll(t, topic, len(want))
		checkSeq(t, got, want)
		pid := got[0].ProducerID
		if pid < 0 {
			t.Fatalf("records carry producer id %d: not idempotent", pid)
		}
		for _, r := range got {
			if r.ProducerID != pid {
				t.Fatalf("producer id changed from %d to %d", pid, r.ProducerID)
			}
		}

		// A retried batch (same producer, epoch, sequence) must be
		// acknowledged with its original offset and not written twice;
		// a sequence gap must be refused.
		raw := newClient(t)
		ip, err := kmsg.NewPtrInitProducerIDRequest().RequestWith(ctxT(t, 10*time.Second), raw)
		t.Check(err, "InitProducerId")
		t.Check(kerr.ErrorForCode(ip.ErrorCode), "InitProducerId")
		topic2 := compat.Topic(client, "idempotent-raw")
		createTopic(t, kadm.NewClient(raw), topic2, 1, nil)
		id2 := topicID(t, raw, topic2)
		send := func(seq int32, n int) (int64, error) {
			batch := rawBatch(ip.ProducerID, ip.ProducerEpoch, seq, n)
			req := kmsg.NewPtrProduceRequest()
			req.Version = 9
			req.Acks = -1
			req.TimeoutMillis = 5000
			rt := kmsg.NewProduceRequestTopic()
			rt.Topic = topic2
			rt.TopicID = id2
			rp := kmsg.NewProduceRequestTopicPartition()
			rp.Records = batch
			rt.Partitions = append(rt.Partitions, rp)
			req.Topics = append(req.Topics, rt)
			resp, err := req.RequestWith(ctxT(t, 10*time.Second), raw)
			if err != nil {
				return 0, err
			}
			p := resp.Topics[0].Partitions[0]
			return p.BaseOffset, kerr.ErrorForCode(p.ErrorCode)
		}
		o1, err := send(0, 3)
		t.Check(err, "first batch")
		o2, err := send(3, 2)
		t.Check(err, "second batch")
		o3, err := send(3, 2) // duplicate retry
		t.Check(err, "duplicate of second batch")
		if o1 != 0 || o2 != 3 || o3 != 3 {
			t.Fatalf("base offsets %d, %d, duplicate %d; want 0, 3, 3", o1, o2, o3)
		}
		if _, err := send(10, 1); !errors.Is(err, kerr.OutOfOrderSequenceNumber) {
			t.Fatalf("sequence gap: got %v, want OUT_OF_ORDER_SEQUENCE_NUMBER", err)
		}
		ends, err := kadm.NewClient(raw).ListEndOffsets(ctxT(t, 10*time.Second), topic2)
		t.Check(err, "list end offsets")
		if o, _ := ends.Lookup(topic2, 0); o.Offset != 5 {
			t.Fatalf("log end offset %d after duplicate, want 5", o.Offset)
		}
		t.Detail("300 records pid %d in order; duplicate batch deduplicated, gap refused", pid)
	})
}

// rawBatch builds an uncompressed idempotent record batch of n records,
// encoded by hand (length, CRC-32C) so the test controls the sequence.
func rawBatch(pid int64, epoch int16, seq int32, n int) []byte {
	now := time.Now().UnixMilli()
	var recs []byte
	for i := 0; i < n; i++ {
		val := []byte(fmt.Sprintf("seq-%d", int(seq)+i))
		var body []byte
		body = append(body, 0)                          // attributes
		body = kbin.AppendVarlong(body, 0)              // timestamp delta
		body = kbin.AppendVarint(body, int32(i))        // offset delta
		body = kbin.AppendVarint(body, -1)              // null key
		body = kbin.AppendVarint(body, int32(len(val))) // value
		body = append(body, val...)
		body = kbin.AppendVarint(body, 0) // no headers
		recs = kbin.AppendVarint(recs, int32(len(body)))
		recs = append(recs, body...)
	}
	var b []byte
	b = kbin.AppendInt64(b, 0)  // base offset
	b = kbin.AppendInt32(b, 0)  // length, below
	b = kbin.AppendInt32(b, -1) // partition leader epoch
	b = append(b, 2)            // magic
	b = kbin.AppendInt32(b, 0)  // crc, below
	b = kbin.AppendInt16(b, 0)  // attributes
	b = kbin.AppendInt32(b, int32(n-1))
	b = kbin.AppendInt64(b, now)
	b = kbin.AppendInt64(b, now)
	b = kbin.AppendInt64(b, pid)
	b = kbin.AppendInt16(b, epoch)
	b = kbin.AppendInt32(b, seq)
	b = kbin.AppendInt32(b, int32(n))
	b = append(b, recs...)
	binary.BigEndian.PutUint32(b[8:12], uint32(len(b)-12))
	binary.BigEndian.PutUint32(b[17:21], crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)))
	return b
}

func TestAcks(t *testing.T) {
	for _, a := range []struct {
		name string
		acks kgo.Acks
	}{{"0", kgo.NoAck()}, {"1", kgo.LeaderAck()}, {"all", kgo.AllISRAcks()}} {
		run(t, "acks_"+a.name, func(t *compat.T) {
			topic := compat.Topic(client, "acks_"+a.name)
			adm := kadm.NewClient(newClient(t))
			createTopic(t, adm, topic, 1, nil)
			cl := newClient(t, kgo.RequiredAcks(a.acks), kgo.DisableIdempotentWrite())
			want := seqRecords(topic, 200)
			produceSync(t, cl, want...)
			checkSeq(t, consumeAll(t, topic, len(want)), want)
			t.Detail("200 records acks=%s read back in order", a.name)
		})
	}
}

func TestConsumeFrom(t *testing.T) {
	setup := func(t *compat.T, name string) (string, []*kgo.Record, time.Time) {
		topic := compat.Topic(client, name)
		base := time.UnixMilli(time.Now().UnixMilli() - 100_000)
		want := seqRecords(topic, 10)
		for i, r := range want {
			r.Timestamp = base.Add(time.Duration(i) * time.Second)
		}
		// snappy: records inside a compressed batch must still be found
		// one by one.
		produceSync(t, newClient(t, kgo.ProducerBatchCompression(kgo.SnappyCompression())), want...)
		return topic, want, base
	}
	run(t, "consume_earliest", func(t *compat.T) {
		topic, want, _ := setup(t, "consume_earliest")
		checkSeq(t, consumeAll(t, topic, 10), want)
		t.Detail("10 records from offset 0")
	})
	run(t, "consume_latest", func(t *compat.T) {
		topic, _, _ := setup(t, "consume_latest")
		cl := newClient(t, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtEnd()))
		// Let the client resolve "latest" before producing more.
		ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
		fs := cl.PollFetches(ctx)
		cancel()
		if n := len(fs.Records()); n != 0 {
			t.Fatalf("consumer at latest got %d old records", n)
		}
		more := seqRecords(topic, 13)[10:]
		produceSync(t, newClient(t), more...)
		got := consumeN(t, cl, 3, 15*time.Second)
		if len(got) != 3 {
			t.Fatalf("got %d records, want 3", len(got))
		}
		for i, r := range got {
			if r.Offset != int64(10+i) || !bytes.Equal(r.Value, more[i].Value) {
				t.Fatalf("record %d: offset %d value %q", i, r.Offset, r.Value)
			}
		}
		t.Detail("only the 3 records produced after joining at offset 10")
	})
	run(t, "consume_timestamp", func(t *compat.T) {
		topic, want, base := setup(t, "consume_timestamp")
		lo, err := kadm.NewClient(newClient(t)).ListOffsetsAfterMilli(ctxT(t, 10*time.Second), base.Add(4500*time.Millisecond).UnixMilli(), topic)
		t.Check(err, "list offsets by time")
		if o, _ := lo.Lookup(topic, 0); o.Offset != 5 {
			t.Fatalf("ListOffsets(timestamp of record 4 + 0.5s) on a snappy batch = offset %d (err %v), want 5", o.Offset, o.Err)
		}
		cl := newClient(t, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AfterMilli(base.Add(4500 * time.Millisecond).UnixMilli())}}))
		got := consumeN(t, cl, 5, 15*time.Second)
		if len(got) != 5 || got[0].Offset != 5 || !bytes.Equal(got[0].Value, want[5].Value) || got[4].Offset != 9 {
			t.Fatalf("from timestamp: got %d records starting at offset %d", len(got), got[0].Offset)
		}
		t.Detail("timestamp base+4.5s resolved to offset 5, read 5..9")
	})
}

func TestListOffsets(t *testing.T) {
	run(t, "list_offsets", func(t *compat.T) {
		topic := compat.Topic(client, "list_offsets")
		adm := kadm.NewClient(newClient(t))
		createTopic(t, adm, topic, 2, nil)
		base := time.UnixMilli(time.Now().UnixMilli() - 100_000)
		var recs []*kgo.Record
		for i := 0; i < 7; i++ {
			ts := base.Add(time.Duration(i) * time.Second)
			if i == 3 {
				ts = base.Add(50 * time.Second) // max timestamp is offset 3
			}
			recs = append(recs, &kgo.Record{Topic: topic, Partition: 0, Value: []byte{byte(i)}, Timestamp: ts})
		}
		produceSync(t, newClient(t, kgo.RecordPartitioner(kgo.ManualPartitioner())), recs...)
		ctx := ctxT(t, 10*time.Second)
		check := func(what string, lo kadm.ListedOffsets, err error, p int32, want int64) {
			t.Helper()
			t.Check(err, what)
			o, ok := lo.Lookup(topic, p)
			if !ok || o.Err != nil || o.Offset != want {
				t.Fatalf("%s partition %d: offset %d err %v, want %d", what, p, o.Offset, o.Err, want)
			}
		}
		lo, err := adm.ListStartOffsets(ctx, topic)
		check("earliest", lo, err, 0, 0)
		lo, err = adm.ListEndOffsets(ctx, topic)
		check("latest", lo, err, 0, 7)
		check("latest", lo, err, 1, 0)
		lo, err = adm.ListOffsetsAfterMilli(ctx, base.Add(1500*time.Millisecond).UnixMilli(), topic)
		check("by timestamp", lo, err, 0, 2)
		lo, err = adm.ListOffsetsAfterMilli(ctx, base.Add(time.Hour).UnixMilli(), topic)
		check("timestamp after all", lo, err, 0, 7)
		if v, ok := compat.ServedAPIs(); ok == nil && v[int16(kmsg.ListOffsets)][1] >= 7 {
			lo, err = adm.ListMaxTimestampOffsets(ctx, topic)
			check("max timestamp", lo, err, 0, 3)
		}
		t.Detail("earliest 0, latest 7/0, by-timestamp 2, past-end 7, max-timestamp 3")
	})
}

func TestAdmin(t *testing.T) {
	run(t, "admin_topics", func(t *compat.T) {
		adm := kadm.NewClient(newClient(t))
		topic := compat.Topic(client, "admin_topics")
		ret := "12345678"
		createTopic(t, adm, topic, 3, map[string]*string{"retention.ms": &ret})
		again, err := adm.CreateTopic(ctxT(t, 10*time.Second), 3, 1, nil, topic)
		if err == nil {
			err = again.Err
		}
		if !errors.Is(err, kerr.TopicAlreadyExists) {
			t.Fatalf("second create: got %v, want TOPIC_ALREADY_EXISTS", err)
		}
		td, err := adm.ListTopics(ctxT(t, 10*time.Second), topic)
		t.Check(err, "list topics")
		if d, ok := td[topic]; !ok || len(d.Partitions) != 3 {
			t.Fatalf("described topic: %+v", td[topic])
		}
		del, err := adm.DeleteTopics(ctxT(t, 10*time.Second), topic)
		t.Check(err, "delete topics")
		t.Check(del[topic].Err, "delete topic")
		all, err := adm.ListTopics(ctxT(t, 10*time.Second))
		t.Check(err, "list topics after delete")
		if all.Has(topic) {
			t.Fatalf("topic still listed after delete")
		}
		del, err = adm.DeleteTopics(ctxT(t, 10*time.Second), topic)
		if err == nil {
			err = del[topic].Err
		}
		if !errors.Is(err, kerr.UnknownTopicOrPartition) {
			t.Fatalf("deleting a deleted topic: got %v, want UNKNOWN_TOPIC_OR_PARTITION", err)
		}
		t.Detail("create (3 partitions), duplicate refused, describe, delete, delete again refused")
	})
	run(t, "admin_create_partitions", func(t *compat.T) {
		adm := kadm.NewClient(newClient(t))
		topic := compat.Topic(client, "admin_create_partitions")
		createTopic(t, adm, topic, 2, nil)
		resp, err := adm.UpdatePartitions(ctxT(t, 10*time.Second), 5, topic)
		t.Check(err, "create partitions")
		t.Check(resp[topic].Err, "create partitions")
		td, err := adm.ListTopics(ctxT(t, 10*time.Second), topic)
		t.Check(err, "list topics")
		if n := len(td[topic].Partitions); n != 5 {
			t.Fatalf("topic has %d partitions after growing to 5", n)
		}
		cl := newClient(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
		produceSync(t, cl, &kgo.Record{Topic: topic, Partition: 4, Value: []byte("in new partition")})
		rc := newClient(t, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {4: kgo.NewOffset().AtStart()}}))
		got := consumeN(t, rc, 1, 15*time.Second)
		if got[0].Partition != 4 || string(got[0].Value) != "in new partition" {
			t.Fatalf("read back partition %d value %q", got[0].Partition, got[0].Value)
		}
		resp, err = adm.UpdatePartitions(ctxT(t, 10*time.Second), 3, topic)
		if err == nil {
			err = resp[topic].Err
		}
		if !errors.Is(err, kerr.InvalidPartitions) {
			t.Fatalf("shrinking to 3: got %v, want INVALID_PARTITIONS", err)
		}
		t.Detail("2 -> 5 partitions, produce/consume on partition 4, shrink refused")
	})
	run(t, "admin_describe_configs", func(t *compat.T) {
		adm := kadm.NewClient(newClient(t))
		topic := compat.Topic(client, "admin_describe_configs")
		ret := "12345678"
		createTopic(t, adm, topic, 1, map[string]*string{"retention.ms": &ret})
		rc, err := adm.DescribeTopicConfigs(ctxT(t, 10*time.Second), topic)
		t.Check(err, "describe topic configs")
		c, err := rc.On(topic, nil)
		t.Check(err, "describe topic configs")
		t.Check(c.Err, "topic config")
		vals := map[string]kadm.Config{}
		for _, kv := range c.Configs {
			vals[kv.Key] = kv
		}
		if v := vals["retention.ms"]; v.Value == nil || *v.Value != ret || v.Source != kmsg.ConfigSourceDynamicTopicConfig {
			t.Fatalf("retention.ms = %v source %v, want %s from DYNAMIC_TOPIC_CONFIG", v.Value, v.Source, ret)
		}
		if v := vals["cleanup.policy"]; v.Value == nil || *v.Value != "delete" {
			t.Fatalf("cleanup.policy = %v, want delete", v.Value)
		}
		if v := vals["max.message.bytes"]; v.Value == nil || *v.Value != "1048588" {
			t.Fatalf("max.message.bytes = %v, want 1048588", v.Value)
		}
		bc, err := adm.DescribeBrokerConfigs(ctxT(t, 10*time.Second))
		t.Check(err, "describe broker configs")
		found := ""
		for _, rc := range bc {
			for _, kv := range rc.Configs {
				if kv.Key == "message.max.bytes" && kv.Value != nil {
					found = *kv.Value
				}
			}
		}
		if found != "1048588" {
			t.Fatalf("broker message.max.bytes = %q, want 1048588", found)
		}
		t.Detail("topic retention.ms dynamic, defaults cleanup.policy/max.message.bytes, broker message.max.bytes")
	})
	run(t, "admin_alter_configs", func(t *compat.T) {
		compat.RequireAPIs(t, kmsg.IncrementalAlterConfigs)
		adm := kadm.NewClient(newClient(t))
		topic := compat.Topic(client, "admin_alter_configs")
		createTopic(t, adm, topic, 1, nil)
		v := "7654321"
		resp, err := adm.AlterTopicConfigs(ctxT(t, 10*time.Second), []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "retention.ms", Value: &v}}, topic)
		t.Check(err, "incremental alter configs")
		for _, r := range resp {
			t.Check(r.Err, "alter "+r.Name)
		}
		rc, err := adm.DescribeTopicConfigs(ctxT(t, 10*time.Second), topic)
		t.Check(err, "describe")
		c, _ := rc.On(topic, nil)
		got := ""
		for _, kv := range c.Configs {
			if kv.Key == "retention.ms" && kv.Value != nil {
				got = *kv.Value
			}
		}
		if got != v {
			t.Fatalf("retention.ms after alter = %q, want %q", got, v)
		}
		resp, err = adm.AlterTopicConfigs(ctxT(t, 10*time.Second), []kadm.AlterConfig{{Op: kadm.DeleteConfig, Name: "retention.ms"}}, topic)
		t.Check(err, "incremental alter (delete)")
		rc, err = adm.DescribeTopicConfigs(ctxT(t, 10*time.Second), topic)
		t.Check(err, "describe")
		c, _ = rc.On(topic, nil)
		for _, kv := range c.Configs {
			if kv.Key == "retention.ms" && kv.Source == kmsg.ConfigSourceDynamicTopicConfig {
				t.Fatalf("retention.ms still a dynamic topic config after delete")
			}
		}
		t.Detail("set retention.ms, described back, deleted back to default")
	})
}

func TestGroups(t *testing.T) {
	run(t, "group_join", func(t *compat.T) {
		compat.RequireAPIs(t, compat.GroupAPIs...)
		adm := kadm.NewClient(newClient(t))
		topic := compat.Topic(client, "group_join")
		createTopic(t, adm, topic, 3, nil)
		want := seqRecords(topic, 30)
		produceSync(t, newClient(t), want...)
		group := "g-" + topic
		cl := newClient(t, kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		got := consumeN(t, cl, 30, 30*time.Second)
		seen := map[string]bool{}
		for _, r := range got {
			seen[string(r.Value)] = true
		}
		if len(got) != 30 || len(seen) != 30 {
			t.Fatalf("group consumer read %d records (%d distinct), want 30", len(got), len(seen))
		}
		dg, err := adm.DescribeGroups(ctxT(t, 10*time.Second), group)
		t.Check(err, "describe group")
		if g := dg[group]; g.State != "Stable" || len(g.Members) != 1 {
			t.Fatalf("group state %q with %d members, want Stable with 1", g.State, len(g.Members))
		}
		t.Detail("1 member, all 3 partitions, 30 records")
	})
	run(t, "group_rebalance", func(t *compat.T) {
		compat.RequireAPIs(t, compat.GroupAPIs...)
		adm := kadm.NewClient(newClient(t))
		topic := compat.Topic(client, "group_rebalance")
		createTopic(t, adm, topic, 4, nil)
		group := "g-" + topic
		type member struct {
			cl       *kgo.Client
			assigned chan map[int32]bool
		}
		mk := func() *member {
			m := &member{assigned: make(chan map[int32]bool, 16)}
			cur := map[int32]bool{}
			m.cl = newClient(t, kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
				kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, a map[string][]int32) {
					for _, p := range a[topic] {
						cur[p] = true
					}
					c := map[int32]bool{}
					for k := range cur {
						c[k] = true
					}
					m.assigned <- c
				}),
				kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, r map[string][]int32) {
					for _, p := range r[topic] {
						delete(cur, p)
					}
				}),
				kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, r map[string][]int32) {
					for _, p := range r[topic] {
						delete(cur, p)
					}
				}))
			go func() {
				for {
					fs := m.cl.PollFetches(context.Background())
					if fs.IsClientClosed() {
						return
					}
				}
			}()
			return m
		}
		waitFor := func(m *member, n int) map[int32]bool {
			deadline := time.After(40 * time.Second)
			for {
				select {
				case a := <-m.assigned:
					if len(a) == n {
						return a
					}
				case <-deadline:
					t.Fatalf("member never got %d partitions", n)
				}
			}
		}
		a := mk()
		waitFor(a, 4)
		b := mk()
		pb := waitFor(b, 2)
		pa := waitFor(a, 2)
		for p := range pa {
			if pb[p] {
				t.Fatalf("partition %d assigned to both members", p)
			}
		}
		b.cl.Close() // leaves the group
		waitFor(a, 4)
		t.Detail("4 partitions: 4 -> 2+2 (disjoint) -> 4 after a member left")
	})
	run(t, "group_commit_resume", func(t *compat.T) {
		compat.RequireAPIs(t, compat.GroupAPIs...)
		adm := kadm.NewClient(newClient(t))
		topic := compat.Topic(client, "group_commit_resume")
		createTopic(t, adm, topic, 1, nil)
		want := seqRecords(topic, 20)
		produceSync(t, newClient(t), want...)
		group := "g-" + topic
		opts := []kgo.Opt{kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit(), kgo.FetchMaxPartitionBytes(200), kgo.FetchMaxBytes(200)}
		c1, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(compat.Bootstrap())}, opts...)...)
		t.Check(err, "client")
		got := consumeN(t, c1, 1, 20*time.Second)
		// Commit exactly the first 10 records.
		first := got[0]
		if first.Offset != 0 {
			c1.Close()
			t.Fatalf("first record at offset %d", first.Offset)
		}
		commit := map[string]map[int32]kgo.EpochOffset{topic: {0: {Epoch: -1, Offset: 10}}}
		var cerr error
		c1.CommitOffsetsSync(ctxT(t, 10*time.Second), commit, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
			cerr = err
			if err == nil {
				for _, tp := range resp.Topics {
					for _, p := range tp.Partitions {
						if e := kerr.ErrorForCode(p.ErrorCode); e != nil {
							cerr = e
						}
					}
				}
			}
		})
		c1.Close()
		t.Check(cerr, "commit")
		fo, err := adm.FetchOffsets(ctxT(t, 10*time.Second), group)
		t.Check(err, "fetch offsets")
		if o, ok := fo.Lookup(topic, 0); !ok || o.At != 10 {
			t.Fatalf("committed offset %d (found %v), want 10", o.At, ok)
		}
		c2 := newClient(t, kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		rest := consumeN(t, c2, 10, 30*time.Second)
		if rest[0].Offset != 10 || !bytes.Equal(rest[0].Value, want[10].Value) {
			t.Fatalf("resumed at offset %d, want 10", rest[0].Offset)
		}
		if len(rest) != 10 || rest[9].Offset != 19 {
			t.Fatalf("resumed read %d records", len(rest))
		}
		t.Detail("committed 10, OffsetFetch 10, second member resumed at 10..19")
	})
}

func TestErrors(t *testing.T) {
	run(t, "err_unknown_topic", func(t *compat.T) {
		seed := compat.BootstrapNoAuto()
		if seed == "" {
			t.Fatalf("COMPAT_BOOTSTRAP_NOAUTO not set (run.sh starts a broker with auto.create.topics.enable=false)")
		}
		topic := compat.Topic(client, "err_unknown_topic")
		cl := newClientAt(t, seed, kgo.UnknownTopicRetries(1), kgo.RecordRetries(2))
		err := cl.ProduceSync(ctxT(t, 30*time.Second), &kgo.Record{Topic: topic, Value: []byte("x")}).FirstErr()
		if !errors.Is(err, kerr.UnknownTopicOrPartition) {
			t.Fatalf("produce to unknown topic: got %v, want UNKNOWN_TOPIC_OR_PARTITION", err)
		}
		adm := kadm.NewClient(newClientAt(t, seed))
		md, err := adm.Metadata(ctxT(t, 10*time.Second), topic)
		t.Check(err, "metadata")
		if !errors.Is(md.Topics[topic].Err, kerr.UnknownTopicOrPartition) {
			t.Fatalf("metadata for unknown topic: err %v", md.Topics[topic].Err)
		}
		all, err := adm.ListTopics(ctxT(t, 10*time.Second))
		t.Check(err, "list topics")
		if all.Has(topic) {
			t.Fatalf("topic was created although auto-create is off")
		}
		t.Detail("produce and metadata got UNKNOWN_TOPIC_OR_PARTITION, topic not created")
	})
	run(t, "err_message_too_large", func(t *compat.T) {
		topic := compat.Topic(client, "err_message_too_large")
		adm := kadm.NewClient(newClient(t))
		createTopic(t, adm, topic, 1, nil)
		cl := newClient(t, kgo.ProducerBatchMaxBytes(4<<20), kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.MaxBufferedBytes(16<<20))
		big := make([]byte, 1100*1024)
		compat.RandomFill(big)
		err := cl.ProduceSync(ctxT(t, 20*time.Second), &kgo.Record{Topic: topic, Value: big}).FirstErr()
		if !errors.Is(err, kerr.MessageTooLarge) {
			t.Fatalf("producing %d bytes: got %v, want MESSAGE_TOO_LARGE", len(big), err)
		}
		small := &kgo.Record{Topic: topic, Value: []byte("fits")}
		produceSync(t, newClient(t), small)
		got := consumeAll(t, topic, 1)
		if got[0].Offset != 0 || string(got[0].Value) != "fits" {
			t.Fatalf("log holds offset %d %q: the oversized record was written", got[0].Offset, got[0].Value)
		}
		t.Detail("1.1 MB record refused with MESSAGE_TOO_LARGE; log unchanged")
	})
	run(t, "err_offset_out_of_range", func(t *compat.T) {
		topic := compat.Topic(client, "err_offset_out_of_range")
		want := seqRecords(topic, 5)
		produceSync(t, newClient(t), want...)
		raw := newClient(t)
		req := kmsg.NewPtrFetchRequest()
		req.Version = 12
		req.MaxWaitMillis = 100
		req.MaxBytes = 1 << 20
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic = topic
		rt.TopicID = topicID(t, raw, topic)
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.FetchOffset = 100
		rp.PartitionMaxBytes = 1 << 20
		rp.CurrentLeaderEpoch = -1
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctxT(t, 10*time.Second), raw)
		t.Check(err, "raw fetch")
		if e := kerr.ErrorForCode(resp.Topics[0].Partitions[0].ErrorCode); !errors.Is(e, kerr.OffsetOutOfRange) {
			t.Fatalf("fetch at offset 100 of 5: got %v, want OFFSET_OUT_OF_RANGE", e)
		}
		// Reset policy earliest: the consumer starts over at 0.
		cl := newClient(t, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().At(100)}}), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		checkSeq(t, consumeN(t, cl, 5, 15*time.Second), want)
		// Reset policy latest: the consumer waits at 5 and sees only new records.
		cl2 := newClient(t, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().At(100)}}), kgo.ConsumeResetOffset(kgo.NewOffset().AtEnd()))
		ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
		fs := cl2.PollFetches(ctx)
		cancel()
		if n := len(fs.Records()); n != 0 {
			t.Fatalf("reset to latest returned %d old records", n)
		}
		produceSync(t, newClient(t), &kgo.Record{Topic: topic, Value: []byte("after reset")})
		got := consumeN(t, cl2, 1, 15*time.Second)
		if got[0].Offset != 5 || string(got[0].Value) != "after reset" {
			t.Fatalf("after reset to latest: offset %d value %q", got[0].Offset, got[0].Value)
		}
		t.Detail("OFFSET_OUT_OF_RANGE; reset earliest read 0..4, reset latest read only offset 5")
	})
}
