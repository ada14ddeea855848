package broker

import (
	"context"
	"encoding/binary"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/wire"
)

// benchTopic starts a broker and creates topic with n partitions.
func benchTopic(b *testing.B, topic string, n int32) *testBroker {
	b.Helper()
	tb := startBroker(b)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := tb.admin().CreateTopic(ctx, n, 1, nil, topic); err != nil {
		b.Fatal(err)
	}
	return tb
}

// benchRecords is one 16 KiB batch: 16 records of 1000 bytes, no producer
// id (so the same bytes can be appended again and again).
func benchRecords() []byte {
	v := make([]byte, 1000)
	for i := range v {
		v[i] = byte(i * 31)
	}
	return batch(-1, -1, -1, 16, v)
}

// BenchmarkProduce measures one acks=-1 Produce request of a 16 KiB batch.
//
//	conn:    through a real loopback connection, one request in flight:
//	         read, decode, handle, append, encode, write, and the client
//	         reading the response.
//	handler: the handler called directly with a decoded request (no
//	         socket, no decode): validation, metadata lookup, log append.
func BenchmarkProduce(b *testing.B) {
	b.Run("conn", func(b *testing.B) {
		tb := benchTopic(b, "bench", 1)
		req := produceReq("bench", 0, -1, benchRecords())
		frame := kmsg.NewRequestFormatter(kmsg.FormatterClientID("bench")).AppendRequest(nil, req, 0)
		c, err := net.Dial("tcp", tb.addr)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		var resp []byte
		b.SetBytes(int64(len(req.Topics[0].Partitions[0].Records)))
		b.ReportAllocs()
		corr := int32(0)
		for b.Loop() {
			corr++
			binary.BigEndian.PutUint32(frame[8:], uint32(corr)) // size, key, version, then corr
			if _, err := c.Write(frame); err != nil {
				b.Fatal(err)
			}
			if resp, err = wire.ReadFrame(c, resp[:0], 1<<20); err != nil {
				b.Fatal(err)
			}
			if got := int32(binary.BigEndian.Uint32(resp)); got != corr {
				b.Fatalf("correlation id %d, want %d", got, corr)
			}
		}
		b.StopTimer()
		checkProduced(b, resp[4:], req)
	})
	b.Run("handler", func(b *testing.B) {
		tb := benchTopic(b, "bench", 1)
		req := produceReq("bench", 0, -1, benchRecords())
		r := &request{Header: wire.Header{Key: req.Key(), Version: req.Version}, body: req}
		b.SetBytes(int64(len(req.Topics[0].Partitions[0].Records)))
		b.ReportAllocs()
		for b.Loop() {
			resp, err := produceHandler.fn(tb.srv.deps, r)
			if err != nil {
				b.Fatal(err)
			}
			if code := resp.(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode; code != 0 {
				b.Fatalf("error code %d", code)
			}
		}
	})
}

// BenchmarkProducePipelined keeps up to 16 requests in flight on one
// connection (as kgo does with max in-flight requests), 8 partitions
// round robin: the broker's read/handle/write overlap, not the round trip.
func BenchmarkProducePipelined(b *testing.B) {
	const partitions, inflight = 8, 16
	tb := benchTopic(b, "bench", partitions)
	f := kmsg.NewRequestFormatter(kmsg.FormatterClientID("bench"))
	records := benchRecords()
	var frames [][]byte
	for p := int32(0); p < partitions; p++ {
		frames = append(frames, f.AppendRequest(nil, produceReq("bench", p, -1, records), 0))
	}
	c, err := net.Dial("tcp", tb.addr)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	errc := make(chan error, 1)
	readerDone := make(chan struct{})
	sem := make(chan struct{}, inflight)
	b.SetBytes(int64(len(records)))
	b.ReportAllocs()
	b.ResetTimer()
	go func() { // reader: one response per request, in order
		defer close(readerDone)
		var buf []byte
		var err error
		for i := 0; i < b.N && err == nil; i++ {
			buf, err = wire.ReadFrame(c, buf[:0], 1<<20)
			<-sem
		}
		errc <- err
	}()
	for n := 0; n < b.N; n++ {
		select {
		case sem <- struct{}{}:
		case <-readerDone:
			b.Fatal(<-errc)
		}
		fr := frames[n%partitions]
		binary.BigEndian.PutUint32(fr[8:], uint32(n))
		if _, err := c.Write(fr); err != nil {
			b.Fatal(err)
		}
	}
	if err := <-errc; err != nil {
		b.Fatal(err)
	}
}

func checkProduced(b *testing.B, body []byte, req *kmsg.ProduceRequest) {
	b.Helper()
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	if wire.ResponseHeaderFlexible(resp) {
		body = body[1:]
	}
	if err := resp.ReadFrom(body); err != nil {
		b.Fatal(err)
	}
	if code := resp.Topics[0].Partitions[0].ErrorCode; code != 0 {
		b.Fatalf("error code %d", code)
	}
}
