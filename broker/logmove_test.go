package broker

import (
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"gregor/storage"
)

// TestFutureReplicaCopy: a future log copies the current one batch by
// batch with offsets and leader epochs kept; a current log truncated and
// rewritten at a new epoch under the copy is detected (consistent) and
// copied again from its log start; records deleted meanwhile stay deleted
// at the swap.
func TestFutureReplicaCopy(t *testing.T) {
	t.Parallel()
	d1, d2 := newLogDir(t.TempDir(), wallClock{}, zerolog.Nop()), newLogDir(t.TempDir(), wallClock{}, zerolog.Nop())
	ps := &partitions{dirs: []*logDir{d1, d2}, where: map[tp]*logDir{}, log: zerolog.Nop()}
	cfg := storage.Config{SegmentBytes: 1 << 10, CleanupPolicy: "delete"}
	src, err := storage.Open(filepath.Join(d1.dir, "t-0"), cfg, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	fut, err := storage.Open(filepath.Join(d2.dir, "t-0.x"+futureSuffix), cfg, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	defer fut.Close()
	f := &futureReplica{topic: "t", index: 0, src: src, dest: d2, stop: make(chan struct{})}
	appendN := func(n int, epoch int32, v string) {
		for range n {
			if _, err := src.Append(batch(-1, -1, -1, 2, []byte(v)), epoch); err != nil {
				t.Fatal(err)
			}
		}
	}
	same := func() bool {
		t.Helper()
		if fut.LogEndOffset() != src.LogEndOffset() || !slices.Equal(fut.LeaderEpochs(), src.LeaderEpochs()) {
			return false
		}
		for off := fut.LogStartOffset(); off < src.LogEndOffset(); {
			a, err := src.Read(off, src.LogEndOffset(), 1<<20, true)
			if err != nil {
				t.Fatal(err)
			}
			b, err := fut.Read(off, fut.LogEndOffset(), 1<<20, true)
			if err != nil {
				t.Fatal(err)
			}
			ab, _ := a.ReadAll()
			bb, _ := b.ReadAll()
			a.Release()
			b.Release()
			if !slices.Equal(ab, bb) || len(ab) == 0 {
				return false
			}
			h, _ := storage.ParseBatchHeader(ab[len(ab)-int(lastBatchSize(t, ab)):])
			off = h.LastOffset() + 1
		}
		return true
	}
	appendN(30, 1, "one") // 60 offsets over several segments
	n, err := ps.copyRound(f, fut)
	if err != nil || n == 0 || !ps.consistent(f, fut) || !same() {
		t.Fatalf("first copy: %d bytes, %v; future leo %d, current %d", n, err, fut.LogEndOffset(), src.LogEndOffset())
	}
	// The current log is truncated (a follower whose leader changed) and
	// rewritten to the same length at epoch 2: the copy has diverged.
	if err := src.TruncateTo(40); err != nil {
		t.Fatal(err)
	}
	appendN(10, 2, "two")
	if src.LogEndOffset() != fut.LogEndOffset() {
		t.Fatalf("current leo %d, future %d: want equal", src.LogEndOffset(), fut.LogEndOffset())
	}
	if ps.consistent(f, fut) {
		t.Fatal("a diverged copy taken for consistent")
	}
	if _, err := ps.copyRound(f, fut); err != nil || !ps.consistent(f, fut) || !same() {
		t.Fatalf("copy after the reset: %v", err)
	}
	// Retention moves the current log start under the copy.
	appendN(5, 2, "three")
	if _, err := src.DeleteRecords(50); err != nil {
		t.Fatal(err)
	}
	if _, err := ps.copyRound(f, fut); err != nil || !ps.consistent(f, fut) {
		t.Fatalf("copy after DeleteRecords: %v", err)
	}
	if start := src.LogStartOffset(); fut.LogStartOffset() < start {
		if _, err := fut.DeleteRecords(start); err != nil {
			t.Fatal(err)
		}
	}
	if fut.LogStartOffset() != 50 || !same() {
		t.Fatalf("future log start %d, want 50", fut.LogStartOffset())
	}
}

// lastBatchSize returns the size of the last batch in b.
func lastBatchSize(t *testing.T, b []byte) int64 {
	t.Helper()
	var last int64
	for len(b) > 0 {
		h, err := storage.ParseBatchHeader(b)
		if err != nil {
			t.Fatal(err)
		}
		last = h.Size()
		b = b[h.Size():]
	}
	return last
}
