package storage

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// txnBatch builds a transactional batch of n records for producer pid.
func txnBatch(pid int64, epoch int16, seq int32, n int) []byte {
	recs := make([]Record, n)
	for i := range recs {
		recs[i] = Record{Key: []byte{byte(i)}, Value: bytes.Repeat([]byte{'v'}, 20)}
	}
	return BuildBatch(BatchHeader{PartitionLeaderEpoch: -1, Attributes: attrTransactional, BaseTimestamp: 1000,
		MaxTimestamp: 1000, ProducerID: pid, ProducerEpoch: epoch, BaseSequence: seq}, recs)
}

// txnOp is one step of a transactional scenario.
type txnOp struct {
	kind   string // "plain", "txn", "commit", "abort"
	pid    int64
	n      int
	cEpoch int32
}

// txnDriver appends txnOps and keeps each producer's sequence.
type txnDriver struct {
	t   testing.TB
	l   *Log
	seq map[int64]int32
}

func newTxnDriver(t testing.TB, l *Log) *txnDriver {
	return &txnDriver{t: t, l: l, seq: map[int64]int32{}}
}

func (d *txnDriver) do(op txnOp) (int64, error) {
	d.t.Helper()
	n := max(op.n, 1)
	switch op.kind {
	case "plain":
		res, err := d.l.Append(buildBatch(batchOpts{pid: -1, seq: -1, epoch: -1, n: n}), 0)
		return res.BaseOffset, err
	case "txn":
		res, err := d.l.Append(txnBatch(op.pid, 0, d.seq[op.pid], n), 0)
		if err == nil {
			d.seq[op.pid] += int32(n)
		}
		return res.BaseOffset, err
	case "commit", "abort":
		return d.l.AppendControl(op.pid, 0, op.kind == "commit", op.cEpoch, 0)
	}
	d.t.Fatalf("bad op %q", op.kind)
	return 0, nil
}

func TestTxnLastStableOffsetAndAborted(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		ops     []txnOp
		lso     int64
		aborted []AbortedTxn
	}{
		{"plain only", []txnOp{{kind: "plain", n: 3}}, 3, nil},
		{"ongoing", []txnOp{{kind: "plain", n: 2}, {kind: "txn", pid: 1, n: 3}, {kind: "plain"}}, 2, nil},
		{"committed", []txnOp{{kind: "txn", pid: 1, n: 3}, {kind: "commit", pid: 1}}, 4, nil},
		{"aborted", []txnOp{{kind: "plain"}, {kind: "txn", pid: 1, n: 3}, {kind: "abort", pid: 1}},
			5, []AbortedTxn{{ProducerID: 1, FirstOffset: 1, LastOffset: 4, LastStableOffset: 5}}},
		{"two interleaved, first aborted", []txnOp{{kind: "txn", pid: 1}, {kind: "txn", pid: 2}, {kind: "txn", pid: 1},
			{kind: "abort", pid: 1}},
			1, []AbortedTxn{{ProducerID: 1, FirstOffset: 0, LastOffset: 3, LastStableOffset: 1}}},
		{"two interleaved, second aborted", []txnOp{{kind: "txn", pid: 1}, {kind: "txn", pid: 2}, {kind: "abort", pid: 2}},
			0, []AbortedTxn{{ProducerID: 2, FirstOffset: 1, LastOffset: 2, LastStableOffset: 0}}},
		{"marker without transaction", []txnOp{{kind: "plain"}, {kind: "commit", pid: 7}}, 2, nil},
		{"second transaction", []txnOp{{kind: "txn", pid: 1}, {kind: "commit", pid: 1}, {kind: "txn", pid: 1, n: 2},
			{kind: "abort", pid: 1}, {kind: "txn", pid: 1}},
			5, []AbortedTxn{{ProducerID: 1, FirstOffset: 2, LastOffset: 4, LastStableOffset: 5}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			l := openLog(t, t.TempDir(), DefaultConfig())
			d := newTxnDriver(t, l)
			for _, op := range tc.ops {
				if _, err := d.do(op); err != nil {
					t.Fatal(err)
				}
			}
			if got := l.LastStableOffset(); got != tc.lso {
				t.Errorf("LastStableOffset = %d, want %d", got, tc.lso)
			}
			if got := l.AbortedTransactions(0, l.LogEndOffset()); !slices.Equal(got, tc.aborted) {
				t.Errorf("AbortedTransactions = %+v, want %+v", got, tc.aborted)
			}
		})
	}
}

func TestTxnAbortedTransactionsRange(t *testing.T) {
	t.Parallel()
	l := openLog(t, t.TempDir(), smallCfg())
	d := newTxnDriver(t, l)
	// pid 1 aborts [0,2], pid 2 aborts [3,5], pid 3 aborts [6,8], across rolls.
	for pid := int64(1); pid <= 3; pid++ {
		for _, op := range []txnOp{{kind: "txn", pid: pid}, {kind: "txn", pid: pid}, {kind: "abort", pid: pid}} {
			if _, err := d.do(op); err != nil {
				t.Fatal(err)
			}
		}
		for range 12 {
			d.do(txnOp{kind: "plain"}) // make the segments roll between transactions
		}
	}
	all := l.AbortedTransactions(0, l.LogEndOffset())
	if len(all) != 3 {
		t.Fatalf("aborted = %+v", all)
	}
	if len(l.segments()) < 3 {
		t.Fatalf("%d segments: want the transactions spread over several", len(l.segments()))
	}
	for _, tc := range []struct{ from, to int64 }{{0, 1}, {2, 3}, {3, 4}, {all[1].LastOffset, all[2].FirstOffset + 1}, {all[2].LastOffset + 1, l.LogEndOffset()}, {0, 0}} {
		var want []AbortedTxn
		for _, a := range all {
			if a.LastOffset >= tc.from && a.FirstOffset < tc.to {
				want = append(want, a)
			}
		}
		if got := l.AbortedTransactions(tc.from, tc.to); !slices.Equal(got, want) {
			t.Errorf("AbortedTransactions(%d, %d) = %+v, want %+v", tc.from, tc.to, got, want)
		}
	}
}

func TestTxnCoordinatorFencing(t *testing.T) {
	t.Parallel()
	l := openLog(t, t.TempDir(), DefaultConfig())
	d := newTxnDriver(t, l)
	mustDo := func(op txnOp) {
		t.Helper()
		if _, err := d.do(op); err != nil {
			t.Fatal(err)
		}
	}
	mustDo(txnOp{kind: "txn", pid: 1})
	mustDo(txnOp{kind: "commit", pid: 1, cEpoch: 5})
	mustDo(txnOp{kind: "txn", pid: 1})
	_, err := d.do(txnOp{kind: "abort", pid: 1, cEpoch: 4})
	wantErr(t, err, ErrTransactionCoordinatorFenced)
	if l.LastStableOffset() != 2 {
		t.Fatalf("a fenced marker moved the LSO to %d", l.LastStableOffset())
	}
	mustDo(txnOp{kind: "abort", pid: 1, cEpoch: 5})
	if l.LastStableOffset() != 4 {
		t.Fatalf("LSO = %d, want 4", l.LastStableOffset())
	}
	// A marker from an older producer epoch is refused too.
	if _, err := l.Append(txnBatch(1, 3, 0, 1), 0); err != nil {
		t.Fatal(err)
	}
	_, err = l.AppendControl(1, 2, true, 6, 0)
	wantErr(t, err, ErrInvalidProducerEpoch)
	// The coordinator epoch survives a restart (snapshot).
	dir := l.Dir()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openLog(t, dir, DefaultConfig())
	_, err = l.AppendControl(1, 3, true, 4, 0)
	wantErr(t, err, ErrTransactionCoordinatorFenced)
	if _, err := l.AppendControl(1, 3, true, 6, 0); err != nil {
		t.Fatal(err)
	}
}

func TestTxnControlBatchLayout(t *testing.T) {
	t.Parallel()
	b := BuildControlBatch(42, 3, false, 9, 12345)
	h, err := validateBatch(b)
	if err != nil {
		t.Fatal(err)
	}
	if !h.IsControl() || !h.IsTransactional() || h.BaseSequence != -1 || h.ProducerID != 42 || h.ProducerEpoch != 3 ||
		h.NumRecords != 1 || h.MaxTimestamp != 12345 || h.Codec() != 0 {
		t.Fatalf("header %+v", h)
	}
	recs, _ := BatchRecords(b, h)
	// length, attrs, tsDelta, offDelta, keyLen 4, key 0 0 0 0 (ABORT), valueLen 6, value 0 0 0 0 0 9, headers 0
	want := []byte{0x20, 0, 0, 0, 8, 0, 0, 0, 0, 12, 0, 0, 0, 0, 0, 9, 0}
	if !bytes.Equal(recs, want) {
		t.Fatalf("records % x, want % x", recs, want)
	}
	cr, err := ParseControlBatch(b)
	if err != nil || cr != (ControlRecord{Type: ControlAbort, CoordinatorEpoch: 9}) {
		t.Fatalf("parse: %+v %v", cr, err)
	}
	// A control record with an unknown type, or bad key version, is refused.
	for _, mutate := range []func([]byte){
		func(r []byte) { r[8] = 2 },   // type 2
		func(r []byte) { r[5] = 1 },   // key version 1
		func(r []byte) { r[4] = 2 },   // key too short
		func(r []byte) { r[9] = 100 }, // value longer than the record
	} {
		c := bytes.Clone(b)
		mutate(c[BatchHeaderSize:])
		StampCRC(c)
		if _, err := ParseControlBatch(c); err == nil {
			t.Errorf("mutated control batch % x parsed", c[BatchHeaderSize:])
		}
		l := openLog(t, t.TempDir(), DefaultConfig())
		if _, err := l.Append(c, 0); err == nil {
			t.Errorf("mutated control batch appended")
		}
	}
}

func TestTxnLastStableOffsetFollowsHighWatermark(t *testing.T) {
	t.Parallel()
	l := openLog(t, t.TempDir(), DefaultConfig())
	l.SetAutoHighWatermark(false)
	d := newTxnDriver(t, l)
	d.do(txnOp{kind: "plain", n: 2})       // 0-1
	d.do(txnOp{kind: "txn", pid: 1, n: 3}) // 2-4
	d.do(txnOp{kind: "commit", pid: 1})    // 5
	for _, tc := range []struct{ hw, lso int64 }{
		{0, 0}, {1, 1}, {2, 2}, {4, 2}, {5, 2}, // marker not below the HW: still unstable
		{6, 6},
	} {
		l.SetHighWatermark(tc.hw)
		if got := l.LastStableOffset(); got != tc.lso {
			t.Errorf("HW %d: LSO = %d, want %d", tc.hw, got, tc.lso)
		}
	}
}

// txnIndexFiles returns name -> bytes of every .txnindex in dir.
func txnIndexFiles(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, p := range listDir(t, dir, txnIndexSuffix) {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(p)] = b
	}
	return out
}

// fillTxns writes interleaved transactions over many segments: producers
// 1-3 open transactions, aborting and committing in turn.
func fillTxns(t *testing.T, l *Log, rounds int) {
	t.Helper()
	d := newTxnDriver(t, l)
	for r := range rounds {
		for pid := int64(1); pid <= 3; pid++ {
			if _, err := d.do(txnOp{kind: "txn", pid: pid, n: 2}); err != nil {
				t.Fatal(err)
			}
		}
		d.do(txnOp{kind: "plain"})
		for pid := int64(1); pid <= 3; pid++ {
			if _, err := d.do(txnOp{kind: []string{"abort", "commit"}[(r+int(pid))%2], pid: pid}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := d.do(txnOp{kind: "txn", pid: 2}); err != nil { // left open
		t.Fatal(err)
	}
}

func TestTxnIndexRebuiltMatchesLive(t *testing.T) {
	t.Parallel()
	for _, damage := range []string{"remove", "corrupt", "truncate", "crash", "remove all"} {
		t.Run(damage, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			l := openLog(t, dir, smallCfg())
			fillTxns(t, l, 20)
			lso, aborted := l.LastStableOffset(), l.AbortedTransactions(0, l.LogEndOffset())
			if len(aborted) < 20 {
				t.Fatalf("%d aborted", len(aborted))
			}
			if damage == "crash" {
				crash(l)
			} else if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			live := txnIndexFiles(t, dir)
			if len(live) < 5 {
				t.Fatalf("%d txnindex files", len(live))
			}
			nonEmpty := 0
			for name, b := range live {
				if len(b) == 0 {
					continue
				}
				nonEmpty++
				p := filepath.Join(dir, name)
				switch {
				case damage == "remove all" || (damage == "remove" && nonEmpty%2 == 0):
					os.Remove(p)
				case damage == "corrupt" && nonEmpty%2 == 0:
					os.WriteFile(p, append(bytes.Clone(b), 1, 2, 3), 0o644)
				case damage == "truncate" && nonEmpty%2 == 0:
					os.WriteFile(p, b[:len(b)-txnIndexEntrySize], 0o644)
					// A whole-entry cut cannot be told from a shorter index; the
					// segment must be recovered to notice it.
					os.Remove(filepath.Join(dir, cleanShutdownMarker))
					os.WriteFile(filepath.Join(dir, recoveryPointFile), []byte("0\n0\n"), 0o644)
				}
			}
			l = openLog(t, dir, smallCfg())
			if got := txnIndexFiles(t, dir); len(got) != len(live) {
				t.Fatalf("%d txnindex files after recovery, %d before", len(got), len(live))
			} else {
				for name, b := range live {
					if !bytes.Equal(got[name], b) {
						t.Errorf("%s: rebuilt % x, live % x", name, got[name], b)
					}
				}
			}
			if got := l.LastStableOffset(); got != lso {
				t.Errorf("LSO after reopen %d, want %d", got, lso)
			}
			if got := l.AbortedTransactions(0, l.LogEndOffset()); !slices.Equal(got, aborted) {
				t.Errorf("aborted after reopen differ")
			}
		})
	}
}

func TestTxnIndexInMarkerSegment(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	l := openLog(t, dir, smallCfg())
	d := newTxnDriver(t, l)
	d.do(txnOp{kind: "txn", pid: 1})
	for len(l.segments()) < 3 {
		d.do(txnOp{kind: "plain"})
	}
	off, err := d.do(txnOp{kind: "abort", pid: 1})
	if err != nil {
		t.Fatal(err)
	}
	segs := l.segments()
	active := segs[len(segs)-1]
	if off < active.base {
		t.Fatalf("marker %d before the active segment %d", off, active.base)
	}
	for _, s := range segs {
		b, _ := os.ReadFile(segmentName(dir, s.base, txnIndexSuffix))
		want := 0
		if s == active {
			want = txnIndexEntrySize
		}
		if len(b) != want {
			t.Errorf("segment %d: %d txnindex bytes, want %d", s.base, len(b), want)
		}
	}
	got, _ := DecodeTxnIndex(mustRead(t, segmentName(dir, active.base, txnIndexSuffix)))
	if want := []AbortedTxn{{1, 0, off, off + 1}}; !slices.Equal(got, want) {
		t.Fatalf("entry %+v, want %+v", got, want)
	}
	// Fetching from the last segment still learns of the transaction begun in the first.
	if got := l.AbortedTransactions(off, off+1); len(got) != 1 {
		t.Fatalf("AbortedTransactions from the marker's segment: %+v", got)
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestTxnIndexFollowsSegmentLifecycle(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	l := openLog(t, dir, smallCfg())
	fillTxns(t, l, 20)
	all := l.AbortedTransactions(0, l.LogEndOffset())
	// DeleteRecords removes whole segments and their .txnindex files.
	segs := l.segments()
	cut := segs[len(segs)/2].base
	if _, err := l.DeleteRecords(cut); err != nil {
		t.Fatal(err)
	}
	for _, s := range segs[:len(segs)/2] {
		if _, err := os.Stat(segmentName(dir, s.base, txnIndexSuffix)); !os.IsNotExist(err) {
			t.Errorf("txnindex of deleted segment %d: %v", s.base, err)
		}
	}
	if n := len(txnIndexFiles(t, dir)); n != len(l.segments()) {
		t.Errorf("%d txnindex files for %d segments", n, len(l.segments()))
	}
	// Truncation drops entries whose marker is cut, in the kept segment too.
	mid := all[len(all)-3]
	if err := l.TruncateTo(mid.LastOffset); err != nil {
		t.Fatal(err)
	}
	for _, a := range l.AbortedTransactions(0, l.LogEndOffset()+1) {
		if a.LastOffset >= mid.LastOffset {
			t.Errorf("entry %+v survived truncation to %d", a, mid.LastOffset)
		}
	}
	got, _ := DecodeTxnIndex(mustRead(t, segmentName(dir, l.active().base, txnIndexSuffix)))
	for _, a := range got {
		if a.LastOffset >= mid.LastOffset {
			t.Errorf("file entry %+v survived truncation", a)
		}
	}
	// The truncated transaction is ongoing again.
	if lso := l.LastStableOffset(); lso > mid.FirstOffset {
		t.Errorf("LSO %d after cutting the marker of a transaction starting at %d", lso, mid.FirstOffset)
	}
}

func TestTxnCrashMidTransaction(t *testing.T) {
	t.Parallel()
	for _, how := range []string{"crash", "crash after roll", "close"} {
		t.Run(how, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			l := openLog(t, dir, smallCfg())
			d := newTxnDriver(t, l)
			d.do(txnOp{kind: "plain", n: 3})
			first, _ := d.do(txnOp{kind: "txn", pid: 9, n: 2})
			d.do(txnOp{kind: "txn", pid: 9, n: 2})
			if how == "crash after roll" {
				for len(l.segments()) < 3 { // snapshots at the rolls hold the open transaction
					d.do(txnOp{kind: "plain"})
				}
			}
			if lso := l.LastStableOffset(); lso != first {
				t.Fatalf("LSO %d, want %d", lso, first)
			}
			if how == "close" {
				l.Close()
			} else {
				crash(l)
			}
			l = openLog(t, dir, smallCfg())
			if lso := l.LastStableOffset(); lso != first {
				t.Fatalf("LSO after reopen %d, want %d", lso, first)
			}
			if _, err := l.AppendControl(9, 0, true, 0, 0); err != nil {
				t.Fatal(err)
			}
			if lso := l.LastStableOffset(); lso != l.LogEndOffset() {
				t.Fatalf("LSO after commit %d, want %d", lso, l.LogEndOffset())
			}
		})
	}
}

func TestTxnSnapshotV1StillRead(t *testing.T) {
	t.Parallel()
	ps := newProducerState()
	ps.update(BatchHeader{ProducerID: 5, ProducerEpoch: 2, BaseSequence: 0, LastOffsetDelta: 2, BaseOffset: 10, MaxTimestamp: 7})
	b := ps.encode()
	// Re-encode as GPS1: drop txnFirst and coordEpoch.
	v1 := append([]byte(snapshotMagicV1), b[4:8+18]...)
	v1 = append(v1, b[8+18+12:len(b)-4]...)
	v1 = appendU32(v1, crc32c(v1))
	got, ok := decodeProducerState(v1)
	if !ok {
		t.Fatal("GPS1 snapshot not read")
	}
	e := got.producers[5]
	if e == nil || e.epoch != 2 || e.txnFirst != -1 || e.coordEpoch != -1 || len(e.batches) != 1 || e.batches[0].lastOff != 12 {
		t.Fatalf("entry %+v", e)
	}
}

// TestTxnModel drives random appends (plain, transactional, markers),
// rolls, restarts and crashes against a model of the LSO and the aborted
// list.
func TestTxnModel(t *testing.T) {
	t.Parallel()
	for seed := range uint64(6) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			t.Parallel()
			rng := rand.New(rand.NewPCG(seed, 1))
			dir := t.TempDir()
			l := openLog(t, dir, smallCfg())
			d := newTxnDriver(t, l)
			ongoing := map[int64]int64{} // pid -> first offset
			var aborted []AbortedTxn
			modelLSO := func() int64 {
				lso := l.LogEndOffset()
				for _, f := range ongoing {
					lso = min(lso, f)
				}
				return lso
			}
			for step := range 400 {
				pid := int64(rng.IntN(4))
				var op txnOp
				switch r := rng.IntN(10); {
				case r < 3:
					op = txnOp{kind: "plain", n: 1 + rng.IntN(3)}
				case r < 7:
					op = txnOp{kind: "txn", pid: pid, n: 1 + rng.IntN(3)}
				case r < 8:
					op = txnOp{kind: "abort", pid: pid}
				case r < 9:
					op = txnOp{kind: "commit", pid: pid}
				default:
					if rng.IntN(2) == 0 {
						crash(l)
					} else if err := l.Close(); err != nil {
						t.Fatal(err)
					}
					l = openLog(t, dir, smallCfg())
					d.l = l
					continue
				}
				off, err := d.do(op)
				if err != nil {
					t.Fatalf("step %d %+v: %v", step, op, err)
				}
				switch op.kind {
				case "txn":
					if _, ok := ongoing[pid]; !ok {
						ongoing[pid] = off
					}
				case "abort", "commit":
					if f, ok := ongoing[pid]; ok {
						delete(ongoing, pid)
						if op.kind == "abort" {
							lso := off + 1
							for _, o := range ongoing {
								lso = min(lso, o)
							}
							aborted = append(aborted, AbortedTxn{pid, f, off, lso})
						}
					}
				}
				if got, want := l.LastStableOffset(), modelLSO(); got != want {
					t.Fatalf("step %d: LSO %d, model %d", step, got, want)
				}
			}
			if got := l.AbortedTransactions(0, l.LogEndOffset()); !slices.Equal(got, aborted) {
				t.Fatalf("aborted %+v\nmodel %+v", got, aborted)
			}
			for range 50 {
				from := rng.Int64N(l.LogEndOffset())
				to := from + rng.Int64N(l.LogEndOffset()-from+1)
				var want []AbortedTxn
				for _, a := range aborted {
					if a.LastOffset >= from && a.FirstOffset < to {
						want = append(want, a)
					}
				}
				if got := l.AbortedTransactions(from, to); !slices.Equal(got, want) {
					t.Fatalf("AbortedTransactions(%d, %d) = %+v, want %+v", from, to, got, want)
				}
			}
		})
	}
}

func keyed(attrs int16, pid int64, seq int32, kv ...string) []byte {
	var recs []Record
	for i := 0; i+1 < len(kv); i += 2 {
		recs = append(recs, Record{Key: []byte(kv[i]), Value: []byte(kv[i+1])})
	}
	return BuildBatch(BatchHeader{PartitionLeaderEpoch: -1, Attributes: attrs, BaseTimestamp: 1000, MaxTimestamp: 1000,
		ProducerID: pid, ProducerEpoch: 0, BaseSequence: seq}, recs)
}

func TestTxnCompactionDropsAbortedRecords(t *testing.T) {
	t.Parallel()
	cfg := smallCfg()
	cfg.CleanupPolicy = "compact"
	cfg.MinCleanableDirtyRatio = 0
	cfg.DeleteRetentionMs = 1000
	dir := t.TempDir()
	l := openLog(t, dir, cfg)
	app := func(b []byte) {
		t.Helper()
		if _, err := l.Append(b, 0); err != nil {
			t.Fatal(err)
		}
	}
	app(keyed(0, -1, -1, "a", "good-a", "b", "good-b"))
	app(keyed(attrTransactional, 1, 0, "a", "aborted-a"))   // aborted: must not shadow good-a
	app(keyed(attrTransactional, 2, 0, "b", "committed-b")) // committed: shadows good-b
	app(keyed(attrTransactional, 1, 1, "c", "aborted-c"))   // aborted
	if _, err := l.AppendControl(1, 0, false, 0, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := l.AppendControl(2, 0, true, 0, 0); err != nil {
		t.Fatal(err)
	}
	// Producer 1's last batch is elsewhere: its aborted batches can go
	// entirely (a producer's last batch keeps an empty header).
	app(keyed(0, 1, 2, "d", "later-d"))
	for i := range 30 {
		app(keyed(0, -1, -1, fmt.Sprintf("filler-%d", i), "x"))
	}
	app(keyed(attrTransactional, 3, 0, "a", "open-a")) // ongoing: above the LSO, never cleaned
	for i := range 30 {
		app(keyed(0, -1, -1, fmt.Sprintf("filler-%d", i), "y"))
	}
	aborted := l.AbortedTransactions(0, l.LogEndOffset())
	if _, err := l.Compact(t.Context(), newClock().Now()); err != nil {
		t.Fatal(err)
	}
	values := func(l *Log) (map[string][]string, int) {
		vals := map[string][]string{}
		markers := 0
		var all []byte
		for off := l.LogStartOffset(); off < l.LogEndOffset(); {
			reg, err := l.Read(off, l.LogEndOffset(), 1<<20, true)
			if err != nil || reg.Len == 0 {
				t.Fatalf("Read(%d): %v", off, err)
			}
			b, err := reg.ReadAll()
			reg.Release()
			if err != nil {
				t.Fatal(err)
			}
			WalkBatches(b, func(h BatchHeader, _ []byte) error { off = h.LastOffset() + 1; return nil })
			all = append(all, b...)
		}
		WalkBatches(all, func(h BatchHeader, b []byte) error {
			if h.IsControl() {
				markers++
				return nil
			}
			recs, _ := BatchRecords(b, h)
			return forEachRecord(recs, h.NumRecords, func(r *recordView) bool {
				vals[string(r.key)] = append(vals[string(r.key)], string(parseValue(t, r)))
				return true
			})
		})
		return vals, markers
	}
	check := func(l *Log) {
		t.Helper()
		vals, markers := values(l)
		want := map[string][]string{"a": {"good-a", "open-a"}, "b": {"committed-b"}}
		for k, v := range want {
			if !slices.Equal(vals[k], v) {
				t.Errorf("key %s: %q, want %q", k, vals[k], v)
			}
		}
		if len(vals["c"]) != 0 {
			t.Errorf("aborted key c kept: %q", vals["c"])
		}
		if markers != 2 {
			t.Errorf("%d markers kept, want 2", markers)
		}
		if got := l.AbortedTransactions(0, l.LogEndOffset()); !slices.Equal(got, aborted) {
			t.Errorf("aborted list after compaction %+v, want %+v", got, aborted)
		}
	}
	check(l)
	l.Close()
	l = openLog(t, dir, cfg)
	check(l)

	// Next pass: the aborted transaction has no data left, so its marker
	// gets a delete horizon and its .txnindex entry goes; a pass after the
	// horizon removes the marker. The committed transaction keeps its data
	// and its marker.
	clock := newClock()
	more := func(tag string) {
		t.Helper()
		for i := range 30 {
			app(keyed(0, -1, -1, fmt.Sprintf("more-%s-%d", tag, i), "z"))
		}
	}
	if _, err := l.AppendControl(3, 0, true, 0, 0); err != nil { // unblocks the LSO
		t.Fatal(err)
	}
	more("1")
	if _, err := l.Compact(t.Context(), clock.Now()); err != nil {
		t.Fatal(err)
	}
	if _, markers := values(l); markers != 3 {
		t.Fatalf("%d markers before the horizon, want 3", markers)
	}
	if got := l.AbortedTransactions(0, l.LogEndOffset()); len(got) != 0 {
		t.Fatalf("entries of a transaction without data kept: %+v", got)
	}
	clock.Advance(time.Duration(cfg.DeleteRetentionMs+1) * time.Millisecond)
	more("2")
	if _, err := l.Compact(t.Context(), clock.Now()); err != nil {
		t.Fatal(err)
	}
	vals, markers := values(l)
	if markers != 2 || !slices.Equal(vals["b"], []string{"committed-b"}) || !slices.Equal(vals["a"], []string{"open-a"}) {
		t.Fatalf("after the horizon: %d markers, b = %q", markers, vals["b"])
	}
	l.Close()
	l = openLog(t, dir, cfg)
	if _, m := values(l); m != 2 || l.LastStableOffset() != l.LogEndOffset() {
		t.Fatalf("after restart: %d markers", m)
	}
}

// parseValue returns a record's value (r.rest holds key length onward).
func parseValue(t *testing.T, r *recordView) []byte {
	t.Helper()
	p := r.rest
	kl, n := binary.Varint(p)
	p = p[n+int(max(kl, 0)):]
	vl, n := binary.Varint(p)
	if vl < 0 {
		return nil
	}
	return p[n : n+int(vl)]
}

func TestTxnDeleteRecordsNeverMovesLSOBack(t *testing.T) {
	t.Parallel()
	l := openLog(t, t.TempDir(), smallCfg())
	d := newTxnDriver(t, l)
	d.do(txnOp{kind: "plain", n: 3})
	first, _ := d.do(txnOp{kind: "txn", pid: 4}) // 3, left open
	for len(l.segments()) < 4 {
		d.do(txnOp{kind: "plain"})
	}
	prev := l.LastStableOffset()
	if prev != first {
		t.Fatalf("LSO %d, want %d", prev, first)
	}
	for _, cut := range []int64{2, first + 1, l.segments()[2].base} {
		if _, err := l.DeleteRecords(cut); err != nil {
			t.Fatal(err)
		}
		lso := l.LastStableOffset()
		if lso < prev || lso < l.LogStartOffset() {
			t.Fatalf("DeleteRecords(%d): LSO %d after %d (log start %d)", cut, lso, prev, l.LogStartOffset())
		}
		prev = lso
	}
	// The transaction is still open: its commit moves the LSO to the end.
	if _, err := l.AppendControl(4, 0, true, 0, 0); err != nil {
		t.Fatal(err)
	}
	if lso := l.LastStableOffset(); lso != l.LogEndOffset() {
		t.Fatalf("LSO after commit %d, want %d", lso, l.LogEndOffset())
	}
}
