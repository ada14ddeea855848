package broker_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/gregortest"
	"gregor/storage"
)

// partitionMeta returns a partition's leader and ISR as broker i sees them.
func partitionMeta(c *gregortest.Cluster, i int, topic string, p int32) (leader int32, isr []int32) {
	l, isr, ok := c.Broker(i).Partition(topic, p)
	if !ok {
		return -1, nil
	}
	return l, isr
}

func TestClusterReplicationAndFailover(t *testing.T) {
	t.Parallel()
	c := gregortest.NewCluster(t, gregortest.Brokers(3), gregortest.Override("min.insync.replicas=2"))
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	cl := c.Client(kgo.RequiredAcks(kgo.AllISRAcks()), kgo.DefaultProduceTopic("rep"),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	adm := kadm.NewClient(cl)
	// Created through whichever node kadm picks: non-controllers forward.
	if _, err := adm.CreateTopic(ctx, 3, 3, nil, "rep"); err != nil {
		t.Fatal(err)
	}
	c.WaitFor("topic on every node", 10*time.Second, func() bool {
		for i := range c.Len() {
			if _, isr := partitionMeta(c, i, "rep", 2); len(isr) != 3 {
				return false
			}
		}
		return true
	})

	produce := func(from, to int) {
		t.Helper()
		var wg sync.WaitGroup
		var mu sync.Mutex
		var errs []error
		for i := from; i < to; i++ {
			wg.Add(1)
			cl.Produce(ctx, &kgo.Record{Partition: int32(i % 3), Value: []byte(fmt.Sprint(i))}, func(_ *kgo.Record, err error) {
				defer wg.Done()
				if err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if len(errs) > 0 {
			t.Fatalf("%d produce errors, first: %v", len(errs), errs[0])
		}
	}
	produce(0, 3000)

	// Every replica has every acknowledged record.
	c.WaitFor("followers caught up", 20*time.Second, func() bool {
		for p := int32(0); p < 3; p++ {
			for i := range c.Len() {
				leo, hw, ok := c.Broker(i).LogOffsets("rep", p)
				if !ok || leo != 1000 || hw != 1000 {
					return false
				}
			}
		}
		return true
	})

	// Stop the leader of partition 0: leadership moves to an in-sync
	// replica with a new leader epoch, and nothing acknowledged is lost.
	leader, _ := partitionMeta(c, 0, "rep", 0)
	victim := int(leader - 1)
	var alive []int
	for i := range c.Len() {
		if i != victim {
			alive = append(alive, i)
		}
	}
	start := time.Now()
	c.Stop(victim)
	c.WaitFor("new leader for partition 0", 20*time.Second, func() bool {
		l, _ := partitionMeta(c, alive[0], "rep", 0)
		return l >= 0 && l != leader
	})
	t.Logf("leadership moved %v after stopping node %d", time.Since(start), leader)

	produce(3000, 6000) // two in-sync replicas still satisfy min.insync.replicas=2

	consumer := c.Client(kgo.ConsumeTopics("rep"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())) // seeded with the running nodes
	seen := map[string]bool{}
	last := map[int32]int64{0: -1, 1: -1, 2: -1}
	for len(seen) < 6000 && ctx.Err() == nil {
		fs := consumer.PollFetches(ctx)
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset != last[r.Partition]+1 {
				t.Fatalf("partition %d: offset %d after %d", r.Partition, r.Offset, last[r.Partition])
			}
			last[r.Partition] = r.Offset
			if seen[string(r.Value)] {
				t.Fatalf("duplicate record %s", r.Value)
			}
			seen[string(r.Value)] = true
		})
	}
	if len(seen) != 6000 {
		t.Fatalf("read %d of 6000 records", len(seen))
	}

	// The stopped node comes back, catches up and rejoins every ISR.
	c.Restart(victim)
	c.WaitFor("restarted node back in every ISR", 30*time.Second, func() bool {
		for p := int32(0); p < 3; p++ {
			if _, isr := partitionMeta(c, alive[0], "rep", p); len(isr) != 3 {
				return false
			}
		}
		return true
	})
	for p := int32(0); p < 3; p++ {
		if leo, _, ok := c.Broker(victim).LogOffsets("rep", p); !ok || leo != 2000 {
			t.Fatalf("restarted node partition %d has %v records", p, leo)
		}
	}
	// Preferred leader election gives partition 0 back to its first replica.
	if _, err := adm.ElectLeaders(ctx, kadm.ElectPreferredReplica, kadm.TopicsSet{"rep": {0: {}}}); err != nil {
		t.Fatal(err)
	}
	td, err := kadm.NewClient(c.Broker(alive[0]).Client()).ListTopics(ctx, "rep")
	if err != nil || td["rep"].Err != nil {
		t.Fatal(err, td["rep"].Err)
	}
	preferred := td["rep"].Partitions[0].Replicas[0]
	c.WaitFor("preferred leader", 10*time.Second, func() bool {
		l, _ := partitionMeta(c, alive[0], "rep", 0)
		return l == preferred
	})
}

func TestClusterNotEnoughReplicas(t *testing.T) {
	t.Parallel()
	c := gregortest.NewCluster(t, gregortest.Brokers(3))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	adm := kadm.NewClient(c.Client())
	three := "3"
	if _, err := adm.CreateTopic(ctx, 1, 3, map[string]*string{"min.insync.replicas": &three}, "strict"); err != nil {
		t.Fatal(err)
	}
	c.WaitFor("topic everywhere", 10*time.Second, func() bool {
		for i := range c.Len() {
			if _, isr := partitionMeta(c, i, "strict", 0); len(isr) != 3 {
				return false
			}
		}
		return true
	})
	leader, _ := partitionMeta(c, 0, "strict", 0)
	other := -1
	for i := range c.Len() {
		if c.Broker(i).ID() != leader {
			other = i
		}
	}
	otherID := c.Broker(other).ID()
	c.Stop(other)
	c.WaitFor("isr shrinks", 20*time.Second, func() bool {
		_, isr := partitionMeta(c, int(leader-1), "strict", 0)
		return len(isr) == 2 && !slices.Contains(isr, otherID)
	})
	// kgo retries NOT_ENOUGH_REPLICAS until its delivery timeout: ask the
	// leader directly.
	lb := c.Broker(int(leader - 1))
	td, err := kadm.NewClient(lb.Client()).ListTopics(ctx, "strict")
	if err != nil {
		t.Fatal(err)
	}
	id := td["strict"].ID
	resp, err := lb.Request(ctx, produceReq(id, -1, batch([]byte("x"))))
	if err != nil {
		t.Fatal(err)
	}
	if code := resp.(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode; code != kerr.NotEnoughReplicas.Code {
		t.Fatalf("acks=all with ISR below min.insync.replicas: %v", kerr.ErrorForCode(code))
	}
	// acks=1 still works.
	resp, err = lb.Request(ctx, produceReq(id, 1, batch([]byte("x"))))
	if err != nil {
		t.Fatal(err)
	}
	if code := resp.(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode; code != 0 {
		t.Fatalf("acks=1: %v", kerr.ErrorForCode(code))
	}
}

// produceReq is a Produce of records to partition 0 of a topic, named by
// ID (kgo sends the newest version the broker supports, v13).
func produceReq(topicID [16]byte, acks int16, records []byte) *kmsg.ProduceRequest {
	req := kmsg.NewPtrProduceRequest()
	req.Acks = acks
	req.TimeoutMillis = 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.TopicID = topicID
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = records
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

// batch is a v2 record batch of one record, no producer id.
func batch(value []byte) []byte {
	now := time.Now().UnixMilli()
	return storage.BuildBatch(storage.BatchHeader{PartitionLeaderEpoch: -1, BaseTimestamp: now, MaxTimestamp: now,
		ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}, []storage.Record{{Value: value}})
}

func TestClusterCrashWithGroup(t *testing.T) {
	t.Parallel()
	c := gregortest.NewCluster(t, gregortest.Brokers(3),
		gregortest.Override("offsets.topic.replication.factor=3", "offsets.topic.num.partitions=3"))
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	adm := kadm.NewClient(c.Client())
	if _, err := adm.CreateTopic(ctx, 4, 3, nil, "crash"); err != nil {
		t.Fatal(err)
	}
	p := c.Client(kgo.DefaultProduceTopic("crash"))
	produce := func(from, to int) {
		t.Helper()
		for i := from; i < to; i++ {
			if err := p.ProduceSync(ctx, &kgo.Record{Key: []byte(fmt.Sprint(i % 7)), Value: []byte(fmt.Sprint(i))}).FirstErr(); err != nil {
				t.Fatalf("produce %d: %v", i, err)
			}
		}
	}
	produce(0, 200)

	var mu sync.Mutex
	seen := map[string]bool{}
	consume := func(cl *kgo.Client, until int) {
		t.Helper()
		for {
			mu.Lock()
			n := len(seen)
			mu.Unlock()
			if n >= until || ctx.Err() != nil {
				return
			}
			fs := cl.PollFetches(ctx)
			fs.EachRecord(func(r *kgo.Record) {
				mu.Lock()
				seen[string(r.Value)] = true
				mu.Unlock()
			})
			if err := cl.CommitUncommittedOffsets(ctx); err != nil {
				t.Logf("commit: %v", err)
			}
		}
	}
	c1 := c.Client(kgo.ConsumerGroup("crash-group"), kgo.ConsumeTopics("crash"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit(), kgo.SessionTimeout(6*time.Second))
	consume(c1, 200)

	// Crash the group's coordinator: no controlled shutdown, so the cluster
	// notices by missed heartbeats and elects new leaders from the ISR.
	fc := adm.FindGroupCoordinators(ctx, "crash-group")
	if fc["crash-group"].Err != nil {
		t.Fatal(fc["crash-group"].Err)
	}
	coord := fc["crash-group"].NodeID
	victim := int(coord - 1)
	start := time.Now()
	c.Kill(victim)
	observer := c.Broker((victim + 1) % c.Len())
	c.WaitFor("crashed node fenced", 30*time.Second, func() bool {
		req := kmsg.NewPtrDescribeClusterRequest()
		req.IncludeFencedBrokers = true
		resp, err := observer.Request(ctx, req)
		if err != nil {
			return false
		}
		for _, b := range resp.(*kmsg.DescribeClusterResponse).Brokers {
			if b.NodeID == coord {
				return b.IsFenced
			}
		}
		return false
	})
	t.Logf("crashed node %d fenced after %v", coord, time.Since(start))

	produce(200, 400)
	consume(c1, 400)
	if len(seen) != 400 {
		t.Fatalf("consumed %d of 400", len(seen))
	}
	// Committed offsets survived the coordinator's crash: a new member of
	// the group resumes where c1 committed, not from the start.
	c1.Close()
	c2 := c.Client(kgo.ConsumerGroup("crash-group"), kgo.ConsumeTopics("crash"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	produce(400, 410)
	got := 0
	for got < 10 && ctx.Err() == nil {
		fs := c2.PollFetches(ctx)
		fs.EachRecord(func(r *kgo.Record) {
			var i int
			fmt.Sscan(string(r.Value), &i)
			if i < 400 {
				t.Fatalf("record %d re-read after a committed offset", i)
			}
			got++
		})
	}
}
