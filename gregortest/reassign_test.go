package gregortest_test

import (
	"context"
	"crypto/rand"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/gregortest"
)

// replicasOf returns the partition's replicas as broker i's metadata has them.
func replicasOf(t *testing.T, c *gregortest.Cluster, i int, topic string) []int32 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	resp, err := c.Broker(i).Request(ctx, req)
	if err != nil {
		return nil
	}
	for _, mt := range resp.(*kmsg.MetadataResponse).Topics {
		if len(mt.Partitions) > 0 {
			return mt.Partitions[0].Replicas
		}
	}
	return nil
}

func ongoing(t *testing.T, ctx context.Context, cl *kgo.Client) []kmsg.ListPartitionReassignmentsResponseTopic {
	t.Helper()
	resp, err := kmsg.NewPtrListPartitionReassignmentsRequest().RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	return resp.Topics
}

// producer runs acks=all idempotent produce to topic, paced, recording
// the offset of every acknowledged record.
type producer struct {
	mu    sync.Mutex
	acked map[int]int64
	errs  []error
	wg    sync.WaitGroup
	stop  chan struct{}
	done  chan struct{}
}

func startProducer(ctx context.Context, c *gregortest.Cluster, topic string) *producer {
	pr := &producer{acked: map[int]int64{}, stop: make(chan struct{}), done: make(chan struct{})}
	cl := c.Client(kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.MaxBufferedRecords(500))
	go func() {
		defer close(pr.done)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			if i%20 == 0 {
				select {
				case <-pr.stop:
					return
				case <-tick.C:
				}
			}
			pr.wg.Add(1)
			cl.Produce(ctx, &kgo.Record{Value: []byte(strconv.Itoa(i))}, func(r *kgo.Record, err error) {
				defer pr.wg.Done()
				pr.mu.Lock()
				defer pr.mu.Unlock()
				if err != nil {
					pr.errs = append(pr.errs, err)
					return
				}
				n, _ := strconv.Atoi(string(r.Value))
				pr.acked[n] = r.Offset
			})
		}
	}()
	return pr
}

func (pr *producer) n() int {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	return len(pr.acked)
}

// finish stops producing, waits for every callback and checks that
// every acknowledged record reads back once, at its offset.
func (pr *producer) finish(t *testing.T, ctx context.Context, c *gregortest.Cluster, topic string) {
	t.Helper()
	close(pr.stop)
	<-pr.done
	pr.wg.Wait()
	if len(pr.errs) > 0 {
		t.Fatalf("%d produce errors, first: %v", len(pr.errs), pr.errs[0])
	}
	consumer := c.Client(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	seen := map[int]bool{}
	for len(seen) < len(pr.acked) && ctx.Err() == nil {
		consumer.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			n, err := strconv.Atoi(string(r.Value))
			if err != nil {
				return // not the producer's (a test's preloaded data)
			}
			if seen[n] {
				t.Fatalf("record %d read twice", n)
			}
			if off, ok := pr.acked[n]; ok && off != r.Offset {
				t.Fatalf("record %d acknowledged at offset %d, read at %d", n, off, r.Offset)
			}
			seen[n] = true
		})
	}
	for n, off := range pr.acked {
		if !seen[n] {
			t.Fatalf("acknowledged record %d (offset %d) not read back", n, off)
		}
	}
	t.Logf("%d acknowledged records read back", len(pr.acked))
}

// TestReassignMoveUnderProduce moves a partition from brokers {1,2} to
// {2,3} while an acks=all producer runs: broker 3 catches up as a
// follower, joins the ISR, broker 1 (the leader) leaves and deletes its
// log, leadership moves to broker 2, and every acknowledged record is
// read back.
func TestReassignMoveUnderProduce(t *testing.T) {
	t.Parallel()
	c := gregortest.NewCluster(t, gregortest.Brokers(3))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	adm := kadm.NewClient(c.Client())
	// Manual assignment: partition 0 on {1,2}, 1 leading.
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = "mv-under-produce", -1, -1
	ra := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
	ra.Partition, ra.Replicas = 0, []int32{1, 2}
	rt.ReplicaAssignment = append(rt.ReplicaAssignment, ra)
	req.Topics = append(req.Topics, rt)
	req.TimeoutMillis = 30000
	cresp, err := req.RequestWith(ctx, c.Client())
	if err != nil || cresp.Topics[0].ErrorCode != 0 {
		t.Fatalf("create: %v %+v", err, cresp)
	}
	const topic = "mv-under-produce"
	c.WaitFor("mv on {1,2} with both in sync", 60*time.Second, func() bool {
		l, isr, ok := c.Broker(0).Partition(topic, 0)
		return ok && l == 1 && len(isr) == 2
	})
	pr := startProducer(ctx, c, topic)
	c.WaitFor("produce progress", 60*time.Second, func() bool { return pr.n() >= 500 })

	var ar kadm.AlterPartitionAssignmentsReq
	ar.Assign(topic, 0, []int32{2, 3})
	start := time.Now()
	res, err := adm.AlterPartitionAssignments(ctx, ar)
	if err != nil {
		t.Fatal(err)
	}
	if err := res.Error(); err != nil {
		t.Fatal(err)
	}
	c.WaitFor("reassignment to complete", 2*time.Minute, func() bool {
		if len(ongoing(t, ctx, c.Client())) != 0 {
			return false
		}
		for i := range 3 {
			if !slices.Equal(replicasOf(t, c, i, topic), []int32{2, 3}) {
				return false
			}
		}
		return true
	})
	t.Logf("reassignment done after %v with %d records acknowledged", time.Since(start), pr.n())
	c.WaitFor("broker 2 to lead with {2,3} in sync", 60*time.Second, func() bool {
		l, isr, ok := c.Broker(2).Partition(topic, 0)
		slices.Sort(isr)
		return ok && l == 2 && slices.Equal(isr, []int32{2, 3})
	})
	c.WaitFor("broker 1 to delete its replica", 30*time.Second, func() bool {
		_, _, ok := c.Broker(0).LogOffsets(topic, 0)
		return !ok
	})
	before := pr.n()
	c.WaitFor("produce progress after the move", 60*time.Second, func() bool { return pr.n() >= before+300 })
	pr.finish(t, ctx, c, topic)
	end2, hw2, _ := c.Broker(1).LogOffsets(topic, 0)
	end3, hw3, _ := c.Broker(2).LogOffsets(topic, 0)
	t.Logf("broker 2 log end %d hw %d, broker 3 log end %d hw %d", end2, hw2, end3, hw3)
}

// TestReassignCancel: a move onto a stopped broker stays in progress
// (ListPartitionReassignments shows it, Metadata the full replica set)
// until it is cancelled, which restores the original replicas; produce
// goes on throughout.
func TestReassignCancel(t *testing.T) {
	t.Parallel()
	c := gregortest.NewCluster(t, gregortest.Brokers(3))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const topic = "mv-cancel"
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, -1, -1
	ra := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
	ra.Partition, ra.Replicas = 0, []int32{1, 2}
	rt.ReplicaAssignment = append(rt.ReplicaAssignment, ra)
	req.Topics = append(req.Topics, rt)
	req.TimeoutMillis = 30000
	if cresp, err := req.RequestWith(ctx, c.Client()); err != nil || cresp.Topics[0].ErrorCode != 0 {
		t.Fatalf("create: %v %+v", err, cresp)
	}
	c.WaitFor("both replicas in sync", 60*time.Second, func() bool {
		l, isr, ok := c.Broker(0).Partition(topic, 0)
		return ok && l == 1 && len(isr) == 2
	})
	c.Stop(2)
	pr := startProducer(ctx, c, topic)
	c.WaitFor("produce progress", 60*time.Second, func() bool { return pr.n() >= 200 })
	adm := kadm.NewClient(c.Client(kgo.SeedBrokers(c.Broker(0).Addr(), c.Broker(1).Addr())))
	var ar kadm.AlterPartitionAssignmentsReq
	ar.Assign(topic, 0, []int32{2, 3})
	if res, err := adm.AlterPartitionAssignments(ctx, ar); err != nil || res.Error() != nil {
		t.Fatalf("assign: %v %v", err, res.Error())
	}
	cl := c.Broker(1).Client()
	got := ongoing(t, ctx, cl)
	if len(got) != 1 || len(got[0].Partitions) != 1 || !slices.Equal(got[0].Partitions[0].AddingReplicas, []int32{3}) ||
		!slices.Equal(got[0].Partitions[0].RemovingReplicas, []int32{1}) {
		t.Fatalf("ongoing = %+v", got)
	}
	// Every running broker answers the same (non-controllers forward it).
	for _, i := range []int{0, 1} {
		resp, err := c.Broker(i).Request(ctx, kmsg.NewPtrListPartitionReassignmentsRequest())
		if err != nil {
			t.Fatal(err)
		}
		if lt := resp.(*kmsg.ListPartitionReassignmentsResponse).Topics; len(lt) != 1 || lt[0].Topic != topic {
			t.Fatalf("broker %d lists %+v", i+1, lt)
		}
	}
	c.WaitFor("metadata to show the full replica set", 30*time.Second, func() bool {
		return slices.Equal(replicasOf(t, c, 0, topic), []int32{2, 3, 1})
	})
	before := pr.n()
	c.WaitFor("produce progress during the reassignment", 60*time.Second, func() bool { return pr.n() >= before+200 })
	ar = nil
	ar.CancelAssign(topic, 0)
	if res, err := adm.AlterPartitionAssignments(ctx, ar); err != nil || res.Error() != nil {
		t.Fatalf("cancel: %v %v", err, res.Error())
	}
	if got := ongoing(t, ctx, cl); len(got) != 0 {
		t.Fatalf("ongoing after cancel = %+v", got)
	}
	c.WaitFor("original replicas back", 30*time.Second, func() bool {
		r := replicasOf(t, c, 0, topic)
		slices.Sort(r)
		return slices.Equal(r, []int32{1, 2})
	})
	// Cancelling again: nothing in progress.
	res, err := adm.AlterPartitionAssignments(ctx, ar)
	if err != nil {
		t.Fatal(err)
	}
	if err := res.Error(); err == nil || !strings.Contains(err.Error(), "NO_REASSIGNMENT_IN_PROGRESS") {
		t.Fatalf("second cancel: %v", err)
	}
	before = pr.n()
	c.WaitFor("produce progress after the cancel", 60*time.Second, func() bool { return pr.n() >= before+200 })
	pr.finish(t, ctx, c, topic)
}

// TestReassignLeaderKilledMidMove: the leader being moved away (broker 1,
// {1,2} -> {2,3}) is killed while broker 3, throttled, is still catching
// up; broker 2 takes over, broker 3 catches up from it and the move
// completes without broker 1; every acknowledged record reads back, and
// broker 1, restarted, deletes its stale replica.
func TestReassignLeaderKilledMidMove(t *testing.T) {
	t.Parallel()
	c := gregortest.NewCluster(t, gregortest.Brokers(3), gregortest.Override("replication.quota.window.num=2", "replica.fetch.max.bytes=65536"))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const topic = "mv-kill"
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, -1, -1
	ra := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
	ra.Partition, ra.Replicas = 0, []int32{1, 2}
	rt.ReplicaAssignment = append(rt.ReplicaAssignment, ra)
	req.Topics = append(req.Topics, rt)
	req.TimeoutMillis = 30000
	if cresp, err := req.RequestWith(ctx, c.Client()); err != nil || cresp.Topics[0].ErrorCode != 0 {
		t.Fatalf("create: %v %+v", err, cresp)
	}
	c.WaitFor("both replicas in sync", 60*time.Second, func() bool {
		l, isr, ok := c.Broker(0).Partition(topic, 0)
		return ok && l == 1 && len(isr) == 2
	})
	// 1.5 MB of incompressible records, so that broker 3, throttled to
	// 300 kB/s, needs seconds to catch up.
	cl := c.Client(kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerBatchMaxBytes(20<<10))
	val := make([]byte, 15<<10)
	for range 100 {
		rand.Read(val)
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: slices.Clone(val)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	adm := kadm.NewClient(c.Client())
	if res, err := adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Name: "follower.replication.throttled.rate", Value: kadm.StringPtr("300000")}}, 3); err != nil || res[0].Err != nil {
		t.Fatalf("throttle: %v %v", err, res)
	}
	if res, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: "follower.replication.throttled.replicas", Value: kadm.StringPtr("0:3")}}, topic); err != nil || res[0].Err != nil {
		t.Fatalf("throttle: %v %v", err, res)
	}
	c.WaitFor("broker 3 to have the throttle", 30*time.Second, func() bool {
		return configValue(ctx, c.Broker(2), kmsg.ConfigResourceTypeTopic, topic, "follower.replication.throttled.replicas") == "0:3" &&
			configValue(ctx, c.Broker(2), kmsg.ConfigResourceTypeBroker, "3", "follower.replication.throttled.rate") == "300000"
	})
	pr := startProducer(ctx, c, topic)
	c.WaitFor("produce progress", 60*time.Second, func() bool { return pr.n() >= 200 })
	var ar kadm.AlterPartitionAssignmentsReq
	ar.Assign(topic, 0, []int32{2, 3})
	if res, err := adm.AlterPartitionAssignments(ctx, ar); err != nil || res.Error() != nil {
		t.Fatalf("assign: %v %v", err, res.Error())
	}
	if got := ongoing(t, ctx, c.Broker(1).Client()); len(got) != 1 {
		t.Fatalf("the move completed before the kill (broker 3 not throttled?): %+v", got)
	}
	c.Kill(0)
	c.WaitFor("the move to complete without broker 1", 2*time.Minute, func() bool {
		if len(ongoing(t, ctx, c.Broker(1).Client())) != 0 {
			return false
		}
		l, isr, ok := c.Broker(1).Partition(topic, 0)
		slices.Sort(isr)
		return ok && l == 2 && slices.Equal(isr, []int32{2, 3}) && slices.Equal(replicasOf(t, c, 1, topic), []int32{2, 3})
	})
	before := pr.n()
	c.WaitFor("produce progress after the move", 60*time.Second, func() bool { return pr.n() >= before+200 })
	pr.finish(t, ctx, c, topic)
	c.Restart(0)
	c.WaitFor("restarted broker 1 without the replica", 60*time.Second, func() bool {
		_, _, ok := c.Broker(0).LogOffsets(topic, 0)
		return c.Broker(0).Running() && !ok
	})
}
