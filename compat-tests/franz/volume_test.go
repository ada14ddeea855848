package franz

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"gregor/compat-tests/internal/compat"
)

// TestVolume: a default franz-go producer (idempotent, snappy) writes N
// 1 KiB records to a 16-partition topic; a consumer reads every one back
// in per-partition order with no gaps and no duplicates.
func TestVolume(t *testing.T) {
	run(t, "volume", func(t *compat.T) {
		n := compat.Records(1_000_000)
		topic := compat.Topic(client, "volume")
		createTopic(t, kadm.NewClient(newClient(t)), topic, compat.VolumePartitions, nil)

		// Default options except the partitioner: each record says which
		// partition it was written to, so it must go there.
		prod := newClient(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
		written := map[int32]int64{}
		var failed atomic.Int64
		var firstErr atomic.Value
		var wg sync.WaitGroup
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		start := time.Now()
		for i := 0; i < n; i++ {
			p := int32(i % compat.VolumePartitions)
			seq := written[p]
			written[p]++
			wg.Add(1)
			prod.Produce(ctx, &kgo.Record{Topic: topic, Partition: p, Value: compat.NewVolumeValue(p, seq)}, func(_ *kgo.Record, err error) {
				if err != nil && failed.Add(1) == 1 {
					firstErr.Store(err)
				}
				wg.Done()
			})
		}
		wg.Wait()
		prodDur := time.Since(start)
		if f := failed.Load(); f > 0 {
			t.Fatalf("%d of %d records failed, first: %v", f, n, firstErr.Load())
		}
		prodBytes := int64(n) * compat.VolumeRecordSize

		offsets := map[string]map[int32]kgo.Offset{topic: {}}
		for p := int32(0); p < compat.VolumePartitions; p++ {
			offsets[topic][p] = kgo.NewOffset().AtStart()
		}
		cons := newClient(t, kgo.ConsumePartitions(offsets), kgo.FetchMaxBytes(50<<20))
		chk := compat.NewSeqChecker()
		start = time.Now()
		for chk.Total < n {
			fs := cons.PollFetches(ctx)
			if ctx.Err() != nil {
				t.Fatalf("timed out after %d of %d records", chk.Total, n)
			}
			for _, e := range fs.Errors() {
				t.Fatalf("fetch %s[%d]: %v", e.Topic, e.Partition, e.Err)
			}
			fs.EachRecord(func(r *kgo.Record) { chk.Add(r.Partition, r.Value) })
		}
		consDur := time.Since(start)
		// Nothing more may arrive: a duplicate would show up here.
		short, c2 := context.WithTimeout(context.Background(), 500*time.Millisecond)
		fs := cons.PollFetches(short)
		c2()
		fs.EachRecord(func(r *kgo.Record) { chk.Add(r.Partition, r.Value) })
		t.Check(chk.Verify(written), "read back")
		if chk.Total != n {
			t.Fatalf("read %d records, wrote %d", chk.Total, n)
		}
		t.Detail("%d x 1 KiB, 16 partitions: produce %s (%.1fs), consume %s (%.1fs), per-partition order exact", n, compat.MBps(prodBytes, prodDur), prodDur.Seconds(), compat.MBps(chk.Bytes, consDur), consDur.Seconds())
	})
}
