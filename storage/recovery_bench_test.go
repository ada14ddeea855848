package storage

import (
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"
)

// Reopen times of a large log. The size comes from GREGOR_RECOVERY_BYTES
// (default: small, for go test); the real check is
//
//	GREGOR_RECOVERY_BYTES=10737418240 go test -run TestReopenLargeLog -v ./storage
//
// with GREGOR_RECOVERY_COLD=1 to evict the log's pages from the page cache
// before each open (Linux; posix_fadvise DONTNEED on every file) and
// GREGOR_RECOVERY_DIR to build the log under a given directory instead of
// the test's temporary one (it is removed afterwards either way).

func recoveryBytes(def int64) int64 {
	if v, err := strconv.ParseInt(os.Getenv("GREGOR_RECOVERY_BYTES"), 10, 64); err == nil && v > 0 {
		return v
	}
	return def
}

// recoveryCfg is the default configuration (1 GiB segments, Kafka's) with
// segments no larger than a quarter of the log, so small logs have several.
func recoveryCfg(size int64) Config {
	cfg := DefaultConfig()
	cfg.SegmentBytes = max(min(cfg.SegmentBytes, size/4), 4<<20)
	return cfg
}

// bigBatch is one batch of 16 records of 65,000 bytes: 1,040,237 bytes, just
// under the default max.message.bytes.
func bigBatch() []byte {
	o := noPID()
	o.n, o.valueSize, o.baseTs = 16, 65000, time.Now().UnixMilli()
	return buildBatch(o)
}

// buildLargeLog appends ~1 MiB batches until the log holds size bytes and
// closes it cleanly. It returns the log end offset.
func buildLargeLog(tb testing.TB, dir string, size int64) int64 {
	tb.Helper()
	l, err := Open(dir, recoveryCfg(size), nil)
	if err != nil {
		tb.Fatal(err)
	}
	batch := bigBatch()
	for n := int64(0); n < size; n += int64(len(batch)) {
		if _, err := l.Append(batch, 0); err != nil { // restamped in place: reusable
			tb.Fatal(err)
		}
	}
	leo := l.LogEndOffset()
	if err := l.Close(); err != nil {
		tb.Fatal(err)
	}
	return leo
}

// timedOpen opens dir, returning the log, the time Open took and the live
// heap it added (after a GC on both sides).
func timedOpen(tb testing.TB, dir string, size int64) (*Log, time.Duration, int64) {
	tb.Helper()
	if os.Getenv("GREGOR_RECOVERY_COLD") != "" {
		evictPageCache(tb, dir)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	t0 := time.Now()
	l, err := Open(dir, recoveryCfg(size), nil)
	d := time.Since(t0)
	if err != nil {
		tb.Fatal(err)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	return l, d, int64(after.HeapAlloc) - int64(before.HeapAlloc)
}

func dirBytes(tb testing.TB, dir string) (n int64, segs int) {
	tb.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		tb.Fatal(err)
	}
	for _, e := range ents {
		if fi, err := e.Info(); err == nil && filepath.Ext(e.Name()) == logSuffix {
			n += fi.Size()
			segs++
		}
	}
	return n, segs
}

// checkLastBatch reads the log's last batch back.
func checkLastBatch(tb testing.TB, l *Log, leo int64) {
	tb.Helper()
	if l.LogEndOffset() != leo {
		tb.Fatalf("log end offset %d, want %d", l.LogEndOffset(), leo)
	}
	reg, err := l.Read(leo-1, leo, 1, true)
	if err != nil {
		tb.Fatal(err)
	}
	defer reg.Release()
	b, err := reg.ReadAll()
	if err != nil {
		tb.Fatal(err)
	}
	h, err := validateBatch(b)
	if err != nil || h.LastOffset() != leo-1 {
		tb.Fatalf("last batch: %+v %v", h, err)
	}
}

// TestReopenLargeLog builds a log of GREGOR_RECOVERY_BYTES (default 64 MiB)
// and times Open after a clean shutdown (must be under a second), after a
// crash (no clean-shutdown marker: the segment holding the recovery point
// on is rescanned, here the active one) and with the recovery-point
// checkpoint lost too (every segment rescanned: the worst case).
func TestReopenLargeLog(t *testing.T) {
	size := recoveryBytes(64 << 20)
	parent := os.Getenv("GREGOR_RECOVERY_DIR")
	if parent == "" {
		parent = t.TempDir()
	}
	dir, err := os.MkdirTemp(parent, "reopen-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)

	t0 := time.Now()
	leo := buildLargeLog(t, dir, size)
	onDisk, segs := dirBytes(t, dir)
	t.Logf("built %d bytes (%d segments of up to %d bytes, %d batches) in %v",
		onDisk, segs, recoveryCfg(size).SegmentBytes, leo/16, time.Since(t0).Round(time.Millisecond))

	// Clean shutdown; with GREGOR_RECOVERY_COLD, once with the page cache
	// as the build left it first.
	if os.Getenv("GREGOR_RECOVERY_COLD") != "" {
		t.Setenv("GREGOR_RECOVERY_COLD", "")
		l, d, heap := timedOpen(t, dir, size)
		checkLastBatch(t, l, leo)
		t.Logf("clean reopen (warm cache): %v, heap %+d bytes", d, heap)
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		t.Setenv("GREGOR_RECOVERY_COLD", "1")
	}
	l, d, heap := timedOpen(t, dir, size)
	checkLastBatch(t, l, leo)
	t.Logf("clean reopen:   %v, heap %+d bytes", d, heap)
	if d > time.Second {
		t.Errorf("clean reopen took %v, want under a second", d)
	}

	// Crash with the active segment as full as it gets (the worst case
	// with an intact recovery point: it is rescanned from its start): the
	// files are closed without a checkpoint or the clean-shutdown marker.
	batch := bigBatch()
	activeBytes := func() int64 {
		l.mu.Lock()
		defer l.mu.Unlock()
		return l.active().wsize
	}
	for activeBytes()+2*int64(len(batch)) <= l.Config().SegmentBytes {
		if _, err := l.Append(batch, 0); err != nil {
			t.Fatal(err)
		}
	}
	leo, active := l.LogEndOffset(), activeBytes()
	crash(l)
	onDisk, _ = dirBytes(t, dir)
	l, d, heap = timedOpen(t, dir, size)
	checkLastBatch(t, l, leo)
	t.Logf("unclean reopen: %v, heap %+d bytes (active segment of %d bytes rescanned)", d, heap, active)

	// Crash and the recovery point lost: everything is rescanned.
	crash(l)
	if err := os.Remove(filepath.Join(dir, recoveryPointFile)); err != nil {
		t.Fatal(err)
	}
	l, d, heap = timedOpen(t, dir, size)
	checkLastBatch(t, l, leo)
	t.Logf("full recovery:  %v, heap %+d bytes (%.0f MB/s)", d, heap, float64(onDisk)/d.Seconds()/1e6)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}

// benchReopen times Open of a log of GREGOR_RECOVERY_BYTES (default 256 MiB)
// prepared by prep before each open.
func benchReopen(b *testing.B, prep func(dir string, l *Log)) {
	size := recoveryBytes(256 << 20)
	dir := b.TempDir()
	buildLargeLog(b, dir, size)
	onDisk, _ := dirBytes(b, dir)
	l, err := Open(dir, recoveryCfg(size), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		prep(dir, l)
		b.StartTimer()
		if l, err = Open(dir, recoveryCfg(size), nil); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	l.Close()
	b.ReportMetric(float64(onDisk)/(1<<20), "MiB-log")
}

// BenchmarkReopenClean: Open after Close.
func BenchmarkReopenClean(b *testing.B) {
	benchReopen(b, func(_ string, l *Log) {
		if err := l.Close(); err != nil {
			b.Fatal(err)
		}
	})
}

// BenchmarkReopenUnclean: Open after a crash; the active segment (from the
// recovery point) is rescanned.
func BenchmarkReopenUnclean(b *testing.B) {
	benchReopen(b, func(_ string, l *Log) { crash(l) })
}

// BenchmarkReopenFullRecovery: Open after a crash with the recovery-point
// checkpoint lost: every segment is rescanned (CRC, indexes rebuilt).
func BenchmarkReopenFullRecovery(b *testing.B) {
	benchReopen(b, func(dir string, l *Log) {
		crash(l)
		if err := os.Remove(filepath.Join(dir, recoveryPointFile)); err != nil {
			b.Fatal(err)
		}
	})
}
