package broker

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/storage"
	"gregor/storage/vfs"
)

// TestTxnCrashOpenTransactions kills a broker (its disk stops taking
// writes, no controlled shutdown) holding committed, aborted and open
// transactions, and one whose EndTxn(commit) was answered but whose COMMIT
// marker could not yet be written to one partition (the write stalls in the
// filesystem seam until the crash). Every .txnindex file is deleted before
// the restart. After it:
//   - the rebuilt .txnindex files are byte-identical to those written live;
//   - each partition's last stable offset is the first offset of the open
//     transaction begun first, until the coordinator aborts it after its
//     transaction.timeout.ms;
//   - a producer that lived through the crash commits its open transaction;
//   - the coordinator finishes the in-flight commit from __transaction_state;
//   - read_committed consumers see exactly the committed records, in order.
//
// The restarted broker is crashed again and its .txnindex files (now with
// the abort the coordinator wrote after the restart) rebuilt once more.
func TestTxnCrashOpenTransactions(t *testing.T) {
	t.Parallel()
	const topic, parts = "txcrash", 2
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	ffs := vfs.NewFaultFS(nil)
	cfg, err := Load("", nil, []string{"listeners=PLAINTEXT://127.0.0.1:0", "log.dirs=" + t.TempDir(),
		"transaction.state.log.num.partitions=3",
		"transaction.abort.timed.out.transaction.cleanup.interval.ms=200"})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Log.FS = ffs
	b := startBrokerConfig(t, cfg)
	if _, err := b.admin().CreateTopic(ctx, parts, 1, map[string]*string{
		"segment.bytes": kmsg.StringPtr("1024"), // several segments, with and without aborts
	}, topic); err != nil {
		t.Fatal(err)
	}

	// committed[p] are the records a read_committed reader must see on p,
	// by offset; produced[name] those of transaction name.
	committed := map[int32]map[int64]string{0: {}, 1: {}}
	produced := map[string]map[int32]map[int64]string{}
	producer := func(id string, timeout time.Duration) *kgo.Client {
		return b.client(kgo.TransactionalID(id), kgo.TransactionTimeout(timeout),
			kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.DefaultProduceTopic(topic))
	}
	// begin opens a transaction of n records on each partition and returns
	// their first offsets.
	begin := func(cl *kgo.Client, name string, n int) map[int32]int64 {
		t.Helper()
		if err := cl.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		first := map[int32]int64{}
		produced[name] = map[int32]map[int64]string{0: {}, 1: {}}
		for i := range n {
			for p := int32(0); p < parts; p++ {
				v := fmt.Sprintf("%s-%d-%d-%s", name, p, i, strings.Repeat("x", 100))
				r, err := cl.ProduceSync(ctx, &kgo.Record{Partition: p, Value: []byte(v)}).First()
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				if i == 0 {
					first[p] = r.Offset
				}
				produced[name][p][r.Offset] = v
			}
		}
		return first
	}
	end := func(cl *kgo.Client, name string, commit kgo.TransactionEndTry) {
		t.Helper()
		if err := cl.EndTransaction(ctx, commit); err != nil {
			t.Fatalf("%s: end: %v", name, err)
		}
		if commit {
			for p, recs := range produced[name] {
				maps.Copy(committed[p], recs)
			}
		}
	}
	pc, pa := producer("committer", time.Minute), producer("aborter", time.Minute)
	run := func(round int) {
		t.Helper()
		begin(pc, fmt.Sprintf("c%d", round), 3)
		end(pc, fmt.Sprintf("c%d", round), kgo.TryCommit)
		begin(pa, fmt.Sprintf("a%d", round), 3)
		end(pa, fmt.Sprintf("a%d", round), kgo.TryAbort)
	}
	run(1)
	// open1 is left open, its producer gone: the coordinator must abort it
	// once its timeout has passed.
	const open1Timeout = 12 * time.Second
	po1 := producer("open1", open1Timeout)
	lso1 := begin(po1, "o1", 2)
	open1Began := time.Now()
	run(2)
	// open2 stays open across the crash; its producer commits it after.
	po2 := producer("open2", time.Minute)
	begin(po2, "o2", 2)
	run(3)
	run(4)

	// inflight's COMMIT marker cannot reach partition 1 before the crash.
	var stall atomic.Bool
	stalled, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	p1Dir := b.srv.parts.lookup(topic, 1).log.Dir() + string(os.PathSeparator)
	ffs.SetDelay(func(op vfs.Op, path string) {
		if op == vfs.OpWrite && stall.Load() && strings.HasPrefix(path, p1Dir) {
			once.Do(func() { close(stalled) })
			<-release
		}
	})
	pf := producer("inflight", time.Minute)
	begin(pf, "f", 2)
	for p := int32(0); p < parts; p++ {
		if got := b.srv.parts.lookup(topic, p).log.LastStableOffset(); got != lso1[p] {
			t.Fatalf("partition %d: LSO %d before the crash, want open1's first offset %d", p, got, lso1[p])
		}
	}
	// From here partition 1's log is locked by the stalled write.
	stall.Store(true)
	end(pf, "f", kgo.TryCommit) // answered once PrepareCommit is in __transaction_state
	select {
	case <-stalled:
	case <-ctx.Done():
		t.Fatal("the COMMIT marker was never written to partition 1")
	}
	ffs.CrashAfter(0, true)
	close(release)
	dirs := []string{b.srv.parts.lookup(topic, 0).log.Dir(), b.srv.parts.lookup(topic, 1).log.Dir()}
	b.crashQuiet()

	live := removeTxnIndexes(t, dirs)
	b = restartCrashed(t, b)
	waitFor(t, "the partitions' logs", 30*time.Second, func() bool {
		return b.srv.parts.lookup(topic, 0) != nil && b.srv.parts.lookup(topic, 1) != nil
	})
	// Before open1 times out no abort is written, so the files are exactly
	// the rebuilt ones.
	compareTxnIndexes(t, dirs, live)
	adm := b.admin()
	if time.Since(open1Began) < open1Timeout-2*time.Second {
		checkLSO(t, ctx, adm, topic, lso1)
	} else {
		t.Logf("restart took too long (%v) to see open1 still open", time.Since(open1Began))
	}

	// open2's producer lived through the crash and commits.
	end(po2, "o2", kgo.TryCommit)
	if time.Since(open1Began) < open1Timeout-2*time.Second {
		checkLSO(t, ctx, adm, topic, lso1)
	}
	// The coordinator aborts open1 after its timeout and completes inflight.
	for id, state := range map[string]string{"open1": "CompleteAbort", "inflight": "CompleteCommit", "open2": "CompleteCommit"} {
		waitFor(t, id+" "+state, 60*time.Second, func() bool {
			d, err := adm.DescribeTransactions(ctx, id)
			return err == nil && d[id].State == state
		})
	}
	if d := time.Since(open1Began); d < open1Timeout {
		t.Fatalf("open1 aborted %v after it began, before its %v timeout", d, open1Timeout)
	}
	waitFor(t, "LSO at the high watermark", 30*time.Second, func() bool {
		for p := int32(0); p < parts; p++ {
			l := b.srv.parts.lookup(topic, p).log
			if l.LastStableOffset() != l.LogEndOffset() {
				return false
			}
		}
		return true
	})
	hw := map[int32]int64{}
	for p := int32(0); p < parts; p++ {
		hw[p] = b.srv.parts.lookup(topic, p).log.LogEndOffset()
	}
	checkLSO(t, ctx, adm, topic, hw)
	checkReadCommitted(t, ctx, b, topic, committed)

	// Crash again: the abort of open1, written after the restart, is in the
	// rebuilt files too.
	for p := int32(0); p < parts; p++ {
		a := b.srv.parts.lookup(topic, p).log.AbortedTransactions(lso1[p], hw[p])
		if !slices.ContainsFunc(a, func(a storage.AbortedTxn) bool { return a.FirstOffset == lso1[p] }) {
			t.Fatalf("partition %d: aborted transactions from %d: %+v, want open1's first", p, lso1[p], a)
		}
	}
	b.cfg.Log.FS.(*vfs.FaultFS).CrashAfter(0, true)
	b.crashQuiet()
	live = removeTxnIndexes(t, dirs)
	b = restartCrashed(t, b)
	waitFor(t, "the partitions' logs", 30*time.Second, func() bool {
		return b.srv.parts.lookup(topic, 0) != nil && b.srv.parts.lookup(topic, 1) != nil
	})
	compareTxnIndexes(t, dirs, live)
	checkLSO(t, ctx, b.admin(), topic, hw)
	checkReadCommitted(t, ctx, b, topic, committed)
}

// restartCrashed starts a broker on crashed b's directory and address, its
// logs through a fresh FaultFS.
func restartCrashed(t *testing.T, b *testBroker) *testBroker {
	t.Helper()
	cfg := b.cfg
	cfg.Log.FS = vfs.NewFaultFS(nil)
	cfg.Socket.Listeners = append([]Listener(nil), b.srv.cfg.Socket.Listeners...)
	cfg.Socket.AdvertisedListeners = append([]Listener(nil), b.srv.cfg.Socket.AdvertisedListeners...)
	return startBrokerConfig(t, cfg)
}

// removeTxnIndexes deletes every .txnindex file in dirs and returns their
// contents by path; at least one must hold an entry.
func removeTxnIndexes(t *testing.T, dirs []string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	entries := 0
	for _, d := range dirs {
		ms, err := filepath.Glob(filepath.Join(d, "*.txnindex"))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range ms {
			b, err := os.ReadFile(m)
			if err != nil {
				t.Fatal(err)
			}
			out[m] = b
			entries += len(b) / 34
			if err := os.Remove(m); err != nil {
				t.Fatal(err)
			}
		}
	}
	if entries == 0 {
		t.Fatalf("no aborted transaction in the %d .txnindex files of %v", len(out), dirs)
	}
	t.Logf("%d .txnindex files, %d entries, removed", len(out), entries)
	return out
}

func compareTxnIndexes(t *testing.T, dirs []string, live map[string][]byte) {
	t.Helper()
	got := map[string]bool{}
	for _, d := range dirs {
		ms, _ := filepath.Glob(filepath.Join(d, "*.txnindex"))
		for _, m := range ms {
			got[m] = true
			b, err := os.ReadFile(m)
			if err != nil {
				t.Fatal(err)
			}
			if lb, ok := live[m]; !ok {
				t.Errorf("%s: rebuilt, not there before the crash", m)
			} else if !bytes.Equal(b, lb) {
				t.Errorf("%s: rebuilt % x\nlive % x", m, b, lb)
			}
		}
	}
	for m := range live {
		if !got[m] {
			t.Errorf("%s: not rebuilt", m)
		}
	}
}

// checkLSO checks ListOffsets read_committed "latest" of every partition.
func checkLSO(t *testing.T, ctx context.Context, adm *kadm.Client, topic string, want map[int32]int64) {
	t.Helper()
	lo, err := adm.ListCommittedOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	for p, w := range want {
		o, ok := lo.Lookup(topic, p)
		if !ok || o.Err != nil || o.Offset != w {
			t.Fatalf("partition %d: read_committed latest %+v, want %d", p, o, w)
		}
	}
}

// checkReadCommitted reads every partition from the start with
// read_committed: exactly want, in order (the last data records of each
// partition are committed ones, so nothing aborted can follow them).
func checkReadCommitted(t *testing.T, ctx context.Context, b *testBroker, topic string, committed map[int32]map[int64]string) {
	t.Helper()
	want := map[int32][]string{}
	for p, recs := range committed {
		for _, o := range slices.Sorted(maps.Keys(recs)) {
			want[p] = append(want[p], recs[o])
		}
	}
	offsets := map[string]map[int32]kgo.Offset{topic: {}}
	for p := range want {
		offsets[topic][p] = kgo.NewOffset().AtStart()
	}
	cl := b.client(kgo.ConsumePartitions(offsets), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	defer cl.Close()
	got := map[int32][]string{}
	n, total := 0, 0
	for _, vs := range want {
		total += len(vs)
	}
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for n < total {
		fs := cl.PollFetches(rctx)
		if rctx.Err() != nil {
			t.Fatalf("read %d of %d committed records: p0 %s\np1 %s", n, total, short(got[0]), short(got[1]))
		}
		for _, e := range fs.Errors() {
			t.Fatalf("fetch %s/%d: %v", e.Topic, e.Partition, e.Err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			got[r.Partition] = append(got[r.Partition], string(r.Value))
			n++
		})
	}
	for p, vs := range want {
		if strings.Join(got[p], "\n") != strings.Join(vs, "\n") {
			t.Fatalf("partition %d: read_committed read %d records, want %d:\n%s", p, len(got[p]), len(vs), short(got[p]))
		}
	}
}

func short(vs []string) string {
	var sb strings.Builder
	for _, v := range vs {
		sb.WriteString(v[:strings.LastIndexByte(v, '-')])
		sb.WriteByte(' ')
	}
	return sb.String()
}
