package gregortest_test

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"gregor/gregortest"
)

// fetchCounts are one broker's follower fetch counters (gregor_replica_fetch_*).
type fetchCounts struct{ full, incremental, partitions, forgotten, bytes float64 }

func replicaFetches(t *testing.T, c *gregortest.Cluster, i int) fetchCounts {
	t.Helper()
	var fc fetchCounts
	for _, m := range []struct {
		name string
		v    *float64
	}{
		{`gregor_replica_fetch_requests_total{session="full"}`, &fc.full},
		{`gregor_replica_fetch_requests_total{session="incremental"}`, &fc.incremental},
		{"gregor_replica_fetch_request_partitions_total", &fc.partitions},
		{"gregor_replica_fetch_forgotten_partitions_total", &fc.forgotten},
		{"gregor_replica_fetch_request_bytes_total", &fc.bytes},
	} {
		v, ok := scrape(c, i, m.name)
		if !ok {
			t.Fatalf("broker %d: no %s", i+1, m.name)
		}
		*m.v = v
	}
	return fc
}

func (a fetchCounts) minus(b fetchCounts) fetchCounts {
	return fetchCounts{a.full - b.full, a.incremental - b.incremental, a.partitions - b.partitions, a.forgotten - b.forgotten, a.bytes - b.bytes}
}

// waitUntil polls cond every 100 ms for up to limit.
func waitUntil(limit time.Duration, cond func() bool) bool {
	for end := time.Now().Add(limit); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return false
}

// TestFollowerFetchSessions (issue 17): three brokers replicate 300
// partitions (RF 3, min.insync.replicas 2) under acks=all produce, with
// one broker killed and restarted in the middle. Followers fetch with
// incremental fetch sessions (KIP-227): after the first full fetch of a
// session they send incremental ones, which under load name fewer
// partitions than the session holds and, idle, none at all; every
// acknowledged record reads back at its offset, and the ISR of every
// partition is full again at the end.
func TestFollowerFetchSessions(t *testing.T) {
	if testing.Short() {
		t.Skip("produces to 300 partitions for about a minute")
	}
	t.Parallel()
	const topic, partitions = "sessions", 300
	c := gregortest.NewCluster(t, gregortest.Brokers(3), gregortest.Override("http.listeners=http://127.0.0.1:0"))
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	adm := kadm.NewClient(c.Client())
	mir := "2"
	if _, err := adm.CreateTopic(ctx, partitions, 3, map[string]*string{"min.insync.replicas": &mir}, topic); err != nil {
		t.Fatal(err)
	}
	isrFull := func() bool {
		for i := range c.Len() {
			for p := range int32(partitions) {
				l, isr, ok := c.Broker(i).Partition(topic, p)
				if !ok || l < 0 || len(isr) != 3 {
					return false
				}
			}
		}
		return true
	}
	c.WaitFor("every partition led with its ISR full", 2*time.Minute, isrFull)

	producer := c.Client(kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.MaxBufferedRecords(2000))
	type at struct {
		p   int32
		off int64
	}
	var (
		mu    sync.Mutex
		acked = map[at]string{}
		errs  int
		wg    sync.WaitGroup
	)
	ackedN := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(acked)
	}
	stop := make(chan struct{})
	var prodWG sync.WaitGroup
	prodWG.Go(func() {
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			if i%30 == 0 { // 3,000 records/s over every partition
				select {
				case <-stop:
					return
				case <-tick.C:
				}
			}
			wg.Add(1)
			v := strconv.Itoa(i)
			producer.Produce(ctx, &kgo.Record{Value: []byte(v), Partition: int32(i % partitions)}, func(r *kgo.Record, err error) {
				defer wg.Done()
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					errs++
					return
				}
				acked[at{r.Partition, r.Offset}] = string(r.Value)
			})
		}
	})

	before := make([]fetchCounts, c.Len())
	for i := range c.Len() {
		before[i] = replicaFetches(t, c, i)
	}
	c.WaitFor("produce progress", time.Minute, func() bool { return ackedN() >= 6000 })
	var load fetchCounts
	for i := range c.Len() {
		d := replicaFetches(t, c, i).minus(before[i])
		load.full, load.incremental, load.partitions, load.bytes = load.full+d.full, load.incremental+d.incremental, load.partitions+d.partitions, load.bytes+d.bytes
		if d.incremental < 10*max(d.full, 1) {
			t.Errorf("broker %d under load: %v full and %v incremental fetches", i+1, d.full, d.incremental)
		}
	}
	// Each broker follows 200 partitions from two leaders: ~100 a session.
	perReq := load.partitions / (load.full + load.incremental)
	t.Logf("under load: %v full + %v incremental follower fetches, %.1f partitions and %.0f B a request",
		load.full, load.incremental, perReq, load.bytes/(load.full+load.incremental))
	if perReq >= 100 {
		t.Errorf("under load: %.1f partitions a request, as many as a session holds", perReq)
	}

	// Broker 3 killed and restarted: the survivors' sessions with it end
	// (connection errors, then an unknown session id) and start over.
	c.Kill(2)
	n := ackedN()
	c.WaitFor("produce progress without broker 3", time.Minute, func() bool { return ackedN() >= n+3000 })
	c.Restart(2)
	n = ackedN()
	c.WaitFor("produce progress with broker 3 back", time.Minute, func() bool { return ackedN() >= n+3000 })
	close(stop)
	prodWG.Wait()
	wg.Wait()
	producer.Close()
	restarted := time.Now()
	if !waitUntil(3*time.Minute, isrFull) {
		short := 0
		for p := range int32(partitions) {
			l, isr, _ := c.Broker(0).Partition(topic, p)
			if len(isr) == 3 {
				continue
			}
			if short++; short <= 5 {
				var offs []string
				for i := range c.Len() {
					end, hw, _ := c.Broker(i).LogOffsets(topic, p)
					offs = append(offs, fmt.Sprintf("b%d end %d hw %d", i+1, end, hw))
				}
				t.Logf("partition %d: leader %d isr %v, %v", p, l, isr, offs)
			}
		}
		for i := range c.Len() {
			t.Logf("broker %d: %+v", i+1, replicaFetches(t, c, i))
		}
		t.Fatalf("%d partitions without a full ISR", short)
	}
	t.Logf("%d records acknowledged, %d produce errors (the kill); every ISR full %v after produce stopped", len(acked), errs, time.Since(restarted).Round(time.Millisecond))

	// Idle: no follower fetch names a partition any more.
	c.WaitFor("followers idle", time.Minute, func() bool {
		a := make([]fetchCounts, c.Len())
		for i := range c.Len() {
			a[i] = replicaFetches(t, c, i)
		}
		time.Sleep(2 * time.Second) // a window to count requests in, not synchronisation
		var d fetchCounts
		for i := range c.Len() {
			x := replicaFetches(t, c, i).minus(a[i])
			d.full, d.incremental, d.partitions, d.bytes = d.full+x.full, d.incremental+x.incremental, d.partitions+x.partitions, d.bytes+x.bytes
		}
		if d.full != 0 || d.partitions != 0 || d.incremental < 6 {
			return false
		}
		t.Logf("idle: %v incremental follower fetches in 2 s, %.0f B a request", d.incremental, d.bytes/d.incremental)
		return true
	})

	// Every acknowledged record, at its offset.
	cons := c.Client(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond))
	defer cons.Close()
	seen := map[at]bool{}
	for len(seen) < len(acked) && ctx.Err() == nil {
		fs := cons.PollFetches(ctx)
		if err := fs.Err0(); err != nil && ctx.Err() == nil {
			t.Fatalf("consume: %v", err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if v, ok := acked[at{r.Partition, r.Offset}]; ok {
				if v != string(r.Value) {
					t.Fatalf("%d/%d: read %q, acknowledged %q", r.Partition, r.Offset, r.Value, v)
				}
				seen[at{r.Partition, r.Offset}] = true
			}
		})
	}
	if len(seen) != len(acked) {
		t.Fatalf("read back %d of %d acknowledged records", len(seen), len(acked))
	}
	for i := range c.Len() {
		if v, _ := scrape(c, i, "gregor_isr_shrinks_total"); v > 0 {
			t.Logf("broker %d shrank %v ISRs (the kill)", i+1, v)
		}
	}
}
