package broker

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math/rand"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestProduceConsumeKgo(t *testing.T) {
	t.Parallel()
	for _, codec := range []struct {
		name  string
		codec kgo.CompressionCodec
	}{
		{"none", kgo.NoCompression()},
		{"gzip", kgo.GzipCompression()},
		{"snappy", kgo.SnappyCompression()},
		{"lz4", kgo.Lz4Compression()},
		{"zstd", kgo.ZstdCompression()},
	} {
		t.Run(codec.name, func(t *testing.T) {
			t.Parallel()
			b := startBroker(t)
			const parts, perPart = 4, 500
			if _, err := b.admin().CreateTopic(context.Background(), parts, 1, nil, "t"); err != nil {
				t.Fatal(err)
			}
			p := b.client(kgo.ProducerBatchCompression(codec.codec), kgo.RecordPartitioner(kgo.ManualPartitioner()))
			var wg sync.WaitGroup
			for part := int32(0); part < parts; part++ {
				for i := 0; i < perPart; i++ {
					wg.Add(1)
					r := &kgo.Record{
						Topic:     "t",
						Partition: part,
						Key:       []byte(fmt.Sprintf("k%d", i)),
						Value:     binary.BigEndian.AppendUint64(bytes.Repeat([]byte{byte(i)}, 100), uint64(i)),
						Headers:   []kgo.RecordHeader{{Key: "h", Value: []byte(fmt.Sprint(i))}},
					}
					p.Produce(context.Background(), r, func(_ *kgo.Record, err error) {
						defer wg.Done()
						if err != nil {
							t.Error(err)
						}
					})
				}
			}
			wg.Wait()

			c := b.client(kgo.ConsumeTopics("t"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
			next := make([]int, parts)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			for n := 0; n < parts*perPart; {
				fs := c.PollFetches(ctx)
				if err := ctx.Err(); err != nil {
					t.Fatalf("consumed %d of %d: %v", n, parts*perPart, err)
				}
				fs.EachError(func(topic string, p int32, err error) { t.Fatalf("fetch %s/%d: %v", topic, p, err) })
				fs.EachRecord(func(r *kgo.Record) {
					i := next[r.Partition]
					if r.Offset != int64(i) || string(r.Key) != fmt.Sprintf("k%d", i) ||
						binary.BigEndian.Uint64(r.Value[100:]) != uint64(i) || string(r.Headers[0].Value) != fmt.Sprint(i) {
						t.Fatalf("partition %d: record %d has offset %d key %q", r.Partition, i, r.Offset, r.Key)
					}
					next[r.Partition]++
					n++
				})
			}
		})
	}
}

func TestRestartKeepsDataAndDeduplicates(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	rc := b.raw(t)
	ip := rc.do(&kmsg.InitProducerIDRequest{Version: 4, TransactionTimeoutMillis: -1, ProducerID: -1, ProducerEpoch: -1}).(*kmsg.InitProducerIDResponse)
	if ip.ErrorCode != 0 {
		t.Fatal(kerr.ErrorForCode(ip.ErrorCode))
	}
	if _, err := b.admin().CreateTopic(context.Background(), 1, 1, nil, "idem"); err != nil {
		t.Fatal(err)
	}
	first := batch(ip.ProducerID, ip.ProducerEpoch, 0, 10, []byte("v"))
	resend := append([]byte(nil), first...) // storage stamps offsets into the request in place
	pr := rc.do(produceReq("idem", 0, -1, first)).(*kmsg.ProduceResponse)
	if p := pr.Topics[0].Partitions[0]; p.ErrorCode != 0 || p.BaseOffset != 0 {
		t.Fatalf("first produce: %v base %d", kerr.ErrorForCode(p.ErrorCode), p.BaseOffset)
	}
	pr = rc.do(produceReq("idem", 0, -1, batch(ip.ProducerID, ip.ProducerEpoch, 10, 5, []byte("w")))).(*kmsg.ProduceResponse)
	if p := pr.Topics[0].Partitions[0]; p.ErrorCode != 0 || p.BaseOffset != 10 {
		t.Fatalf("second produce: %v base %d", kerr.ErrorForCode(p.ErrorCode), p.BaseOffset)
	}

	b = b.restart()
	rc = b.raw(t)
	// The retried first batch is acknowledged with its original offset.
	pr = rc.do(produceReq("idem", 0, -1, resend)).(*kmsg.ProduceResponse)
	if p := pr.Topics[0].Partitions[0]; p.ErrorCode != 0 || p.BaseOffset != 0 {
		t.Fatalf("retry after restart: %v base %d, want duplicate at 0", kerr.ErrorForCode(p.ErrorCode), p.BaseOffset)
	}
	// A gap in the sequence is refused.
	pr = rc.do(produceReq("idem", 0, -1, batch(ip.ProducerID, ip.ProducerEpoch, 99, 1, []byte("x")))).(*kmsg.ProduceResponse)
	if p := pr.Topics[0].Partitions[0]; p.ErrorCode != kerr.OutOfOrderSequenceNumber.Code {
		t.Fatalf("gap: %v, want OUT_OF_ORDER_SEQUENCE_NUMBER", kerr.ErrorForCode(p.ErrorCode))
	}
	// New offsets continue; a new producer id is not one handed out before.
	pr = rc.do(produceReq("idem", 0, -1, batch(ip.ProducerID, ip.ProducerEpoch, 15, 1, []byte("y")))).(*kmsg.ProduceResponse)
	if p := pr.Topics[0].Partitions[0]; p.ErrorCode != 0 || p.BaseOffset != 15 {
		t.Fatalf("after restart: %v base %d, want 15", kerr.ErrorForCode(p.ErrorCode), p.BaseOffset)
	}
	ip2 := rc.do(&kmsg.InitProducerIDRequest{Version: 4, TransactionTimeoutMillis: -1, ProducerID: -1, ProducerEpoch: -1}).(*kmsg.InitProducerIDResponse)
	if ip2.ProducerID <= ip.ProducerID {
		t.Fatalf("producer id %d reused after restart (had %d)", ip2.ProducerID, ip.ProducerID)
	}
	// Every record is there once.
	c := b.client(kgo.ConsumeTopics("idem"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	var got []string
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for len(got) < 16 && ctx.Err() == nil {
		c.PollFetches(ctx).EachRecord(func(r *kgo.Record) { got = append(got, fmt.Sprintf("%d:%s", r.Offset, r.Value)) })
	}
	want := "0:v 1:v 2:v 3:v 4:v 5:v 6:v 7:v 8:v 9:v 10:w 11:w 12:w 13:w 14:w 15:y"
	if fmt.Sprint(got) != "["+want+"]" {
		t.Fatalf("got %v\nwant [%s]", got, want)
	}
}

func TestPipelinedResponsesInOrder(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	rc := b.raw(t)
	rc.do(&kmsg.MetadataRequest{Version: 1, Topics: []kmsg.MetadataRequestTopic{{Topic: kmsg.StringPtr("pipe")}}})
	var reqs []kmsg.Request
	var corrs []int32
	for i := 0; i < 50; i++ {
		var r kmsg.Request
		switch i % 3 {
		case 0:
			r = &kmsg.ApiVersionsRequest{Version: 3, ClientSoftwareName: "t", ClientSoftwareVersion: "1"}
		case 1:
			r = &kmsg.MetadataRequest{Version: 1}
		default:
			r = produceReq("pipe", 0, 1, batch(-1, -1, -1, 1, []byte("x")))
		}
		reqs = append(reqs, r)
		corrs = append(corrs, rc.send(r))
	}
	for i, r := range reqs {
		rc.recv(r, corrs[i]) // fails on an out-of-order correlation id
	}
}

func TestAcksZero(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	if _, err := b.admin().CreateTopic(context.Background(), 1, 1, nil, "a0"); err != nil {
		t.Fatal(err)
	}
	rc := b.raw(t)
	rc.send(produceReq("a0", 0, 0, batch(-1, -1, -1, 3, []byte("x"))))
	// No response to acks=0: the next response we read is the Metadata one.
	md := &kmsg.MetadataRequest{Version: 1}
	rc.recv(md, rc.send(md))
	lo := rc.do(&kmsg.ListOffsetsRequest{Version: 4, ReplicaID: -1, Topics: []kmsg.ListOffsetsRequestTopic{{Topic: "a0", Partitions: []kmsg.ListOffsetsRequestTopicPartition{{Partition: 0, Timestamp: -1, CurrentLeaderEpoch: -1}}}}}).(*kmsg.ListOffsetsResponse)
	if off := lo.Topics[0].Partitions[0].Offset; off != 3 {
		t.Fatalf("latest offset %d, want 3", off)
	}
	// A failed acks=0 produce closes the connection so the client notices.
	bad := batch(-1, -1, -1, 1, []byte("x"))
	bad[len(bad)-1] ^= 0xff
	rc.send(produceReq("a0", 0, 0, bad))
	rc.expectClosed()
}

func TestGarbageClosesOnlyThatConnection(t *testing.T) {
	t.Parallel()
	b := startBroker(t, "socket.request.max.bytes=1048576", "message.max.bytes=1000000")
	size := func(n uint32) []byte { return binary.BigEndian.AppendUint32(nil, n) }
	unknownKey := kmsg.NewRequestFormatter().AppendRequest(nil, &kmsg.MetadataRequest{Version: 1}, 1)
	binary.BigEndian.PutUint16(unknownKey[4:], 999)
	badVersion := kmsg.NewRequestFormatter().AppendRequest(nil, &kmsg.MetadataRequest{Version: 1}, 1)
	binary.BigEndian.PutUint16(badVersion[6:], 77)
	truncated := kmsg.NewRequestFormatter().AppendRequest(nil, produceReq("t", 0, 1, batch(-1, -1, -1, 1, nil)), 1)
	binary.BigEndian.PutUint32(truncated, uint32(len(truncated)-4-20))
	truncated = truncated[:len(truncated)-20]
	random := make([]byte, 4096)
	rand.New(rand.NewSource(1)).Read(random)
	for _, tc := range []struct {
		name string
		in   []byte
	}{
		{"random bytes", random},
		{"negative size", size(0xfffffff0)},
		{"2 GiB size", size(1 << 31)},
		{"over socket.request.max.bytes", size(2 << 20)},
		{"zero size", size(0)},
		{"unknown api key", unknownKey},
		{"unsupported version", badVersion},
		{"truncated body", truncated},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rc := b.raw(t)
			rc.c.Write(tc.in)
			rc.expectClosed()
			// The broker still serves others.
			ok := b.raw(t)
			if resp := ok.do(&kmsg.MetadataRequest{Version: 1}).(*kmsg.MetadataResponse); len(resp.Brokers) != 1 {
				t.Fatalf("metadata after garbage: %+v", resp)
			}
		})
	}
}

func TestApiVersions(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	rc := b.raw(t)
	resp := rc.do(&kmsg.ApiVersionsRequest{Version: 3, ClientSoftwareName: "t", ClientSoftwareVersion: "1"}).(*kmsg.ApiVersionsResponse)
	if resp.ErrorCode != 0 || len(resp.ApiKeys) != len(handlers) {
		t.Fatalf("error %d, %d keys, want %d", resp.ErrorCode, len(resp.ApiKeys), len(handlers))
	}
	for _, k := range resp.ApiKeys {
		if k.ApiKey == 0 && (k.MinVersion != 0 || k.MaxVersion != 13) { // served from v0 (message sets of magic 0/1)
			t.Fatalf("produce versions %d-%d", k.MinVersion, k.MaxVersion)
		}
	}
	// A version newer than we know: UNSUPPORTED_VERSION in v0, with the list.
	f := kmsg.NewRequestFormatter().AppendRequest(nil, &kmsg.ApiVersionsRequest{Version: 0}, 42)
	binary.BigEndian.PutUint16(f[6:], 99)
	rc.c.Write(f)
	old := rc.recv(&kmsg.ApiVersionsRequest{Version: 0}, 42).(*kmsg.ApiVersionsResponse)
	if old.ErrorCode != kerr.UnsupportedVersion.Code || len(old.ApiKeys) != len(handlers) {
		t.Fatalf("fallback: error %d, %d keys", old.ErrorCode, len(old.ApiKeys))
	}
}

func TestFetchLongPoll(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	b := startBrokerOpts(t, []Option{WithClock(clock)})
	if _, err := b.admin().CreateTopic(context.Background(), 1, 1, nil, "lp"); err != nil {
		t.Fatal(err)
	}
	// fetch sends a Fetch and returns its response's channel once the
	// broker is waiting on the clock for it (it armed a timer).
	fetch := func(offset int64, wait int32) <-chan *kmsg.FetchResponse {
		req := kmsg.NewPtrFetchRequest()
		req.Version = 11
		req.ReplicaID = -1
		req.MaxWaitMillis = wait
		req.MinBytes = 1
		req.MaxBytes = 1 << 20
		req.SessionEpoch = -1
		req.Topics = []kmsg.FetchRequestTopic{{Topic: "lp", Partitions: []kmsg.FetchRequestTopicPartition{{Partition: 0, FetchOffset: offset, CurrentLeaderEpoch: -1, PartitionMaxBytes: 1 << 20}}}}
		rc := b.raw(t)
		armed := clock.pending()
		out := make(chan *kmsg.FetchResponse, 1)
		corr := rc.send(req)
		go func() {
			resp, err := rc.tryRecv(req, corr)
			if err != nil {
				t.Errorf("fetch: %v", err)
				out <- nil
				return
			}
			out <- resp.(*kmsg.FetchResponse)
		}()
		waitFor(t, "fetch waiting", 10*time.Second, func() bool { return clock.pending() > armed || len(out) > 0 })
		return out
	}
	answered := func(ch <-chan *kmsg.FetchResponse) bool { return len(ch) > 0 }
	// Nothing to read: the fetch waits out max_wait on the broker's clock
	// (20 s: on the wall clock the response would miss tryRecv's deadline).
	empty := fetch(0, 20000)
	clock.Advance(19999 * time.Millisecond)
	if answered(empty) {
		t.Fatal("empty fetch answered before max_wait")
	}
	clock.Advance(time.Millisecond)
	resp := <-empty
	if resp == nil {
		t.Fatal("empty fetch failed")
	}
	if p := resp.Topics[0].Partitions[0]; p.ErrorCode != 0 || len(p.RecordBatches) != 0 {
		t.Fatalf("empty fetch: err %d, %d bytes", p.ErrorCode, len(p.RecordBatches))
	}
	// A produce during the wait answers it, with the clock standing still.
	woken := fetch(0, 20000)
	if answered(woken) {
		t.Fatal("fetch answered before the produce")
	}
	producer := b.raw(t)
	req := produceReq("lp", 0, 1, batch(-1, -1, -1, 2, []byte("hi")))
	if _, err := producer.tryRecv(req, producer.send(req)); err != nil {
		t.Fatalf("produce: %v", err)
	}
	if resp = <-woken; resp == nil {
		t.Fatal("woken fetch failed")
	}
	p := resp.Topics[0].Partitions[0]
	if p.ErrorCode != 0 || p.HighWatermark != 2 {
		t.Fatalf("woken fetch: err %d hw %d", p.ErrorCode, p.HighWatermark)
	}
	var rb kmsg.RecordBatch
	if err := rb.ReadFrom(p.RecordBatches); err != nil || rb.NumRecords != 2 {
		t.Fatalf("batch: %v, %d records", err, rb.NumRecords)
	}
	// Beyond the log end: OFFSET_OUT_OF_RANGE at once.
	if resp = <-fetch(5, 20000); resp == nil || resp.Topics[0].Partitions[0].ErrorCode != kerr.OffsetOutOfRange.Code {
		t.Fatalf("out of range: %d", resp.Topics[0].Partitions[0].ErrorCode)
	}
}

func TestFetchMaxBytesReturnsOneWholeBatch(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	rc := b.raw(t)
	rc.do(&kmsg.MetadataRequest{Version: 1, Topics: []kmsg.MetadataRequestTopic{{Topic: kmsg.StringPtr("mb")}}})
	big := bytes.Repeat([]byte("z"), 10000)
	rc.do(produceReq("mb", 0, 1, batch(-1, -1, -1, 1, big)))
	rc.do(produceReq("mb", 0, 1, batch(-1, -1, -1, 1, big)))
	req := kmsg.NewPtrFetchRequest()
	req.Version = 12
	req.ReplicaID = -1
	req.MaxBytes = 100
	req.SessionEpoch = -1
	req.Topics = []kmsg.FetchRequestTopic{{Topic: "mb", Partitions: []kmsg.FetchRequestTopicPartition{{Partition: 0, CurrentLeaderEpoch: -1, LastFetchedEpoch: -1, PartitionMaxBytes: 100}}}}
	p := rc.do(req).(*kmsg.FetchResponse).Topics[0].Partitions[0]
	var rb kmsg.RecordBatch
	if err := rb.ReadFrom(p.RecordBatches); err != nil || len(p.RecordBatches) != int(rb.Length)+12 {
		t.Fatalf("want exactly one whole batch, got %d bytes (%v)", len(p.RecordBatches), err)
	}
}

func TestProduceValidation(t *testing.T) {
	t.Parallel()
	b := startBroker(t, "message.max.bytes=2000")
	rc := b.raw(t)
	good := func() []byte { return batch(-1, -1, -1, 1, []byte("ok")) }
	badCRC := good()
	badCRC[len(badCRC)-1] ^= 1
	badMagic := good()
	badMagic[16] = 1
	zstd := good()
	zstd[22] |= 4 // attributes low byte: codec 4
	for _, tc := range []struct {
		name    string
		version int16
		acks    int16
		topic   string
		records []byte
		want    *kerr.Error
	}{
		{"ok", 9, 1, "v", good(), nil},
		{"bad crc", 9, 1, "v", badCRC, kerr.CorruptMessage},
		{"bad magic", 9, 1, "v", badMagic, kerr.UnsupportedForMessageFormat},
		{"truncated", 9, 1, "v", good()[:30], kerr.CorruptMessage},
		{"too large", 9, 1, "v", batch(-1, -1, -1, 1, make([]byte, 3000)), kerr.MessageTooLarge},
		{"bad acks", 9, 2, "v", good(), kerr.InvalidRequiredAcks},
		{"zstd before v7", 6, 1, "v", zstd, kerr.UnsupportedCompressionType},
		{"unknown partition", 9, 1, "v", good(), kerr.UnknownTopicOrPartition},
	} {
		req := produceReq(tc.topic, 0, tc.acks, tc.records)
		req.Version = tc.version
		if tc.name == "unknown partition" {
			req.Topics[0].Partitions[0].Partition = 7
		}
		if tc.name == "ok" {
			rc.do(&kmsg.MetadataRequest{Version: 1, Topics: []kmsg.MetadataRequestTopic{{Topic: kmsg.StringPtr("v")}}})
		}
		p := rc.do(req).(*kmsg.ProduceResponse).Topics[0].Partitions[0]
		if got := kerr.ErrorForCode(p.ErrorCode); got != error(tc.want) && !(tc.want == nil && got == nil) {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
}
