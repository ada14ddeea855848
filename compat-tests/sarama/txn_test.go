package sarama

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"gregor/compat-tests/internal/compat"
)

func txnConfig(id string) *sarama.Config {
	c := config()
	c.Producer.Idempotent = true
	c.Producer.Transaction.ID = id
	c.Net.MaxOpenRequests = 1
	c.Producer.Retry.Max = 10
	return c
}

func txnProducer(t *compat.T, id string) sarama.SyncProducer {
	t.Helper()
	p, err := sarama.NewSyncProducer([]string{compat.Bootstrap()}, txnConfig(id))
	t.Check(err, "new transactional producer")
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// consumeIso reads exactly n messages of topic/partition from the start
// at the given isolation level: one more within 500 ms fails.
func consumeIso(t *compat.T, topic string, partition int32, n int, iso sarama.IsolationLevel) []*sarama.ConsumerMessage {
	t.Helper()
	c := config()
	c.Consumer.IsolationLevel = iso
	out := consumeWith(t, c, topic, partition, sarama.OffsetOldest, n)
	if more := consumeMore(t, c, topic, partition, out[len(out)-1].Offset+1); more != nil {
		t.Fatalf("message past the %d expected: offset %d %q", n, more.Offset, more.Value)
	}
	return out
}

// consumeMore is the message at or after offset, or nil if none comes
// within 500 ms.
func consumeMore(t *compat.T, c *sarama.Config, topic string, partition int32, offset int64) *sarama.ConsumerMessage {
	t.Helper()
	cons, err := sarama.NewConsumer([]string{compat.Bootstrap()}, c)
	t.Check(err, "new consumer")
	defer cons.Close()
	pc, err := cons.ConsumePartition(topic, partition, offset)
	t.Check(err, "consume partition")
	defer pc.Close()
	select {
	case m := <-pc.Messages():
		return m
	case <-time.After(500 * time.Millisecond):
		return nil
	}
}

func values(ms []*sarama.ConsumerMessage) string {
	var out []string
	for _, m := range ms {
		out = append(out, string(m.Value))
	}
	return fmt.Sprint(out)
}

// txnETL is a sarama consumer group handler that copies its claims to the
// output topic in transactions of up to 20 messages, the consumed offsets
// committed inside each (AddOffsetsToTxn + TxnOffsetCommit); every third
// transaction is aborted once and then redone.
type txnETL struct {
	p       sarama.SyncProducer
	group   string
	out     string
	mu      sync.Mutex // serializes transactions of the claims' goroutines
	txns    int
	aborted int
	err     error
}

func (h *txnETL) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (h *txnETL) Cleanup(sarama.ConsumerGroupSession) error { return nil }

func (h *txnETL) transact(batch []*sarama.ConsumerMessage) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.txns++
	abort := h.txns%3 == 1
	for {
		if err := h.p.BeginTxn(); err != nil {
			return fmt.Errorf("begin: %w", err)
		}
		for _, m := range batch {
			if _, _, err := h.p.SendMessage(&sarama.ProducerMessage{Topic: h.out, Partition: m.Partition, Value: sarama.ByteEncoder(append([]byte("out-"), m.Value...))}); err != nil {
				return fmt.Errorf("send: %w", err)
			}
		}
		if err := h.p.AddMessageToTxn(batch[len(batch)-1], h.group, nil); err != nil {
			return fmt.Errorf("add offsets: %w", err)
		}
		if abort {
			abort = false
			h.aborted++
			if err := h.p.AbortTxn(); err != nil {
				return fmt.Errorf("abort: %w", err)
			}
			continue
		}
		if err := h.p.CommitTxn(); err != nil {
			return fmt.Errorf("commit: %w", err)
		}
		return nil
	}
}

func (h *txnETL) ConsumeClaim(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	var batch []*sarama.ConsumerMessage
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := h.transact(batch)
		batch = batch[:0]
		if err != nil {
			h.mu.Lock()
			h.err = err
			h.mu.Unlock()
		}
		return err
	}
	for {
		select {
		case m, ok := <-c.Messages():
			if !ok {
				return flush()
			}
			batch = append(batch, m)
			if len(batch) == 20 {
				if err := flush(); err != nil {
					return err
				}
			}
		case <-time.After(100 * time.Millisecond):
			if err := flush(); err != nil {
				return err
			}
		case <-s.Context().Done():
			return nil
		}
	}
}

// TestTransactions: sarama's transactional producer (commit and abort),
// read_committed and read_uncommitted consumers, and a
// consume-transform-produce group whose offsets go through the
// transaction.
func TestTransactions(t *testing.T) {
	run(t, "txn_commit_abort", func(t *compat.T) {
		compat.RequireAPIs(t, compat.TxnAPIs...)
		topic := compat.Topic(client, "txn_commit_abort")
		createTopic(t, topic, 1, nil)
		p := txnProducer(t, "tx-"+topic)
		abortedAt := int64(-1)
		txn := func(commit bool, vals ...string) {
			t.Helper()
			t.Check(p.BeginTxn(), "begin")
			for _, v := range vals {
				_, off, err := p.SendMessage(&sarama.ProducerMessage{Topic: topic, Partition: 0, Value: sarama.StringEncoder(v)})
				t.Check(err, "send "+v)
				if !commit && abortedAt < 0 {
					abortedAt = off
				}
			}
			if commit {
				t.Check(p.CommitTxn(), "commit")
			} else {
				t.Check(p.AbortTxn(), "abort")
			}
		}
		txn(true, "c0", "c1", "c2")
		txn(false, "a0", "a1", "a2")
		txn(true, "c3", "c4")
		if got, want := values(consumeIso(t, topic, 0, 5, sarama.ReadCommitted)), "[c0 c1 c2 c3 c4]"; got != want {
			t.Fatalf("read_committed saw %s, want %s", got, want)
		}
		if got, want := values(consumeIso(t, topic, 0, 8, sarama.ReadUncommitted)), "[c0 c1 c2 a0 a1 a2 c3 c4]"; got != want {
			t.Fatalf("read_uncommitted saw %s, want %s", got, want)
		}
		t.Check(compat.CheckAborted(topic, 0, abortedAt), "aborted transactions")
		t.Detail("read_committed 5, read_uncommitted 8, aborted transaction at offset %d listed", abortedAt)
	})
	run(t, "txn_etl", func(t *compat.T) {
		compat.RequireAPIs(t, append(compat.TxnAPIs, compat.GroupAPIs...)...)
		in := compat.Topic(client, "txn_etl_in")
		out := compat.Topic(client, "txn_etl_out")
		createTopic(t, in, 2, nil)
		createTopic(t, out, 2, nil)
		const n = 400
		var msgs []*sarama.ProducerMessage
		for i := range n {
			msgs = append(msgs, &sarama.ProducerMessage{Topic: in, Partition: int32(i % 2), Value: sarama.StringEncoder(fmt.Sprintf("%d", i))})
		}
		produce(t, nil, msgs...)
		group := "g-" + in
		h := &txnETL{p: txnProducer(t, "tx-"+group), group: group, out: out}
		conf := config()
		conf.Consumer.Offsets.Initial = sarama.OffsetOldest
		conf.Consumer.Offsets.AutoCommit.Enable = false
		conf.Consumer.IsolationLevel = sarama.ReadCommitted
		cg, err := sarama.NewConsumerGroup([]string{compat.Bootstrap()}, group, conf)
		t.Check(err, "new consumer group")
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		done := make(chan struct{})
		go func() {
			defer close(done)
			for ctx.Err() == nil {
				if err := cg.Consume(ctx, []string{in}, h); err != nil {
					return
				}
			}
		}()
		// Until the group's committed offsets (through the transactions)
		// cover the input.
		adm := admin(t)
		for ctx.Err() == nil {
			offs, err := adm.ListConsumerGroupOffsets(group, map[string][]int32{in: {0, 1}})
			var sum int64
			if err == nil {
				for _, b := range offs.Blocks[in] {
					if b.Offset > 0 {
						sum += b.Offset
					}
				}
			}
			h.mu.Lock()
			failed := h.err
			h.mu.Unlock()
			if failed != nil {
				t.Fatalf("etl: %v", failed)
			}
			if sum >= n {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		cancel()
		<-done
		_ = cg.Close()
		if ctx.Err() != nil && h.txns == 0 {
			t.Fatalf("no transaction ran")
		}
		seen := map[string]int{}
		for p := int32(0); p < 2; p++ {
			for _, m := range consumeIso(t, out, p, n/2, sarama.ReadCommitted) {
				seen[string(m.Value)]++
			}
		}
		for i := range n {
			if c := seen[fmt.Sprintf("out-%d", i)]; c != 1 {
				t.Fatalf("out-%d read %d times by read_committed, want once", i, c)
			}
		}
		if h.aborted == 0 {
			t.Fatalf("no transaction was aborted")
		}
		t.Detail("%d inputs in %d transactions, %d aborted and redone, each output once", n, h.txns, h.aborted)
	})
}
