package broker

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestTxnGroupTransactSessionETL runs franz-go's GroupTransactSession
// (consume, produce, commit the consumed offsets in the transaction) over
// an input topic: the output holds each input record exactly once for a
// read_committed reader, and the group's committed offsets reach the end
// only through TxnOffsetCommit + COMMIT markers.
func TestTxnGroupTransactSessionETL(t *testing.T) {
	b := startBroker(t, "transaction.state.log.num.partitions=3", "offsets.topic.num.partitions=3")
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	adm := b.admin()
	if _, err := adm.CreateTopic(ctx, 2, 1, nil, "etl-in"); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.CreateTopic(ctx, 2, 1, nil, "etl-out"); err != nil {
		t.Fatal(err)
	}
	const n = 500
	in := b.client()
	for i := range n {
		if err := in.ProduceSync(ctx, &kgo.Record{Topic: "etl-in", Value: fmt.Appendf(nil, "%d", i)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	sess, err := kgo.NewGroupTransactSession(
		kgo.SeedBrokers(b.addr),
		kgo.TransactionalID("etl-1"),
		kgo.ConsumerGroup("etl"),
		kgo.ConsumeTopics("etl-in"),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.DefaultProduceTopic("etl-out"),
	)
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	done := 0
	for done < n && ctx.Err() == nil {
		fs := sess.PollFetches(ctx)
		if err := sess.Begin(); err != nil {
			t.Fatalf("begin: %v", err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			sess.Produce(ctx, &kgo.Record{Value: append([]byte("out-"), r.Value...)}, nil)
		})
		committed, err := sess.End(ctx, kgo.TryCommit)
		if err != nil {
			t.Fatalf("end: %v", err)
		}
		if committed {
			done += fs.NumRecords()
		}
	}
	if done != n {
		t.Fatalf("transformed %d of %d", done, n)
	}
	out := b.client(kgo.ConsumeTopics("etl-out"), kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	seen := map[string]int{}
	total := 0
	for total < n && ctx.Err() == nil {
		out.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			seen[string(r.Value)]++
			total++
		})
	}
	for i := range n {
		if c := seen[fmt.Sprintf("out-%d", i)]; c != 1 {
			t.Fatalf("out-%d seen %d times, want once (total %d)", i, c, total)
		}
	}
	offs, err := kadm.NewClient(b.client()).FetchOffsets(ctx, "etl")
	if err != nil {
		t.Fatal(err)
	}
	var sum int64
	offs.Each(func(o kadm.OffsetResponse) { sum += o.At })
	if sum != n {
		t.Fatalf("group etl committed %d offsets in total, want %d", sum, n)
	}
}
