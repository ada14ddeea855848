package wire

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// benchProduceFrame returns a whole Produce request frame (size prefix
// included) as kgo sends it: one topic, one partition, one uncompressed
// 16 KiB batch of 16 records of 1000 bytes.
func benchProduceFrame(tb testing.TB, version int16) []byte {
	tb.Helper()
	const n, size = 16, 1000
	now := time.Now().UnixMilli()
	rb := kmsg.RecordBatch{PartitionLeaderEpoch: -1, Magic: 2, LastOffsetDelta: n - 1, FirstTimestamp: now,
		MaxTimestamp: now, ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1, NumRecords: n}
	value := make([]byte, size)
	for i := range value {
		value[i] = byte(i * 31)
	}
	for i := 0; i < n; i++ {
		var body []byte
		body = append(body, 0)                        // attributes
		body = binary.AppendVarint(body, 0)           // timestamp delta
		body = binary.AppendVarint(body, int64(i))    // offset delta
		body = binary.AppendVarint(body, -1)          // key
		body = binary.AppendVarint(body, int64(size)) // value
		body = append(body, value...)
		body = binary.AppendVarint(body, 0) // headers
		rb.Records = binary.AppendVarint(rb.Records, int64(len(body)))
		rb.Records = append(rb.Records, body...)
	}
	batch := rb.AppendTo(nil)
	binary.BigEndian.PutUint32(batch[8:], uint32(len(batch)-12))
	binary.BigEndian.PutUint32(batch[17:], crc32.Checksum(batch[21:], crc32.MakeTable(crc32.Castagnoli)))

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
