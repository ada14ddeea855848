package sarama

import (
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"gregor/compat-tests/internal/compat"
)

// TestVolume: an async sarama producer writes N 1 KiB records to a
// 16-partition topic; 16 partition consumers (no group) read every one
// back in per-partition order with no gaps and no duplicates.
func TestVolume(t *testing.T) {
	run(t, "volume", func(t *compat.T) {
		n := compat.Records(500_000)
		topic := compat.Topic(client, "volume")
		createTopic(t, topic, compat.VolumePartitions, nil)
		conf := config()
		conf.Producer.Flush.Bytes = 1 << 20
		conf.Producer.Flush.Frequency = 5 * time.Millisecond
		conf.ChannelBufferSize = 4096
		prod, err := sarama.NewAsyncProducer([]string{compat.Bootstrap()}, conf)
		t.Check(err, "producer")
		written := map[int32]int64{}
		var errs []error
		var wg sync.WaitGroup
		wg.Add(1)
		acked := 0
		go func() {
			defer wg.Done()
			for acked+len(errs) < n {
				select {
				case <-prod.Successes():
					acked++
				case e := <-prod.Errors():
					errs = append(errs, e)
				}
			}
		}()
		start := time.Now()
		for i := 0; i < n; i++ {
			p := int32(i % compat.VolumePartitions)
			seq := written[p]
			written[p]++
			prod.Input() <- &sarama.ProducerMessage{Topic: topic, Partition: p, Value: sarama.ByteEncoder(compat.NewVolumeValue(p, seq))}
		}
		wg.Wait()
		prodDur := time.Since(start)
		t.Check(prod.Close(), "close producer")
		if len(errs) > 0 {
			t.Fatalf("%d of %d messages failed, first: %v", len(errs), n, errs[0])
		}

		cons, err := sarama.NewConsumer([]string{compat.Bootstrap()}, config())
		t.Check(err, "consumer")
		defer cons.Close()
		type rec struct {
			p int32
			v []byte
		}
		ch := make(chan rec, 4096)
		var pcs []sarama.PartitionConsumer
		for p := int32(0); p < compat.VolumePartitions; p++ {
			pc, err := cons.ConsumePartition(topic, p, sarama.OffsetOldest)
			t.Check(err, "consume partition")
			pcs = append(pcs, pc)
			go func(pc sarama.PartitionConsumer, p int32) {
				for m := range pc.Messages() {
					ch <- rec{p, m.Value}
				}
			}(pc, p)
		}
		defer func() {
			for _, pc := range pcs {
				pc.AsyncClose()
			}
		}()
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
