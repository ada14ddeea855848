package broker

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The ceiling for consume throughput: what one loopback TCP connection
// carries on this machine, from memory (write) and from a page-cached file
// (sendfile, as Fetch sends record bytes), into a reader that discards.
// Compare with BenchmarkRawFetch (bench/storage.sh runs both).
func BenchmarkLoopbackTCP(b *testing.B) {
	const chunk = 1 << 20
	f, err := os.Create(filepath.Join(b.TempDir(), "cache"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, chunk)
	rand.Read(buf)
	for range 64 {
		f.Write(buf)
	}
	for _, mode := range []string{"write", "sendfile"} {
		b.Run(mode, func(b *testing.B) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			defer ln.Close()
			done := make(chan struct{})
			go func() {
				defer close(done)
				c, err := ln.Accept()
				if err != nil {
					return
				}
				io.Copy(io.Discard, c)
				c.Close()
			}()
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				b.Fatal(err)
			}
			tc := c.(*net.TCPConn)
			b.SetBytes(chunk)
			i := 0
			for b.Loop() {
				if mode == "write" {
					_, err = tc.Write(buf)
				} else {
					// TCPConn.ReadFrom an *os.File section is sendfile(2).
					_, err = tc.ReadFrom(io.NewSectionReader(f, int64(i%64)*chunk, chunk))
				}
				if err != nil {
					b.Fatal(err)
				}
				i++
			}
			c.Close()
			<-done
		})
	}
}

// BenchmarkRawFetch measures Fetch throughput without record decoding:
// Fetch requests for every partition over one connection, offsets advanced
// by walking batch headers, wrapping to 0 at the end. Against the broker at
// GREGOR_BENCH_BROKER, topic GREGOR_BENCH_TOPIC (a separate process, as in
// bench/storage.sh), or else an in-process broker with 8 partitions of
// 32 MiB each.
func BenchmarkRawFetch(b *testing.B) {
	addr, topic := os.Getenv("GREGOR_BENCH_BROKER"), os.Getenv("GREGOR_BENCH_TOPIC")
	ctx := context.Background()
	if addr == "" {
		br := startBroker(b)
		addr, topic = br.addr, "rawfetch"
		if _, err := br.admin().CreateTopic(ctx, 8, 1, nil, topic); err != nil {
			b.Fatal(err)
		}
		cl := br.client(kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.ProducerBatchMaxBytes(1<<20))
		val := make([]byte, 1024)
		rand.Read(val)
		for range 8 {
			var recs []*kgo.Record
			for range 32 << 10 { // 32 MiB per round, spread over the partitions
				recs = append(recs, &kgo.Record{Topic: topic, Value: val})
			}
			if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
				b.Fatal(err)
			}
		}
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	td, err := kadm.NewClient(cl).ListTopics(ctx, topic)
	if err != nil || td.Error() != nil {
		b.Fatal(err, td.Error())
	}
	t := td[topic]
	offs := make([]int64, len(t.Partitions))
	var total int64
	b.ResetTimer()
	for b.Loop() {
		req := kmsg.NewPtrFetchRequest()
		req.MaxBytes = 64 << 20
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic, rt.TopicID = topic, t.ID
		for p := range offs {
			rp := kmsg.NewFetchRequestTopicPartition()
			rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = int32(p), offs[p], 8<<20
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			b.Fatal(err)
		}
		for _, rt := range resp.Topics {
			for _, p := range rt.Partitions {
				if p.ErrorCode != 0 {
					b.Fatalf("partition %d: error %d", p.Partition, p.ErrorCode)
				}
				rb := p.RecordBatches
				total += int64(len(rb))
				for len(rb) >= 61 {
					n := int(binary.BigEndian.Uint32(rb[8:])) + 12
					if n > len(rb) {
						break
					}
					offs[p.Partition] = int64(binary.BigEndian.Uint64(rb)) + int64(binary.BigEndian.Uint32(rb[23:])) + 1
					rb = rb[n:]
				}
				if offs[p.Partition] >= p.HighWatermark {
					offs[p.Partition] = 0
				}
			}
		}
	}
	b.ReportMetric(float64(total)/b.Elapsed().Seconds()/(1<<20), "MiB/s")
}
