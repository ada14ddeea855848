package broker

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// txnProduce runs one transaction of n records on topic partition 0 and
// ends it with commit.
func txnProduce(t *testing.T, ctx context.Context, cl *kgo.Client, topic string, n int, commit kgo.TransactionEndTry) error {
	t.Helper()
	if err := cl.BeginTransaction(); err != nil {
		return err
	}
	for i := range n {
		r := &kgo.Record{Topic: topic, Partition: 0, Value: []byte{byte(i)}}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			return err
		}
	}
	return cl.EndTransaction(ctx, commit)
}

func TestTxnCommitAndAbortWriteMarkers(t *testing.T) {
	b := startBroker(t, "transaction.state.log.num.partitions=3")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const topic = "txn-markers"
	if _, err := b.admin().CreateTopic(ctx, 1, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	cl := b.client(kgo.TransactionalID("tx-1"), kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.DefaultProduceTopic(topic))
	if err := txnProduce(t, ctx, cl, topic, 5, kgo.TryCommit); err != nil {
		t.Fatalf("commit: %v", err)
	}
	if err := txnProduce(t, ctx, cl, topic, 3, kgo.TryAbort); err != nil {
		t.Fatalf("abort: %v", err)
	}
	p := b.srv.parts.lookup(topic, 0)
	if p == nil {
		t.Fatal("no partition")
	}
	// 5 records + COMMIT + 3 records + ABORT; markers are written after
	// EndTxn is answered, so wait for them.
	waitFor(t, "both markers", 30*time.Second, func() bool {
		return p.log.LogEndOffset() == 10 && p.log.LastStableOffset() == 10
	})
	ab := p.log.AbortedTransactions(0, 10)
	if len(ab) != 1 || ab[0].FirstOffset != 6 {
		t.Fatalf("aborted transactions %+v, want one starting at 6", ab)
	}
	// The coordinator's view: the id is back to CompleteAbort.
	adm := kadm.NewClient(b.client())
	waitFor(t, "CompleteAbort", 30*time.Second, func() bool {
		d, err := adm.DescribeTransactions(ctx, "tx-1")
		if err != nil {
			return false
		}
		return d["tx-1"].State == "CompleteAbort"
	})
	l, err := adm.ListTransactions(ctx, nil, nil)
	if err != nil || len(l) != 1 {
		t.Fatalf("list transactions: %v %v", err, l)
	}
	// __transaction_state exists, internal, with the configured partitions.
	td, err := adm.ListTopicsWithInternal(ctx, txnStateTopic)
	if err != nil || len(td[txnStateTopic].Partitions) != 3 {
		t.Fatalf("__transaction_state: %v %+v", err, td)
	}
}

func TestTxnFencedBySecondProducer(t *testing.T) {
	b := startBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const topic = "txn-fence"
	if _, err := b.admin().CreateTopic(ctx, 1, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	opts := []kgo.Opt{kgo.TransactionalID("tx-fence"), kgo.RecordPartitioner(kgo.ManualPartitioner())}
	first := b.client(opts...)
	if err := first.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := first.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("a")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	// The second producer's InitProducerId bumps the epoch and aborts the
	// first's open transaction.
	second := b.client(opts...)
	if err := txnProduce(t, ctx, second, topic, 1, kgo.TryCommit); err != nil {
		t.Fatalf("second producer: %v", err)
	}
	err := first.EndTransaction(ctx, kgo.TryCommit)
	if !errors.Is(err, kerr.ProducerFenced) && !errors.Is(err, kerr.InvalidProducerEpoch) {
		t.Fatalf("first producer commit: %v, want fenced", err)
	}
	p := b.srv.parts.lookup(topic, 0)
	// a, ABORT (fencing), b, COMMIT.
	waitFor(t, "markers", 30*time.Second, func() bool {
		return p.log.LogEndOffset() == 4 && p.log.LastStableOffset() == 4
	})
	if ab := p.log.AbortedTransactions(0, 4); len(ab) != 1 || ab[0].FirstOffset != 0 {
		t.Fatalf("aborted %+v, want the first producer's transaction", ab)
	}
}
