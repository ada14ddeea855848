package gregortest_test

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/gregortest"
	"gregor/storage"
)

// TestTxnProduceVerifiedByRemoteCoordinator (KIP-890 part 1): a
// transactional Produce to a partition led by a broker that is not the
// transactional id's coordinator is checked with the coordinator
// (AddPartitionsToTxn verify_only over the inter-broker listener): refused
// with INVALID_TXN_STATE before the producer added the partition to its
// transaction, appended after.
func TestTxnProduceVerifiedByRemoteCoordinator(t *testing.T) {
	t.Parallel()
	c := gregortest.NewCluster(t, gregortest.Brokers(3), gregortest.Override(txnClusterConfig...))
	c.WaitReady()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	const topic, id = "txn-verify", "verify-1"
	cl := c.Client()
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, 6, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	coord := coordinatorOf(t, ctx, cl, id, 1)
	var (
		part   int32 = -1
		leader int
	)
	c.WaitFor("a partition led away from the coordinator", 30*time.Second, func() bool {
		for p := int32(0); p < 6; p++ {
			if l, _, ok := c.Broker(coord).Partition(topic, p); ok && l > 0 && int(l-1) != coord {
				part, leader = p, int(l-1)
				return true
			}
		}
		return false
	})
	pid, epoch := initTxnProducer(t, ctx, cl, id, 60000)
	td, err := adm.ListTopics(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	seq := int32(0)
	produce := func() int16 {
		t.Helper()
		now := time.Now().UnixMilli()
		req := kmsg.NewPtrProduceRequest()
		req.Acks, req.TimeoutMillis, req.TransactionID = -1, 5000, kmsg.StringPtr(id)
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic, rt.TopicID = topic, td[topic].ID
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Partition = part
		rp.Records = storage.BuildBatch(storage.BatchHeader{PartitionLeaderEpoch: -1, BaseTimestamp: now, MaxTimestamp: now,
			Attributes: 0x10, ProducerID: pid, ProducerEpoch: epoch, BaseSequence: seq}, []storage.Record{{Value: []byte("v")}})
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := c.Broker(leader).Request(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		return resp.(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode
	}
	if code := produce(); code != kerr.InvalidTxnState.Code {
		t.Fatalf("produce before AddPartitionsToTxn on node %d (coordinator node %d): %v, want INVALID_TXN_STATE",
			leader+1, coord+1, kerr.ErrorForCode(code))
	}
	if leo, _, _ := c.Broker(leader).LogOffsets(topic, part); leo != 0 {
		t.Fatalf("refused batch appended: log end %d", leo)
	}
	add := kmsg.NewPtrAddPartitionsToTxnRequest()
	add.Version = 3
	add.TransactionalID, add.ProducerID, add.ProducerEpoch = id, pid, epoch
	at := kmsg.NewAddPartitionsToTxnRequestTopic()
	at.Topic, at.Partitions = topic, []int32{part}
	add.Topics = append(add.Topics, at)
	retry(t, ctx, cl, "add partitions", add, func(r kmsg.Response) int16 {
		return r.(*kmsg.AddPartitionsToTxnResponse).Topics[0].Partitions[0].ErrorCode
	})
	if code := produce(); code != 0 {
		t.Fatalf("produce after AddPartitionsToTxn: %v", kerr.ErrorForCode(code))
	}
	if leo, _, _ := c.Broker(leader).LogOffsets(topic, part); leo != 1 {
		t.Fatalf("accepted batch: log end %d, want 1", leo)
	}
}
