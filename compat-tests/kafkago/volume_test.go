package kafkago

import (
	"context"
	"encoding/binary"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"gregor/compat-tests/internal/compat"
)

// TestVolume: a kafka-go Writer writes N 1 KiB records to a 16-partition
// topic; 16 partition Readers (no group) read every one back in
// per-partition order with no gaps and no duplicates.
func TestVolume(t *testing.T) {
	run(t, "volume", func(t *compat.T) {
		n := compat.Records(500_000)
		topic := compat.Topic(client, "volume")
		createTopic(t, topic, compat.VolumePartitions)
		w := writer(topic)
		w.BatchSize = 1000
		w.BatchBytes = 1 << 20
		w.BatchTimeout = 5 * time.Millisecond
		// The partition is in the value's first 4 bytes.
		w.Balancer = kafka.BalancerFunc(func(m kafka.Message, _ ...int) int { return int(binary.BigEndian.Uint32(m.Value[0:4])) })
		written := map[int32]int64{}
		msgs := make([]kafka.Message, 0, n)
		for i := 0; i < n; i++ {
			p := int32(i % compat.VolumePartitions)
			msgs = append(msgs, kafka.Message{Value: compat.NewVolumeValue(p, written[p])})
			written[p]++
		}
		ctx := ctxT(t, 10*time.Minute)
		start := time.Now()
		const chunk = 16000 // WriteMessages blocks per call; feed it large slices
		for i := 0; i < n; i += chunk {
			t.Check(w.WriteMessages(ctx, msgs[i:min(i+chunk, n)]...), "write")
		}
		prodDur := time.Since(start)
		t.Check(w.Close(), "close writer")
		msgs = nil

		type rec struct {
			p int32
			v []byte
		}
		ch := make(chan rec, 4096)
		rctx, cancel := context.WithCancel(ctx)
		defer cancel()
		for p := 0; p < compat.VolumePartitions; p++ {
			r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{compat.Bootstrap()}, Topic: topic, Partition: p, MinBytes: 1, MaxBytes: 10 << 20, MaxWait: 100 * time.Millisecond})
			defer r.Close()
			go func(r *kafka.Reader, p int32) {
				for {
					m, err := r.ReadMessage(rctx)
					if err != nil {
						return
					}
					ch <- rec{p, m.Value}
				}
			}(r, int32(p))
		}
		chk := compat.NewSeqChecker()
		start = time.Now()
		timeout := time.After(5 * time.Minute)
		for chk.Total < n {
			select {
			case r := <-ch:
				chk.Add(r.p, r.v)
			case <-timeout:
				t.Fatalf("timed out after %d of %d", chk.Total, n)
			}
		}
		consDur := time.Since(start)
		extra := time.After(500 * time.Millisecond)
	drain:
		for {
			select {
			case r := <-ch:
				chk.Add(r.p, r.v)
			case <-extra:
				break drain
			}
		}
		t.Check(chk.Verify(written), "read back")
		if chk.Total != n {
			t.Fatalf("read %d, wrote %d", chk.Total, n)
		}
		t.Detail("%d x 1 KiB, 16 partitions: produce %s (%.1fs), consume %s (%.1fs), per-partition order exact", n, compat.MBps(int64(n)*compat.VolumeRecordSize, prodDur), prodDur.Seconds(), compat.MBps(chk.Bytes, consDur), consDur.Seconds())
	})
}
