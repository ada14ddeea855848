package wire

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/storage"
)

// benchProduceFrame returns a whole Produce request frame (size prefix
// included) as kgo sends it: one topic, one partition, one uncompressed
// 16 KiB batch of 16 records of 1000 bytes.
func benchProduceFrame(tb testing.TB, version int16) []byte {
	tb.Helper()
	const n, size = 16, 1000
	now := time.Now().UnixMilli()
	value := make([]byte, size)
	for i := range value {
		value[i] = byte(i * 31)
	}
	recs := make([]storage.Record, n)
	for i := range recs {
		recs[i] = storage.Record{Value: value}
	}
	batch := storage.BuildBatch(storage.BatchHeader{PartitionLeaderEpoch: -1, BaseTimestamp: now, MaxTimestamp: now,
		ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}, recs)

	req := kmsg.NewPtrProduceRequest()
	req.Version = version
	req.Acks = -1
	req.TimeoutMillis = 30000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = "bench-topic"
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = batch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return kmsg.NewRequestFormatter(kmsg.FormatterClientID("kgo")).AppendRequest(nil, req, 1)
}

// BenchmarkReadFrameParseProduce is the broker's decode path for one
// produce request: read the frame off a connection (here a bytes.Reader)
// into a reused buffer, then decode header and body with kmsg.
func BenchmarkReadFrameParseProduce(b *testing.B) {
	for _, v := range []int16{3, 9, 11} { // v9 is the first flexible version
		b.Run(fmt.Sprintf("v%d", v), func(b *testing.B) {
			in := benchProduceFrame(b, v)
			r := bytes.NewReader(in)
			var buf []byte
			b.SetBytes(int64(len(in)))
			b.ReportAllocs()
			for b.Loop() {
				r.Reset(in)
				frame, err := ReadFrame(r, buf, DefaultMaxFrameSize)
				if err != nil {
					b.Fatal(err)
				}
				buf = frame[:0]
				req, err := ParseRequest(frame, nil)
				if err != nil {
					b.Fatal(err)
				}
				if len(req.Body.(*kmsg.ProduceRequest).Topics[0].Partitions[0].Records) < 16000 {
					b.Fatal("records lost")
				}
			}
		})
	}
}

// BenchmarkParseHeader is the header alone: what an error path or a
// dispatcher that defers body decoding would pay.
func BenchmarkParseHeader(b *testing.B) {
	frame := benchProduceFrame(b, 9)[4:]
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := ParseHeader(frame); err != nil {
			b.Fatal(err)
		}
	}
}
