package gregortest_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/gregortest"
	"gregor/storage"
)

// waitLeader returns the index of the partition's leader as the running
// brokers agree on it, waiting for a leader with a full-enough ISR.
func waitLeader(t *testing.T, c *gregortest.Cluster, topic string, minISR int, not int32) int {
	t.Helper()
	return waitLeaderWithin(t, c, topic, minISR, not, 60*time.Second)
}

// waitLeaderWithin is waitLeader with its own time limit.
func waitLeaderWithin(t *testing.T, c *gregortest.Cluster, topic string, minISR int, not int32, limit time.Duration) int {
	t.Helper()
	leader := int32(-1)
	c.WaitFor(fmt.Sprintf("a leader of %s-0 other than %d with %d in sync", topic, not, minISR), limit, func() bool {
		leader = -1
		for i := 0; i < c.Len(); i++ {
			b := c.Broker(i)
			if !b.Running() || b.ControllerOnly() {
				continue
			}
			l, isr, ok := b.Partition(topic, 0)
			if !ok || l < 0 || l == not || len(isr) < minISR || (leader >= 0 && l != leader) {
				return false
			}
			leader = l
		}
		return leader > 0 && c.Broker(int(leader-1)).Running()
	})
	return int(leader - 1)
}

func createTopic(t *testing.T, c *gregortest.Cluster, topic string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	adm := kadm.NewClient(c.Client())
	mir := "2"
	if _, err := adm.CreateTopic(ctx, 1, 3, map[string]*string{"min.insync.replicas": &mir}, topic); err != nil {
		t.Fatal(err)
	}
	waitLeader(t, c, topic, 3, -1)
}

// TestKillLeaderWhileProducing: acks=all idempotent produce runs while the
// partition leader is killed and restarted three times; every acknowledged
// record is read back exactly once, in order, at the offset it was
// acknowledged with.
func TestKillLeaderWhileProducing(t *testing.T) {
	t.Parallel()
	c := gregortest.NewCluster(t, gregortest.Brokers(3))
	createTopic(t, c, "kill")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	producer := c.Client(kgo.DefaultProduceTopic("kill"), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.MaxBufferedRecords(500))
	load := startAckLoad(ctx, producer)
	for round := 0; round < 3; round++ {
		load.progress(c, "produce progress")
		victim := waitLeader(t, c, "kill", 3, -1)
		start := time.Now()
		c.Kill(victim)
		waitLeader(t, c, "kill", 2, int32(victim+1))
		t.Logf("round %d: killed leader %d, new leader after %v", round, victim+1, time.Since(start))
		load.progress(c, "produce progress after the kill")
		c.Restart(victim)
		waitLeaderWithin(t, c, "kill", 3, -1, 2*time.Minute)
	}
	readBackOnce(ctx, t, c, "kill", load.finish(t))
}

// TestIsolateLeader: an isolated leader stops acknowledging acks=all, the
// majority elects a new leader and keeps acknowledging; healed, the old
// leader follows the new one and rejoins the ISR.
func TestIsolateLeader(t *testing.T) {
	t.Parallel()
	c := gregortest.NewCluster(t, gregortest.Brokers(3))
	createTopic(t, c, "iso")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rec := func(s string) *kgo.Record { return &kgo.Record{Topic: "iso", Value: []byte(s)} }
	if err := c.Client(kgo.RequiredAcks(kgo.AllISRAcks())).ProduceSync(ctx, rec("before")).FirstErr(); err != nil {
		t.Fatal(err)
	}

	old := waitLeader(t, c, "iso", 3, -1)
	c.Isolate(old)
	// The isolated leader cannot reach the other replicas nor the
	// controller: it never acknowledges an acks=all produce. (Asked
	// directly: a kgo client would find the new leader through the others.)
	if code := produceDirect(ctx, t, c, old, "iso", "isolated"); code == 0 {
		t.Fatal("isolated leader acknowledged an acks=all produce")
	} else {
		t.Logf("isolated leader answered acks=all with %v", kerr.ErrorForCode(code))
	}

	// The majority moves leadership away and keeps acknowledging.
	var majority []string
	for i := 0; i < c.Len(); i++ {
		if i != old {
			majority = append(majority, c.Broker(i).Addr())
		}
	}
	var newLeader int32
	c.WaitFor("majority elects a new leader", 60*time.Second, func() bool {
		for i := 0; i < c.Len(); i++ {
			if i == old {
				continue
			}
			l, isr, ok := c.Broker(i).Partition("iso", 0)
			if !ok || l < 0 || l == int32(old+1) || slices.Contains(isr, int32(old+1)) {
				return false
			}
			newLeader = l
		}
		return true
	})
	cl, err := kgo.NewClient(append(c.ClientOpts(), kgo.SeedBrokers(majority...), kgo.RequiredAcks(kgo.AllISRAcks()))...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.ProduceSync(ctx, rec("majority")).FirstErr(); err != nil {
		t.Fatalf("majority produce: %v", err)
	}

	c.Heal(old)
	c.WaitFor("healed node follows the new leader and rejoins the ISR", 60*time.Second, func() bool {
		for i := 0; i < c.Len(); i++ {
			l, isr, ok := c.Broker(i).Partition("iso", 0)
			if !ok || l != newLeader || len(isr) != 3 {
				return false
			}
		}
		return true
	})
	// The healed node's replica has what the majority acknowledged.
	c.WaitFor("healed replica caught up", 30*time.Second, func() bool {
		leo, _, ok := c.Broker(old).LogOffsets("iso", 0)
		nl, _, _ := c.Broker(int(newLeader-1)).LogOffsets("iso", 0)
		return ok && leo == nl
	})
}

// oneRecordBatch is a v2 record batch of one record, no producer id.
// produceDirect sends one acks=all record to partition 0 of topic on
// broker i itself (no routing, no retries) and returns the partition's
// error code.
func produceDirect(ctx context.Context, t *testing.T, c *gregortest.Cluster, i int, topic, value string) int16 {
	t.Helper()
	td, err := kadm.NewClient(c.Broker(i).Client()).ListTopics(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	req := kmsg.NewPtrProduceRequest()
	req.Acks, req.TimeoutMillis = -1, 3000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rt.TopicID = td[topic].ID // kgo sends Produce v13, which names topics by ID
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = oneRecordBatch([]byte(value))
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := c.Broker(i).Request(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	return resp.(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode
}

func oneRecordBatch(value []byte) []byte {
	now := time.Now().UnixMilli()
	return storage.BuildBatch(storage.BatchHeader{PartitionLeaderEpoch: -1, BaseTimestamp: now, MaxTimestamp: now,
		ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}, []storage.Record{{Value: value}})
}
