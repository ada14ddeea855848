package franz

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"gregor/compat-tests/internal/compat"
)

// TestTransactions: a transactional producer's committed records are all a
// read_committed consumer sees, a read_uncommitted one also sees the
// aborted ones, and the broker lists the aborted transaction; a
// GroupTransactSession consume-transform-produce loop (two members, every
// third transaction aborted and redone) writes each input exactly once.
func TestTransactions(t *testing.T) {
	run(t, "txn_commit_abort", func(t *compat.T) {
		compat.RequireAPIs(t, compat.TxnAPIs...)
		topic := compat.Topic(client, "txn_commit_abort")
		createTopic(t, kadm.NewClient(newClient(t)), topic, 1, nil)
		p := newClient(t, kgo.TransactionalID("tx-"+topic), kgo.DefaultProduceTopic(topic))
		ctx := ctxT(t, 30*time.Second)
		var abortedAt int64 = -1
		txn := func(commit bool, vals ...string) {
			t.Helper()
			t.Check(p.BeginTransaction(), "begin")
			for _, v := range vals {
				r, err := p.ProduceSync(ctx, kgo.StringRecord(v)).First()
				t.Check(err, "produce "+v)
				if !commit && abortedAt < 0 {
					abortedAt = r.Offset
				}
			}
			t.Check(p.EndTransaction(ctx, kgo.TransactionEndTry(commit)), "end transaction")
		}
		txn(true, "c0", "c1", "c2")
		txn(false, "a0", "a1", "a2")
		txn(true, "c3", "c4")
		values := func(recs []*kgo.Record) []string {
			var out []string
			for _, r := range recs {
				out = append(out, string(r.Value))
			}
			return out
		}
		got := fmt.Sprint(values(consumeAll(t, topic, 5, kgo.FetchIsolationLevel(kgo.ReadCommitted()))))
		if want := "[c0 c1 c2 c3 c4]"; got != want {
			t.Fatalf("read_committed saw %s, want %s", got, want)
		}
		got = fmt.Sprint(values(consumeAll(t, topic, 8, kgo.FetchIsolationLevel(kgo.ReadUncommitted()))))
		if want := "[c0 c1 c2 a0 a1 a2 c3 c4]"; got != want {
			t.Fatalf("read_uncommitted saw %s, want %s", got, want)
		}
		t.Check(compat.CheckAborted(topic, 0, abortedAt), "aborted transactions")
		t.Detail("read_committed 5, read_uncommitted 8, aborted transaction at offset %d listed", abortedAt)
	})
	run(t, "txn_etl", func(t *compat.T) {
		compat.RequireAPIs(t, append(compat.TxnAPIs, compat.GroupAPIs...)...)
		adm := kadm.NewClient(newClient(t))
		in := compat.Topic(client, "txn_etl_in")
		out := compat.Topic(client, "txn_etl_out")
		createTopic(t, adm, in, 4, nil)
		createTopic(t, adm, out, 4, nil)
		const n = 2000
		recs := make([]*kgo.Record, n)
		for i := range recs {
			recs[i] = &kgo.Record{Topic: in, Value: []byte(fmt.Sprintf("%d", i))}
		}
		pcl := newClient(t)
		for i := 0; i < n; i += 50 { // small batches, so transactions stay small
			produceSync(t, pcl, recs[i:i+50]...)
		}
		group := "g-" + in
		ctx := ctxT(t, 90*time.Second)
		mctx, stop := context.WithCancel(ctx)
		var (
			wg      sync.WaitGroup
			aborted atomic.Int64
			errMu   sync.Mutex
			errs    []error
		)
		for m := range 2 {
			sess, err := kgo.NewGroupTransactSession(
				kgo.SeedBrokers(compat.Bootstrap()),
				kgo.TransactionalID(fmt.Sprintf("%s-%d", group, m)),
				kgo.ConsumerGroup(group),
				kgo.ConsumeTopics(in),
				kgo.FetchIsolationLevel(kgo.ReadCommitted()),
				kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
				kgo.DefaultProduceTopic(out),
				kgo.FetchMaxPartitionBytes(1<<10),
				kgo.FetchMaxBytes(4<<10),
			)
			t.Check(err, "group transact session")
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer sess.Close()
				for txns := 0; mctx.Err() == nil; txns++ {
					fs := sess.PollFetches(mctx)
					if fs.NumRecords() == 0 {
						continue
					}
					if err := sess.Begin(); err != nil {
						errMu.Lock()
						errs = append(errs, err)
						errMu.Unlock()
						return
					}
					fs.EachRecord(func(r *kgo.Record) {
						sess.Produce(mctx, &kgo.Record{Value: append([]byte("out-"), r.Value...)}, nil)
					})
					end := kgo.TryCommit
					if txns%3 == 1 {
						end = kgo.TryAbort
						aborted.Add(1)
					}
					if _, err := sess.End(mctx, end); err != nil && mctx.Err() == nil {
						errMu.Lock()
						errs = append(errs, err)
						errMu.Unlock()
						return
					}
				}
			}()
		}
		// Wait until the group's committed offsets cover the input.
		for {
			offs, err := adm.FetchOffsets(ctx, group)
			var sum int64
			if err == nil {
				offs.Each(func(o kadm.OffsetResponse) { sum += o.At })
			}
			errMu.Lock()
			failed := len(errs) > 0
			errMu.Unlock()
			if sum >= n || failed || ctx.Err() != nil {
				break
			}
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
		stop()
		wg.Wait()
		if len(errs) > 0 {
			t.Fatalf("member: %v", errs[0])
		}
		cl := newClient(t, kgo.ConsumeTopics(out), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
		seen := map[string]int{}
		for _, r := range consumeN(t, cl, n, 30*time.Second) {
			seen[string(r.Value)]++
		}
		// Anything past n is a duplicate: poll once more for it.
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		cl.PollFetches(pctx).EachRecord(func(r *kgo.Record) { seen[string(r.Value)]++ })
		cancel()
		for i := range n {
			if c := seen[fmt.Sprintf("out-%d", i)]; c != 1 {
				t.Fatalf("out-%d read %d times by read_committed, want once", i, c)
			}
		}
		if len(seen) != n {
			t.Fatalf("read_committed saw %d distinct values, want %d", len(seen), n)
		}
		if aborted.Load() == 0 {
			t.Fatalf("no transaction was aborted: the redo path was not exercised")
		}
		t.Detail("%d inputs, 2 members, %d aborted and redone transactions, each output once", n, aborted.Load())
	})
}
