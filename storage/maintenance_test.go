package storage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"testing"
	"time"
)

// kv is one record for buildKeyed: a nil key is a null key, a nil value a
// tombstone.
type kv struct{ key, value []byte }

// buildKeyed builds a batch of keyed records compressed with codec.
func buildKeyed(t testing.TB, recs []kv, codec int8, ts int64, pid int64, seq int32) []byte {
	t.Helper()
	var raw []byte
	for i, r := range recs {
		body := []byte{0}
		body = binary.AppendVarint(body, 0)
		body = binary.AppendVarint(body, int64(i))
		for _, f := range [][]byte{r.key, r.value} {
			if f == nil {
				body = binary.AppendVarint(body, -1)
			} else {
				body = binary.AppendVarint(body, int64(len(f)))
				body = append(body, f...)
			}
		}
		body = binary.AppendVarint(body, 0)
		raw = binary.AppendVarint(raw, int64(len(body)))
		raw = append(raw, body...)
	}
	payload, err := compress(codec, raw)
	if err != nil {
		t.Fatal(err)
	}
	epoch := int16(0)
	if pid < 0 {
		epoch, seq = -1, -1
	}
	h := BatchHeader{PartitionLeaderEpoch: -1, Attributes: int16(codec), LastOffsetDelta: int32(len(recs) - 1),
		BaseTimestamp: ts, MaxTimestamp: ts, ProducerID: pid, ProducerEpoch: epoch, BaseSequence: seq}
	return encodeBatch(h, int32(len(recs)), payload)
}

type gotRecord struct {
	off        int64
	key, value string
	tombstone  bool
	ts         int64
}

// readRecords reads every record in [LogStartOffset, HW), releasing regions.
func readRecords(t testing.TB, l *Log) []gotRecord {
	t.Helper()
	var out []gotRecord
	off, hw := l.LogStartOffset(), l.HighWatermark()
	for off < hw {
		reg, err := l.Read(off, hw, 1<<20, true)
		if err != nil {
			t.Fatalf("Read(%d): %v", off, err)
		}
		if reg.Len == 0 {
			break
		}
		b, err := reg.ReadAll()
		reg.Release()
		if err != nil {
			t.Fatal(err)
		}
		for len(b) > 0 {
			h, err := ParseBatchHeader(b)
			if err != nil {
				t.Fatal(err)
			}
			if err := checkStoredCount(h); err != nil {
				t.Fatal(err)
			}
			recs, err := batchRecords(b, h)
			if err != nil {
				t.Fatal(err)
			}
			if err := forEachRecord(recs, h.NumRecords, func(r *recordView) bool {
				if o := h.BaseOffset + int64(r.offDelta); o >= l.LogStartOffset() {
					g := gotRecord{off: o, key: string(r.key), tombstone: r.valueNull, ts: h.BaseTimestamp + r.tsDelta}
					if !r.valueNull {
						rest := r.rest
						kl, n := binary.Varint(rest)
						rest = rest[n+max(int(kl), 0):]
						vl, n := binary.Varint(rest)
						g.value = string(rest[n : n+int(vl)])
					}
					out = append(out, g)
				}
				return true
			}); err != nil {
				t.Fatal(err)
			}
			off = h.LastOffset() + 1
			b = b[h.Size():]
		}
	}
	return out
}

func TestRegionOutlivesDeletedSegment(t *testing.T) {
	t.Parallel()
	cfg := DefaultConfig()
	cfg.SegmentBytes = 1000
	l := openLog(t, t.TempDir(), cfg)
	for i := 0; i < 20; i++ {
		o := noPID()
		o.valueSize, o.fill = 200, byte(i)
		mustAppend(t, l, buildBatch(o))
	}
	if n := len(l.segments()); n < 5 {
		t.Fatalf("%d segments", n)
	}
	reg, err := l.Read(0, l.HighWatermark(), 100, true)
	if err != nil || reg.Len == 0 {
		t.Fatalf("read: %v %d", err, reg.Len)
	}
	want, _ := reg.ReadAll()
	low, err := l.DeleteRecords(10)
	if err != nil || low != 10 {
		t.Fatalf("DeleteRecords: %d %v", low, err)
	}
	if _, err := os.Stat(segmentName(l.dir, 0, logSuffix)); !os.IsNotExist(err) {
		t.Fatalf("segment 0 not deleted: %v", err)
	}
	got, err := reg.ReadAll()
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("region of a deleted segment: %v", err)
	}
	if n := l.RetainedSegments(); n != 1 {
		t.Fatalf("retained segments %d, want 1", n)
	}
	reg.Release()
	if n := l.RetainedSegments(); n != 0 {
		t.Fatalf("retained segments %d after release", n)
	}
	if _, err := reg.File.ReadAt(make([]byte, 1), 0); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("file still open after the last release: %v", err)
	}
	Region{}.Release() // no-op
	_, err = l.Read(9, l.HighWatermark(), 100, true)
	wantErr(t, err, ErrOffsetOutOfRange)
	// Close keeps held regions readable too.
	reg, err = l.Read(15, l.HighWatermark(), 100, true)
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	if _, err := reg.ReadAll(); err != nil {
		t.Fatalf("region after Close: %v", err)
	}
	reg.Release()
}

func TestRetentionByTime(t *testing.T) {
	t.Parallel()
	clock := newClock()
	cfg := DefaultConfig()
	cfg.SegmentBytes = 500
	cfg.RetentionMs = 60_000
	dir := t.TempDir()
	l, err := Open(dir, cfg, clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { l.Close() }()
	now := clock.Now().UnixMilli()
	// 10 batches of ~300 bytes: one per segment; timestamps a minute apart.
	for i := 0; i < 10; i++ {
		o := noPID()
		o.valueSize, o.baseTs = 230, now-int64(10-i)*60_000
		mustAppend(t, l, buildBatch(o))
	}
	if n := len(l.segments()); n != 10 {
		t.Fatalf("%d segments", n)
	}
	// Batch i is (10-i) minutes old: 0..8 are older than 60s (batch 9 is exactly 60s: not > retention).
	n, err := l.EnforceRetention(clock.Now())
	if err != nil || n != 9 {
		t.Fatalf("deleted %d, %v", n, err)
	}
	if l.LogStartOffset() != 9 || l.LogEndOffset() != 10 {
		t.Fatalf("start %d end %d", l.LogStartOffset(), l.LogEndOffset())
	}
	// Everything expired: the active segment is rolled, then deleted.
	clock.Advance(time.Minute)
	if n, err := l.EnforceRetention(clock.Now()); err != nil || n != 1 {
		t.Fatalf("deleted %d, %v", n, err)
	}
	if l.LogStartOffset() != 10 || l.LogEndOffset() != 10 || len(l.segments()) != 1 || l.segments()[0].base != 10 {
		t.Fatalf("after full expiry: start %d end %d segs %d", l.LogStartOffset(), l.LogEndOffset(), len(l.segments()))
	}
	if n, _ := l.EnforceRetention(clock.Now()); n != 0 {
		t.Fatalf("empty active segment deleted")
	}
	mustAppend(t, l, buildBatch(noPID()))
	// Restart keeps the log start offset.
	l.Close()
	l = openLog(t, dir, cfg)
	if l.LogStartOffset() != 10 || l.LogEndOffset() != 11 {
		t.Fatalf("after restart: start %d end %d", l.LogStartOffset(), l.LogEndOffset())
	}
	// retention.ms = -1 keeps everything.
	cfg.RetentionMs = -1
	l.SetConfig(cfg)
	clock.Advance(time.Hour)
	if n, _ := l.EnforceRetention(clock.Now().Add(365 * 24 * time.Hour)); n != 0 {
		t.Fatalf("retention.ms=-1 deleted %d", n)
	}
}

func TestRetentionBySize(t *testing.T) {
	t.Parallel()
	cfg := DefaultConfig()
	cfg.SegmentBytes = 500
	cfg.RetentionBytes = 1000
	l := openLog(t, t.TempDir(), cfg)
	var size int64
	for i := 0; i < 10; i++ {
		o := noPID()
		o.valueSize = 230
		b := buildBatch(o)
		size = int64(len(b))
		mustAppend(t, l, b)
	}
	// 10 segments of size bytes; delete while total - seg >= 1000.
	n, err := l.EnforceRetention(time.UnixMilli(0))
	want := int(10 - (1000+size-1)/size)
	if err != nil || n != want {
		t.Fatalf("deleted %d want %d (%v)", n, want, err)
	}
	var total int64
	for _, s := range l.segments() {
		total += s.wsize
	}
	if total < 1000 || total-size >= 1000 {
		t.Fatalf("left %d bytes", total)
	}
	// Segments above the high watermark are never deleted.
	l.SetAutoHighWatermark(false)
	l.SetHighWatermark(l.LogStartOffset())
	cfg.RetentionBytes = 1
	l.SetConfig(cfg)
	if n, _ := l.EnforceRetention(time.UnixMilli(0)); n != 0 {
		t.Fatalf("deleted %d segments above the high watermark", n)
	}
}

func TestDeleteRecords(t *testing.T) {
	t.Parallel()
	cfg := DefaultConfig()
	cfg.SegmentBytes = 1000
	dir := t.TempDir()
	l := openLog(t, dir, cfg)
	for i := 0; i < 30; i++ {
		mustAppend(t, l, buildBatch(batchOpts{pid: 7, epoch: 0, seq: int32(i), valueSize: 100}))
	}
	if _, err := l.DeleteRecords(31); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("beyond HW: %v", err)
	}
	if low, err := l.DeleteRecords(12); err != nil || low != 12 {
		t.Fatalf("%d %v", low, err)
	}
	if low, err := l.DeleteRecords(5); err != nil || low != 12 {
		t.Fatalf("lower offset: %d %v", low, err)
	}
	if l.segments()[0].base > 12 {
		t.Fatalf("segment holding 12 deleted")
	}
	_, err := l.Read(11, 30, 100, true)
	wantErr(t, err, ErrOffsetOutOfRange)
	if recs := readRecords(t, l); len(recs) != 18 || recs[0].off != 12 {
		t.Fatalf("records after delete: %d first %v", len(recs), recs[0])
	}
	crash(l) // the checkpoint is written before anything is removed
	l = openLog(t, dir, cfg)
	if l.LogStartOffset() != 12 {
		t.Fatalf("start after crash %d", l.LogStartOffset())
	}
	if low, err := l.DeleteRecords(-1); err != nil || low != 30 {
		t.Fatalf("-1: %d %v", low, err)
	}
	l.Close()
	l = openLog(t, dir, cfg)
	if l.LogStartOffset() != 30 || l.LogEndOffset() != 30 {
		t.Fatalf("after restart: %d %d", l.LogStartOffset(), l.LogEndOffset())
	}
	cfg.CleanupPolicy = "compact"
	l.SetConfig(cfg)
	if _, err := l.DeleteRecords(-1); !errors.Is(err, ErrPolicyViolation) {
		t.Fatalf("compact-only: %v", err)
	}
}

func TestTruncateTo(t *testing.T) {
	t.Parallel()
	cfg := DefaultConfig()
	cfg.SegmentBytes = 700
	cfg.IndexIntervalBytes = 1
	dir := t.TempDir()
	l := openLog(t, dir, cfg)
	for i := 0; i < 20; i++ {
		o := batchOpts{pid: 3, epoch: 0, seq: int32(3 * i), n: 3, valueSize: 50}
		if _, err := l.Append(buildBatch(o), int32(i/5)); err != nil { // epochs 0..3, 15 records each
			t.Fatal(err)
		}
	}
	if got := l.LeaderEpochs(); len(got) != 4 || got[2] != (EpochEntry{2, 30}) {
		t.Fatalf("epochs %v", got)
	}
	for _, c := range []struct {
		epoch   int32
		end     int64
		epochIs int32
	}{{-1, -1, -1}, {0, 15, 0}, {1, 30, 1}, {3, 60, 3}, {4, -1, -1}} {
		if end, e := l.EndOffsetForEpoch(c.epoch); end != c.end || e != c.epochIs {
			t.Errorf("EndOffsetForEpoch(%d) = %d, %d want %d, %d", c.epoch, end, e, c.end, c.epochIs)
		}
	}
	// Mid-batch: the batch containing 32 (30..32) goes too.
	if err := l.TruncateTo(32); err != nil {
		t.Fatal(err)
	}
	if l.LogEndOffset() != 30 || l.HighWatermark() != 30 {
		t.Fatalf("LEO %d HW %d", l.LogEndOffset(), l.HighWatermark())
	}
	if got := l.LeaderEpochs(); len(got) != 2 {
		t.Fatalf("epochs after truncation %v", got)
	}
	if end, e := l.EndOffsetForEpoch(1); end != 30 || e != 1 {
		t.Fatalf("latest epoch end %d %d", end, e)
	}
	if recs := readRecords(t, l); len(recs) != 30 || recs[29].off != 29 {
		t.Fatalf("%d records", len(recs))
	}
	// Producer state rebuilt: the batch at seq 30 is new again, 27 a duplicate.
	if res := mustAppend(t, l, buildBatch(batchOpts{pid: 3, epoch: 0, seq: 27, n: 3, valueSize: 50})); !res.Duplicate || res.BaseOffset != 27 {
		t.Fatalf("retry after truncation: %+v", res)
	}
	if res := mustAppend(t, l, buildBatch(batchOpts{pid: 3, epoch: 0, seq: 30, n: 3, valueSize: 50})); res.Duplicate || res.BaseOffset != 30 {
		t.Fatalf("append after truncation: %+v", res)
	}
	l.Close()
	l = openLog(t, dir, cfg)
	if l.LogEndOffset() != 33 || len(readRecords(t, l)) != 33 {
		t.Fatalf("after restart LEO %d", l.LogEndOffset())
	}
	if err := l.TruncateTo(100); err != nil || l.LogEndOffset() != 33 {
		t.Fatalf("truncate beyond end: %v", err)
	}
	// Fully: restart at offset 0.
	if err := l.TruncateTo(0); err != nil {
		t.Fatal(err)
	}
	if l.LogEndOffset() != 0 || l.LogStartOffset() != 0 || len(l.LeaderEpochs()) != 0 {
		t.Fatalf("after full truncation: %d %d %v", l.LogEndOffset(), l.LogStartOffset(), l.LeaderEpochs())
	}
	mustAppend(t, l, buildBatch(noPID()))
	crash(l)
	l = openLog(t, dir, cfg)
	if l.LogEndOffset() != 1 {
		t.Fatalf("LEO after crash %d", l.LogEndOffset())
	}
}

func compactConfig() Config {
	cfg := DefaultConfig()
	cfg.CleanupPolicy = "compact"
	cfg.SegmentBytes = 2048
	cfg.IndexIntervalBytes = 256
	cfg.MinCleanableDirtyRatio = 0
	return cfg
}

// modelCheck verifies compaction against the appended history: every
// key's latest record is present at its offset, every present record is
// what was appended at that offset, and below the cleaner checkpoint each
// key appears once.
func modelCheck(t *testing.T, l *Log, appended map[int64]kv, latest map[string]int64, tombstonesGone bool) {
	t.Helper()
	recs := readRecords(t, l)
	present := map[int64]gotRecord{}
	seen := map[string]bool{}
	l.mu.Lock()
	cleaned := l.cleanerCheckpoint
	l.mu.Unlock()
	last := int64(-1)
	for _, r := range recs {
		if r.off <= last {
			t.Fatalf("offsets not increasing: %d after %d", r.off, last)
		}
		last = r.off
		a, ok := appended[r.off]
		if !ok || string(a.key) != r.key || (a.value == nil) != r.tombstone || string(a.value) != r.value {
			t.Fatalf("record at %d is %+v, appended %q=%q", r.off, r, a.key, a.value)
		}
		if r.off < cleaned {
			if seen[r.key] {
				t.Fatalf("key %q twice in the cleaned part (below %d)", r.key, cleaned)
			}
			seen[r.key] = true
		}
		present[r.off] = r
	}
	for k, off := range latest {
		r, ok := present[off]
		switch {
		case ok:
			if tombstonesGone && r.tombstone && off < cleaned {
				t.Fatalf("expired tombstone for %q at %d kept", k, off)
			}
		case appended[off].value == nil && tombstonesGone:
		default:
			t.Fatalf("latest record of %q at %d missing", k, off)
		}
	}
}

func TestCompactionModel(t *testing.T) {
	t.Parallel()
	for _, codec := range []int8{0, 1, 2, 3, 4} {
		t.Run(fmt.Sprintf("codec%d", codec), func(t *testing.T) {
			t.Parallel()
			clock := newClock()
			dir := t.TempDir()
			cfg := compactConfig()
			l, err := Open(dir, cfg, clock.Now)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { l.Close() }()
			rng := rand.New(rand.NewPCG(uint64(codec), 9))
			appended := map[int64]kv{}
			latest := map[string]int64{}
			var seq int32
			for step := 0; step < 300; step++ {
				n := 1 + rng.IntN(4)
				var recs []kv
				for range n {
					r := kv{key: fmt.Appendf(nil, "k%02d", rng.IntN(40)), value: fmt.Appendf(nil, "v%d-%s", step, bytes.Repeat([]byte{'x'}, rng.IntN(60)))}
					if rng.IntN(10) == 0 {
						r.value = nil
					}
					recs = append(recs, r)
				}
				res := mustAppend(t, l, buildKeyed(t, recs, codec, clock.Now().UnixMilli(), 5, seq))
				seq += int32(n)
				for i, r := range recs {
					appended[res.BaseOffset+int64(i)] = r
					latest[string(r.key)] = res.BaseOffset + int64(i)
				}
				if step%60 == 59 {
					st, err := l.Compact(t.Context(), clock.Now())
					if err != nil {
						t.Fatal(err)
					}
					if st.Segments == 0 || st.RecordsRemoved == 0 {
						t.Fatalf("step %d: nothing compacted: %+v", step, st)
					}
					modelCheck(t, l, appended, latest, false)
				}
				if step == 150 {
					l.Close()
					if l, err = Open(dir, cfg, clock.Now); err != nil {
						t.Fatal(err)
					}
				}
			}
			// Tombstones outlive a pass, then go after delete.retention.ms.
			if _, err := l.Compact(t.Context(), clock.Now()); err != nil {
				t.Fatal(err)
			}
			modelCheck(t, l, appended, latest, false)
			clock.Advance(time.Duration(cfg.DeleteRetentionMs+1) * time.Millisecond)
			if _, err := l.Compact(t.Context(), clock.Now()); err != nil {
				t.Fatal(err)
			}
			modelCheck(t, l, appended, latest, true)
			// The producer's state survives compaction and restart.
			l.Close()
			if l, err = Open(dir, cfg, clock.Now); err != nil {
				t.Fatal(err)
			}
			modelCheck(t, l, appended, latest, true)
			res, err := l.Append(buildKeyed(t, []kv{{[]byte("k00"), []byte("after")}}, codec, clock.Now().UnixMilli(), 5, seq), 0)
			if err != nil || res.Duplicate {
				t.Fatalf("append after compaction: %+v %v", res, err)
			}
		})
	}
}

func TestCompactionRejectsNullKeys(t *testing.T) {
	t.Parallel()
	l := openLog(t, t.TempDir(), compactConfig())
	for _, codec := range []int8{0, 4} {
		_, err := l.Append(buildKeyed(t, []kv{{[]byte("a"), []byte("1")}, {nil, []byte("2")}}, codec, 1000, -1, -1), 0)
		if !errors.Is(err, ErrInvalidRecord) {
			t.Fatalf("codec %d: %v", codec, err)
		}
	}
	mustAppend(t, l, buildKeyed(t, []kv{{[]byte("a"), nil}}, 0, 1000, -1, -1))
}

func TestCompactionMinLagAndRatio(t *testing.T) {
	t.Parallel()
	clock := newClock()
	cfg := compactConfig()
	cfg.MinCompactionLagMs = 60_000
	l, err := Open(t.TempDir(), cfg, clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for i := 0; i < 100; i++ {
		mustAppend(t, l, buildKeyed(t, []kv{{[]byte("same"), bytes.Repeat([]byte{'v'}, 100)}}, 0, clock.Now().UnixMilli(), -1, -1))
	}
	if st, _ := l.Compact(t.Context(), clock.Now()); st.Segments != 0 {
		t.Fatalf("compacted records younger than min.compaction.lag.ms")
	}
	clock.Advance(2 * time.Minute)
	cfg.MinCleanableDirtyRatio = 1
	l.SetConfig(cfg)
	if st, _ := l.Compact(t.Context(), clock.Now()); st.Segments == 0 {
		t.Fatalf("all-dirty log not compacted at ratio 1")
	}
	if st, _ := l.Compact(t.Context(), clock.Now()); st.Segments != 0 {
		t.Fatalf("clean log compacted again at ratio 1")
	}
}

func TestCompactionCrashDuringSwap(t *testing.T) {
	t.Parallel()
	for step := 1; step <= 6; step++ {
		t.Run(fmt.Sprint("step", step), func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			cfg := compactConfig()
			cfg.SegmentBytes = 1 << 20 // the whole prefix is one group
			l := openLog(t, dir, cfg)
			appended := map[int64]kv{}
			latest := map[string]int64{}
			for i := 0; i < 200; i++ {
				r := kv{key: fmt.Appendf(nil, "k%d", i%7), value: fmt.Appendf(nil, "v%d", i)}
				res := mustAppend(t, l, buildKeyed(t, []kv{r}, 0, 1000, -1, -1))
				appended[res.BaseOffset], latest[string(r.key)] = r, res.BaseOffset
				if i%50 == 49 {
					l.mu.Lock()
					l.rollLocked(0)
					l.mu.Unlock()
				}
			}
			before := readRecords(t, l)
			l.testHookSwap = func(s int) bool { return s == step }
			if _, err := l.Compact(t.Context(), time.UnixMilli(2000)); !errors.Is(err, errTestCrash) {
				t.Fatalf("hook: %v", err)
			}
			crash(l)
			l = openLog(t, dir, cfg)
			after := readRecords(t, l)
			modelCheck(t, l, appended, latest, false)
			// Step 3 stops after the first rename (.index): the .log rename
			// (step 4 on) is the commit point.
			committed := step >= 4
			if committed && len(after) >= len(before) || !committed && len(after) != len(before) {
				t.Fatalf("step %d: %d records before, %d after recovery", step, len(before), len(after))
			}
			for _, pat := range []string{"*.cleaned", "*.swap", "*" + manifestSuffix} {
				if m := listDir(t, dir, pat[1:]); len(m) != 0 {
					t.Fatalf("leftover %v", m)
				}
			}
			if _, err := l.Compact(t.Context(), time.UnixMilli(2000)); err != nil {
				t.Fatal(err)
			}
			modelCheck(t, l, appended, latest, false)
		})
	}
}

func TestFlushIfDue(t *testing.T) {
	t.Parallel()
	clock := newClock()
	cfg := DefaultConfig()
	cfg.FlushMs = 1000
	l, err := Open(t.TempDir(), cfg, clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	mustAppend(t, l, buildBatch(noPID()))
	rp := func() int64 { l.mu.Lock(); defer l.mu.Unlock(); return l.recoveryPoint }
	l.FlushIfDue(clock.Now())
	if rp() != 0 {
		t.Fatalf("flushed early")
	}
	clock.Advance(time.Second)
	if err := l.FlushIfDue(clock.Now()); err != nil || rp() != 1 {
		t.Fatalf("not flushed: %d %v", rp(), err)
	}
}

// TestConcurrentMaintenance reads while appends, retention, DeleteRecords
// and compaction remove segments: reads succeed or are out of range, and
// regions stay readable until released.
func TestConcurrentMaintenance(t *testing.T) {
	t.Parallel()
	cfg := compactConfig()
	cfg.CleanupPolicy = "compact,delete"
	cfg.RetentionBytes = 20_000
	l := openLog(t, t.TempDir(), cfg)
	done := make(chan struct{})
	errs := make(chan error, 4)
	for range 3 {
		go func() {
			rng := rand.New(rand.NewPCG(1, 2))
			for {
				select {
				case <-done:
					errs <- nil
					return
				default:
				}
				start, hw := l.LogStartOffset(), l.HighWatermark()
				if hw <= start {
					continue
				}
				reg, err := l.Read(start+rng.Int64N(hw-start), hw, 4096, true)
				if err != nil {
					if errors.Is(err, ErrOffsetOutOfRange) {
						continue
					}
					errs <- err
					return
				}
				b, err := reg.ReadAll()
				reg.Release()
				if err == nil && len(b) > 0 {
					_, err = ParseBatchHeader(b)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for i := 0; i < 600; i++ {
		mustAppend(t, l, buildKeyed(t, []kv{{fmt.Appendf(nil, "k%d", i%30), bytes.Repeat([]byte{'v'}, 100)}}, 0, 1000, -1, -1))
		switch i % 100 {
		case 30:
			if _, err := l.Compact(t.Context(), time.UnixMilli(5000)); err != nil {
				t.Fatal(err)
			}
		case 60:
			if _, err := l.EnforceRetention(time.UnixMilli(5000)); err != nil {
				t.Fatal(err)
			}
		case 90:
			if _, err := l.DeleteRecords(l.LogStartOffset() + 5); err != nil {
				t.Fatal(err)
			}
		}
	}
	close(done)
	for range 3 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}
