package gregortest_test

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/gregortest"
)

// txnClusterConfig: small, replicated internal topics and quick fencing
// of killed brokers.
var txnClusterConfig = []string{
	"offsets.topic.num.partitions=3", "offsets.topic.replication.factor=3",
	"transaction.state.log.num.partitions=3", "transaction.state.log.replication.factor=3",
	"transaction.state.log.min.isr=2", "broker.session.timeout.ms=4000", "broker.heartbeat.interval.ms=500",
}

// retriable reports the errors a transactional client retries on after a
// coordinator moved.
func retriable(code int16) bool {
	switch code {
	case kerr.NotCoordinator.Code, kerr.CoordinatorNotAvailable.Code, kerr.CoordinatorLoadInProgress.Code,
		kerr.ConcurrentTransactions.Code, kerr.UnknownServerError.Code, kerr.RequestTimedOut.Code:
		return true
	}
	return false
}

// retry sends req (routed by kgo to its coordinator) until it answers
// without a retriable error, and returns its error code.
func retry(t *testing.T, ctx context.Context, cl *kgo.Client, what string, req kmsg.Request, code func(kmsg.Response) int16) {
	t.Helper()
	for {
		resp, err := cl.Request(ctx, req)
		c := int16(-1)
		if err == nil {
			c = code(resp)
			if c == 0 {
				return
			}
			if !retriable(c) {
				t.Fatalf("%s: %v", what, kerr.ErrorForCode(c))
			}
		}
		if ctx.Err() != nil {
			t.Fatalf("%s: %v %v", what, err, kerr.ErrorForCode(c))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// initTxnProducer sends InitProducerId for transactional id id until it
// succeeds and returns the producer id and epoch.
func initTxnProducer(t *testing.T, ctx context.Context, cl *kgo.Client, id string, timeoutMillis int32) (pid int64, epoch int16) {
	t.Helper()
	init := kmsg.NewPtrInitProducerIDRequest()
	init.Version, init.TransactionalID, init.TransactionTimeoutMillis = 4, kmsg.StringPtr(id), timeoutMillis
	init.ProducerID, init.ProducerEpoch = -1, -1
	retry(t, ctx, cl, "init producer id", init, func(r kmsg.Response) int16 {
		resp := r.(*kmsg.InitProducerIDResponse)
		pid, epoch = resp.ProducerID, resp.ProducerEpoch
		return resp.ErrorCode
	})
	return pid, epoch
}

// coordinatorOf returns the node coordinating key (type 0 group, 1
// transaction) as broker index.
func coordinatorOf(t *testing.T, ctx context.Context, cl *kgo.Client, key string, typ int8) int {
	t.Helper()
	for {
		req := kmsg.NewPtrFindCoordinatorRequest()
		req.Version, req.CoordinatorType, req.CoordinatorKeys = 4, typ, []string{key}
		resp, err := req.RequestWith(ctx, cl)
		if err == nil && resp.Coordinators[0].ErrorCode == 0 && resp.Coordinators[0].NodeID > 0 {
			return int(resp.Coordinators[0].NodeID - 1)
		}
		if ctx.Err() != nil {
			t.Fatalf("find coordinator %q: %v", key, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stableOffset fetches group's offset of topic-0 with require_stable:
// UNSTABLE_OFFSET_COMMIT while a transaction holds one pending.
func stableOffset(ctx context.Context, cl *kgo.Client, group, topic string) (int64, int16, error) {
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Version, req.RequireStable = 8, true
	rg := kmsg.NewOffsetFetchRequestGroup()
	rg.Group = group
	rt := kmsg.NewOffsetFetchRequestGroupTopic()
	rt.Topic, rt.Partitions = topic, []int32{0}
	rg.Topics = append(rg.Topics, rt)
	req.Groups = append(req.Groups, rg)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return 0, 0, err
	}
	g := resp.Groups[0]
	if g.ErrorCode != 0 {
		return 0, g.ErrorCode, nil
	}
	p := g.Topics[0].Partitions[0]
	return p.Offset, p.ErrorCode, nil
}

// TestTxnOffsetsSurviveGroupCoordinatorKill: a transaction commits a
// group offset (TxnOffsetCommit), the group's coordinator is killed before
// EndTxn, and EndTxn commits on the surviving brokers: the group's new
// coordinator replays the pending offset from __consumer_offsets and the
// COMMIT marker makes it the group's offset (it was lost when pending
// offsets lived in memory only). Until then require_stable answers
// UNSTABLE_OFFSET_COMMIT, on the old and on the new coordinator.
func TestTxnOffsetsSurviveGroupCoordinatorKill(t *testing.T) {
	t.Parallel()
	c := gregortest.NewCluster(t, gregortest.Brokers(3),
		gregortest.Override(txnClusterConfig...))
	createTopic(t, c, "txo-in")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const id, group = "txo", "txo-group"
	cl := c.Client()

	pid, epoch := initTxnProducer(t, ctx, cl, id, 120000)
	add := kmsg.NewPtrAddOffsetsToTxnRequest()
	add.Version, add.TransactionalID, add.ProducerID, add.ProducerEpoch, add.Group = 3, id, pid, epoch, group
	retry(t, ctx, cl, "add offsets", add, func(r kmsg.Response) int16 { return r.(*kmsg.AddOffsetsToTxnResponse).ErrorCode })

	commit := kmsg.NewPtrTxnOffsetCommitRequest()
	commit.Version, commit.TransactionalID, commit.Group, commit.ProducerID, commit.ProducerEpoch, commit.Generation = 3, id, group, pid, epoch, -1
	rt := kmsg.NewTxnOffsetCommitRequestTopic()
	rt.Topic = "txo-in"
	rp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
	rp.Partition, rp.Offset, rp.LeaderEpoch = 0, 77, -1
	rt.Partitions = append(rt.Partitions, rp)
	commit.Topics = append(commit.Topics, rt)
	retry(t, ctx, cl, "txn offset commit", commit, func(r kmsg.Response) int16 {
		return r.(*kmsg.TxnOffsetCommitResponse).Topics[0].Partitions[0].ErrorCode
	})
	if off, code, err := stableOffset(ctx, cl, group, "txo-in"); err != nil || code != kerr.UnstableOffsetCommit.Code {
		t.Fatalf("require_stable before the marker: %d %v %v", off, err, kerr.ErrorForCode(code))
	}

	gc := coordinatorOf(t, ctx, cl, group, 0)
	c.Kill(gc)
	survivor := c.Client()
	c.WaitFor("a new group coordinator", 60*time.Second, func() bool {
		return coordinatorOf(t, ctx, survivor, group, 0) != gc
	})
	c.WaitFor("the pending offset on the new coordinator", 60*time.Second, func() bool {
		_, code, err := stableOffset(ctx, survivor, group, "txo-in")
		return err == nil && code == kerr.UnstableOffsetCommit.Code
	})

	end := kmsg.NewPtrEndTxnRequest()
	end.Version, end.TransactionalID, end.ProducerID, end.ProducerEpoch, end.Commit = 3, id, pid, epoch, true
	retry(t, ctx, survivor, "end txn", end, func(r kmsg.Response) int16 { return r.(*kmsg.EndTxnResponse).ErrorCode })
	c.WaitFor("the committed offset", 60*time.Second, func() bool {
		off, code, err := stableOffset(ctx, survivor, group, "txo-in")
		return err == nil && code == 0 && off == 77
	})

	// The dead coordinator comes back and takes nothing back.
	c.Restart(gc)
	c.WaitReady()
	fresh := c.Client()
	c.WaitFor("the committed offset after the restart", 60*time.Second, func() bool {
		off, code, err := stableOffset(ctx, fresh, group, "txo-in")
		return err == nil && code == 0 && off == 77
	})
}
