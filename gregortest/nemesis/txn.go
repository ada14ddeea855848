package nemesis

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// The transactional workload: a transactional producer (acks=all,
// idempotent) writes one record to every partition of Topic+"-txn" per
// transaction and commits it, or aborts every third one on purpose; a
// read_committed consumer reads the topic from the start all along. The
// history has one "txn" op per transaction (ok: committed; fail: aborted,
// so never committed; info: the commit's outcome is unknown) and the
// consumer's "poll-rc" ops. checkTxn holds them against a final
// read_committed read.

// txnTopic is the transactional workload's topic.
func txnTopic(cfg Config) string { return cfg.Topic + "-txn" }

// goTxnProducer runs transactions every 100ms until the producers stop.
// After a transaction that failed it starts a new client with the same
// transactional ID, which fences the old one and aborts what it left
// open.
func (w *workloads) goTxnProducer(name string) {
	topic := txnTopic(w.cfg)
	newClient := func() (*kgo.Client, error) {
		return w.client(kgo.TransactionalID(w.cfg.Topic+"-"+name), kgo.DefaultProduceTopic(topic),
			kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.TransactionTimeout(20*time.Second),
			kgo.RecordDeliveryTimeout(w.cfg.DeliveryTimeout), kgo.RequiredAcks(kgo.AllISRAcks()))
	}
	cl, err := newClient()
	if err != nil {
		w.fail(err)
		return
	}
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		defer func() { cl.Close() }()
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for txn := 0; ; txn++ {
			select {
			case <-w.stopP:
				return
			case <-tick.C:
			}
			if !w.txn(cl, name, topic, txn, txn%3 == 2) {
				cl.Close()
				if cl, err = newClient(); err != nil {
					w.fail(err)
					return
				}
			}
		}
	}()
}

// txn runs one transaction and records it; false if anything in it
// failed: the client may be unusable (kgo keeps a failed producer ID
// initialisation as a fatal error), so the caller starts a new one.
func (w *workloads) txn(cl *kgo.Client, name, topic string, txn int, abort bool) bool {
	op := Op{Process: name, F: "txn", Topic: topic, Start: time.Now(), Detail: "commit"}
	if abort {
		op.Detail = "abort"
	}
	var recs []*kgo.Record
	for p := 0; p < w.cfg.Partitions; p++ {
		v := fmt.Sprintf("%s-%d-%d", name, txn, p)
		op.Seen = append(op.Seen, Seen{Partition: int32(p), Offset: -1, Value: v})
		recs = append(recs, &kgo.Record{Partition: int32(p), Value: []byte(v)})
	}
	err := cl.BeginTransaction()
	if err == nil {
		ctx, cancel := context.WithTimeout(w.ctx, w.cfg.DeliveryTimeout)
		err = cl.ProduceSync(ctx, recs...).FirstErr()
		cancel()
	}
	commit := kgo.TryCommit
	if abort || err != nil {
		commit = kgo.TryAbort
	}
	ctx, cancel := context.WithTimeout(w.ctx, 30*time.Second)
	endErr := cl.EndTransaction(ctx, commit)
	cancel()
	op.End = time.Now()
	switch {
	case commit == kgo.TryCommit && endErr == nil:
		op.Type = OK
	case commit == kgo.TryCommit:
		op.Type, op.Err = Info, endErr.Error()
	default: // never committed: no EndTxn commit was sent
		op.Type = Fail
		if e := errors.Join(err, endErr); e != nil {
			op.Err = e.Error()
		}
	}
	w.h.Add(op)
	return err == nil && endErr == nil
}

// goCommittedReader reads the transactional topic read_committed from the
// start, each poll that returns records a poll-rc op.
func (w *workloads) goCommittedReader() {
	topic := txnTopic(w.cfg)
	offs := map[int32]kgo.Offset{}
	for p := 0; p < w.cfg.Partitions; p++ {
		offs[int32(p)] = kgo.NewOffset().AtStart()
	}
	w.goClient(func(cl *kgo.Client) {
		for !w.consumersStopped() {
			w.poll(cl, "rc", "poll-rc", topic)
		}
	}, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offs}), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.FetchMaxWait(500*time.Millisecond))
}

// TxnReport is what checkTxn counted.
type TxnReport struct {
	Committed, Aborted, Unknown int // transactions by outcome
	UnknownApplied              int // of the unknown ones, committed as the final read shows
	Read                        int // records the read_committed consumer got during the run
}

// checkTxn checks the transactional history against the final
// read_committed read of the topic (final, without the sentinels that
// end it): a committed transaction has all its records there once, an
// aborted one none, one of unknown outcome all or none; the
// read_committed consumer never saw a record of an aborted transaction,
// and what it saw is what the final read has at that offset.
func checkTxn(ops []Op, final map[int32][]Seen) (TxnReport, []Anomaly) {
	var r TxnReport
	var out []Anomaly
	type at struct {
		p   int32
		off int64
	}
	where := map[string][]at{}
	byOffset := map[at]string{}
	for p, recs := range final {
		for _, s := range recs {
			where[s.Value] = append(where[s.Value], at{p, s.Offset})
			byOffset[at{p, s.Offset}] = s.Value
		}
	}
	owner := map[string]Op{} // value -> its transaction
	for _, op := range ops {
		if op.F != "txn" {
			continue
		}
		present := 0
		for _, s := range op.Seen {
			owner[s.Value] = op
			if n := len(where[s.Value]); n > 0 {
				present++
				if n > 1 {
					out = append(out, Anomaly{Kind: "txn-duplicate", Detail: fmt.Sprintf("%q is in the final read %d times: %v", s.Value, n, where[s.Value]), Ops: []Op{op}})
				}
			}
		}
		all, none := present == len(op.Seen), present == 0
		switch op.Type {
		case OK:
			r.Committed++
			if !all {
				out = append(out, Anomaly{Kind: "txn-lost", Detail: fmt.Sprintf("committed transaction %s has %d of its %d records in the final read", values(op), present, len(op.Seen)), Ops: []Op{op}})
			}
		case Fail:
			r.Aborted++
			if !none {
				out = append(out, Anomaly{Kind: "aborted-read", Detail: fmt.Sprintf("aborted transaction %s has %d of its %d records in the final read_committed read", values(op), present, len(op.Seen)), Ops: []Op{op}})
			}
		default:
			r.Unknown++
			if all {
				r.UnknownApplied++
			}
			if !all && !none {
				out = append(out, Anomaly{Kind: "txn-partial", Detail: fmt.Sprintf("transaction %s of unknown outcome has %d of its %d records in the final read", values(op), present, len(op.Seen)), Ops: []Op{op}})
			}
		}
	}
	for v, ws := range where {
		if _, ok := owner[v]; !ok {
			out = append(out, Anomaly{Kind: "phantom", Detail: fmt.Sprintf("%q at %v, which no transaction wrote", v, ws)})
		}
	}
	for _, op := range ops {
		if op.F != "poll-rc" {
			continue
		}
		for _, s := range op.Seen {
			r.Read++
			if t, ok := owner[s.Value]; ok && t.Type == Fail {
				out = append(out, Anomaly{Kind: "aborted-read", Detail: fmt.Sprintf("the read_committed consumer saw %q of aborted transaction %s at %d/%d", s.Value, values(t), s.Partition, s.Offset), Ops: []Op{t, onlySeen(op, s)}})
			}
			if v := byOffset[at{s.Partition, s.Offset}]; v != s.Value {
				out = append(out, Anomaly{Kind: "divergent", Detail: fmt.Sprintf("%s/%d offset %d: the read_committed consumer saw %q, the final read has %q", op.Topic, s.Partition, s.Offset, s.Value, v), Ops: []Op{onlySeen(op, s)}})
			}
		}
	}
	return r, out
}

func values(op Op) string {
	var vs []string
	for _, s := range op.Seen {
		vs = append(vs, s.Value)
	}
	return "{" + strings.Join(vs, " ") + "}"
}
