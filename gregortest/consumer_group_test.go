package gregortest_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/gregortest"
)

// TestConsumerGroupSurvivesCoordinatorKill: two KIP-848 members
// (kgo ServerSideBalancer) share a topic on three nodes; the group's
// coordinator is killed. The new coordinator rebuilds the group from the
// replicated __consumer_offsets records: same group epoch, same members
// with their epochs, no rebalance, and every record is consumed.
func TestConsumerGroupSurvivesCoordinatorKill(t *testing.T) {
	t.Parallel()
	c := gregortest.NewCluster(t, gregortest.Brokers(3), gregortest.Override(
		"offsets.topic.num.partitions=3", "offsets.topic.replication.factor=3",
		"broker.session.timeout.ms=4000", "broker.heartbeat.interval.ms=500",
		"group.consumer.heartbeat.interval.ms=200"))
	const topic, group, n = "kip848-kill", "kip848-kill-group", 400
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	mir := "2"
	if _, err := kadm.NewClient(c.Client()).CreateTopic(ctx, 4, 3, map[string]*string{"min.insync.replicas": &mir}, topic); err != nil {
		t.Fatal(err)
	}
	waitLeader(t, c, topic, 3, -1)

	var mu sync.Mutex
	seen := map[string]bool{}
	members := make([]*kgo.Client, 2)
	for i := range members {
		cl := c.Client(kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic), kgo.ServerSideBalancer(),
			kgo.Balancers(kgo.CooperativeStickyBalancer()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		members[i] = cl
		go func() {
			for {
				fs := cl.PollFetches(context.Background())
				if fs.IsClientClosed() {
					return
				}
				fs.EachRecord(func(r *kgo.Record) {
					mu.Lock()
					seen[string(r.Value)] = true
					mu.Unlock()
				})
			}
		}()
	}
	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(seen)
	}
	produce := func(from, to int) {
		p := c.Client(kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
		for i := from; i < to; i++ {
			if err := p.ProduceSync(ctx, kgo.StringRecord(fmt.Sprint(i))).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	// describe asks the group's coordinator directly (a client's cached
	// coordinator may be the killed node).
	describe := func(cl *kgo.Client) (kmsg.ConsumerGroupDescribeResponseGroup, bool) {
		req := kmsg.NewPtrConsumerGroupDescribeRequest()
		req.Groups = []string{group}
		r, err := c.Broker(coordinatorOf(t, ctx, cl, group, 0)).Request(ctx, req)
		if err != nil {
			return kmsg.ConsumerGroupDescribeResponseGroup{}, false
		}
		resp := r.(*kmsg.ConsumerGroupDescribeResponse)
		return resp.Groups[0], resp.Groups[0].ErrorCode == 0
	}
	var before kmsg.ConsumerGroupDescribeResponseGroup
	c.WaitFor("a stable group of two", 60*time.Second, func() bool {
		d, ok := describe(c.Client())
		before = d
		return ok && d.State == "Stable" && len(d.Members) == 2
	})
	produce(0, n/2)
	c.WaitFor("the first half consumed", 60*time.Second, func() bool { return count() == n/2 })

	gc := coordinatorOf(t, ctx, c.Client(), group, 0)
	c.Kill(gc)
	survivor := c.Client()
	c.WaitFor("a new group coordinator", 60*time.Second, func() bool { return coordinatorOf(t, ctx, survivor, group, 0) != gc })
	var after kmsg.ConsumerGroupDescribeResponseGroup
	c.WaitFor("the group rebuilt on the new coordinator", 60*time.Second, func() bool {
		d, ok := describe(survivor)
		after = d
		return ok && len(d.Members) == 2
	})
	if after.Epoch != before.Epoch || after.AssignmentEpoch != before.AssignmentEpoch {
		t.Fatalf("group epoch %d/%d before the kill, %d/%d after", before.Epoch, before.AssignmentEpoch, after.Epoch, after.AssignmentEpoch)
	}
	for i := range before.Members {
		if before.Members[i].MemberID != after.Members[i].MemberID || before.Members[i].MemberEpoch != after.Members[i].MemberEpoch {
			t.Fatalf("member before %+v\nafter %+v", before.Members[i], after.Members[i])
		}
	}
	produce(n/2, n)
	c.WaitFor("every record consumed", 60*time.Second, func() bool { return count() == n })
	c.WaitFor("members heartbeating on the new coordinator", 30*time.Second, func() bool {
		d, ok := describe(survivor)
		return ok && d.State == "Stable" && len(d.Members) == 2 && d.Epoch == before.Epoch
	})
}
