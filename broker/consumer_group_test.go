package broker

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// describeConsumerGroup sends ConsumerGroupDescribe for one group.
func describeConsumerGroup(t *testing.T, cl *kgo.Client, group string) kmsg.ConsumerGroupDescribeResponseGroup {
	t.Helper()
	req := kmsg.NewPtrConsumerGroupDescribeRequest()
	req.Groups = []string{group}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	return resp.Groups[0]
}

// TestConsumerGroupKgo: two kgo members of a KIP-848 group consume a topic
// exactly once across the rebalance when the second joins, and the group
// reads as a consumer group in ConsumerGroupDescribe, ListGroups and
// DescribeGroups.
func TestConsumerGroupKgo(t *testing.T) {
	t.Parallel()
	b := groupBroker(t, "group.consumer.heartbeat.interval.ms=100", "http.listeners=http://127.0.0.1:0")
	const topic, group, n = "kip848", "kip848-group", 2000
	createTopic(t, b, topic, 6)

	vc := &valueCounter{seen: map[string]int{}}
	record, count := vc.record, vc.distinct
	opts := []kgo.Opt{kgo.ServerSideBalancer(), kgo.Balancers(kgo.CooperativeStickyBalancer())}
	a := newGroupConsumer(t, b, "a", group, topic, record, opts...)
	waitFor(t, "a owns 6 partitions", 20*time.Second, func() bool { return a.ownedCount() == 6 })
	produceN(t, b, topic, "x", n/2)
	waitFor(t, "first half consumed", 20*time.Second, func() bool { return count() >= n/2 })

	c := newGroupConsumer(t, b, "c", group, topic, record, opts...)
	produceN(t, b, topic, "y", n/2)
	waitFor(t, "3 partitions each", 20*time.Second, func() bool { return a.ownedCount() == 3 && c.ownedCount() == 3 })
	waitFor(t, "every record consumed", 20*time.Second, func() bool { return count() == n })
	if rep := vc.repeated(); len(rep) > 0 {
		t.Errorf("consumed more than once: %v", rep)
	}

	admin := b.client()
	d := describeConsumerGroup(t, admin, group)
	if d.ErrorCode != 0 || len(d.Members) != 2 || d.AssignorName != "uniform" {
		t.Fatalf("ConsumerGroupDescribe: %v %+v", kerr.ErrorForCode(d.ErrorCode), d)
	}
	for _, m := range d.Members {
		if m.MemberEpoch != d.Epoch && d.State == "Stable" {
			t.Errorf("member %s epoch %d, group %d", m.MemberID, m.MemberEpoch, d.Epoch)
		}
		if len(m.Assignment.TopicPartitions) != 1 || len(m.Assignment.TopicPartitions[0].Partitions) != 3 {
			t.Errorf("member %s assignment %+v", m.MemberID, m.Assignment)
		}
	}
	// Metrics see the consumer group too.
	fams := scrape(t, b)
	if v, ok := metricValue(fams, "gregor_consumer_group_members", map[string]string{"group": group}); !ok || v != 2 {
		t.Errorf("gregor_consumer_group_members = %v (%v)", v, ok)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ls, err := b.admin().ListGroupsByType(ctx, []string{"consumer"})
	if err != nil {
		t.Fatal(err)
	}
	if l, ok := ls[group]; !ok || l.ProtocolType != "consumer" {
		t.Fatalf("ListGroups(consumer): %+v", ls)
	}
	if ls, _ := b.admin().ListGroupsByType(ctx, []string{"classic"}); len(ls) != 0 {
		t.Fatalf("ListGroups(classic): %+v", ls)
	}
	dg := kmsg.NewPtrDescribeGroupsRequest()
	dg.Version, dg.Groups = 5, []string{group}
	if resp, err := dg.RequestWith(ctx, admin); err != nil || resp.Groups[0].ErrorCode != kerr.GroupIDNotFound.Code {
		t.Fatalf("DescribeGroups of a consumer group: %v %+v", err, resp)
	}
	if del, err := b.admin().DeleteGroup(ctx, group); err == nil && del.Err == nil {
		t.Fatal("deleted a group with members")
	}

	// Both leave: the group is empty, its offsets stay, and it can be deleted.
	a.cl.Close()
	c.cl.Close()
	waitFor(t, "group empty", 10*time.Second, func() bool { return describeConsumerGroup(t, admin, group).State == "Empty" })
	offs, err := b.admin().FetchOffsets(ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	total := int64(0)
	offs.Each(func(o kadm.OffsetResponse) { total += o.At })
	if total != n {
		t.Fatalf("committed offsets sum to %d, want %d", total, n)
	}
	if del, err := b.admin().DeleteGroup(ctx, group); err != nil || del.Err != nil {
		t.Fatalf("delete: %v %v", err, del.Err)
	}
}

// TestConsumerGroupRestart: a consumer group member's epoch and
// assignment survive a broker restart (__consumer_offsets replay), and
// the member heartbeats on with its epoch; an OffsetCommit with a stale
// member epoch gets STALE_MEMBER_EPOCH.
func TestConsumerGroupRestart(t *testing.T) {
	t.Parallel()
	b := groupBroker(t)
	const topic, group = "kip848-restart", "kip848-restart-group"
	createTopic(t, b, topic, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	heartbeat := func(cl *kgo.Client, epoch int32) *kmsg.ConsumerGroupHeartbeatResponse {
		t.Helper()
		req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
		req.Group, req.MemberID, req.MemberEpoch = group, "member-1", epoch
		req.RebalanceTimeoutMillis = 10000
		req.SubscribedTopicNames = []string{topic}
		req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
			t.Fatalf("heartbeat: %v", err)
		}
		return resp
	}
	tds, err := b.admin().ListTopics(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	topicID := tds[topic].ID
	resp := heartbeat(b.client(), 0)
	if resp.MemberEpoch != 1 || resp.Assignment == nil || len(resp.Assignment.Topics) != 1 || len(resp.Assignment.Topics[0].Partitions) != 3 {
		t.Fatalf("join: %+v", resp)
	}
	commit := func(cl *kgo.Client, epoch int32) int16 {
		req := kmsg.NewPtrOffsetCommitRequest()
		req.Version, req.Group, req.MemberID, req.Generation = 9, group, "member-1", epoch
		rt := kmsg.NewOffsetCommitRequestTopic()
		rt.Topic, rt.TopicID = topic, topicID
		rt.Partitions = []kmsg.OffsetCommitRequestTopicPartition{{Partition: 1, Offset: 7, LeaderEpoch: -1}}
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		return resp.Topics[0].Partitions[0].ErrorCode
	}
	if code := commit(b.client(), 1); code != 0 {
		t.Fatalf("commit: %v", kerr.ErrorForCode(code))
	}
	if code := commit(b.client(), 0); code != kerr.StaleMemberEpoch.Code {
		t.Fatalf("stale commit: %v", kerr.ErrorForCode(code))
	}

	b = b.restart()
	cl := b.client()
	d := describeConsumerGroup(t, cl, group)
	if d.ErrorCode != 0 || d.Epoch != 1 || len(d.Members) != 1 || d.Members[0].MemberEpoch != 1 ||
		len(d.Members[0].Assignment.TopicPartitions) != 1 || len(d.Members[0].Assignment.TopicPartitions[0].Partitions) != 3 {
		t.Fatalf("after restart: %v %+v", kerr.ErrorForCode(d.ErrorCode), d)
	}
	if resp := heartbeat(cl, 1); resp.MemberEpoch != 1 {
		t.Fatalf("heartbeat after restart: %+v", resp)
	}
	offs, err := kadm.NewClient(cl).FetchOffsets(ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := offs.Lookup(topic, 1); !ok || o.At != 7 {
		t.Fatalf("offset after restart: %+v", offs)
	}
}
