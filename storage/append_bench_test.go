package storage

import (
	"fmt"
	"sync"
	"testing"
)

// BenchmarkAppendPartitions appends 16 KiB batches to N logs (partitions)
// at once, one goroutine per log, as the broker does for producers on
// distinct partitions: it shows whether appends to different partitions
// scale or share a bottleneck. b.N batches in total.
func BenchmarkAppendPartitions(b *testing.B) {
	batch := benchBatch()
	for _, n := range []int{1, 2, 8} {
		b.Run(fmt.Sprintf("partitions=%d", n), func(b *testing.B) {
			logs := make([]*Log, n)
			for i := range logs {
				l, err := Open(b.TempDir(), DefaultConfig(), nil)
				if err != nil {
					b.Fatal(err)
				}
				defer l.Close()
				logs[i] = l
			}
			b.SetBytes(int64(len(batch)))
			b.ReportAllocs()
			b.ResetTimer()
			var wg sync.WaitGroup
			errs := make(chan error, n)
			for i, l := range logs {
				count := b.N / n
				if i < b.N%n {
					count++
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					buf := make([]byte, len(batch))
					for j := 0; j < count; j++ {
						copy(buf, batch)
						if _, err := l.Append(buf, 0); err != nil {
							errs <- err
							return
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				b.Fatal(err)
			}
		})
	}
}

// BenchmarkAppendOneLogParallel has every goroutine append to the same log:
// the cost of contention on the log's append lock.
func BenchmarkAppendOneLogParallel(b *testing.B) {
	l, err := Open(b.TempDir(), DefaultConfig(), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	batch := benchBatch()
	b.SetBytes(int64(len(batch)))
	b.ReportAllocs()
	b.SetParallelism(4)
	b.RunParallel(func(pb *testing.PB) {
		buf := make([]byte, len(batch))
		for pb.Next() {
			copy(buf, batch)
			if _, err := l.Append(buf, 0); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
