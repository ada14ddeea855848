package storage

import (
	"bytes"
	"os"
	"testing"
)

// TestCrashDuringRoll crashes at each step of a segment roll (rollLocked:
// seal the old segment with its final time index entry and fsync it; create
// the new segment's files; fsync the directory; write the producer snapshot
// at the new base; write the recovery point) and checks that the reopened
// log has every byte, the right end offset and producer state, appends at
// the next offset into a usable segment, and reopens cleanly again. The
// steps are replayed here from rollLocked's order; keep them in step.
func TestCrashDuringRoll(t *testing.T) {
	t.Parallel()
	steps := []struct {
		name string
		n    int // roll steps done before the crash
		only string
	}{
		{"before sealing", 0, ""},
		{"sealed, no new segment", 1, ""},
		{"new .log created, no indexes", 2, logSuffix},
		{"new .log and .index created", 2, indexSuffix},
		{"new segment created", 2, ""},
		{"snapshot written", 3, ""},
		{"recovery point written", 4, ""},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			cfg := smallCfg()
			l := openLog(t, dir, cfg)
			const n = 40
			want := fillLog(t, l, n)
			rollSteps(t, l, st.n, st.only)
			leo := l.LogEndOffset()
			crash(l)

			l = openLog(t, dir, cfg)
			if l.LogEndOffset() != leo {
				t.Fatalf("log end offset %d, want %d", l.LogEndOffset(), leo)
			}
			if got := readAll(t, l, 0, 1<<20); !bytes.Equal(got, want) {
				t.Fatal("data differs after the crash")
			}
			checkProducerContinues(t, l, n) // appends 1 record at leo
			more := buildBatch(noPID())
			res := mustAppend(t, l, more)
			if res.BaseOffset != leo+1 {
				t.Fatalf("next append at %d, want %d", res.BaseOffset, leo+1)
			}
			if o, _, err := l.OffsetForTimestamp(1000 + n - 1); err != nil || o != 3*(n-1) {
				t.Fatalf("OffsetForTimestamp: %d %v", o, err)
			}
			end := l.LogEndOffset()
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			l = openLog(t, dir, cfg)
			if l.LogEndOffset() != end {
				t.Fatalf("after clean reopen: log end offset %d, want %d", l.LogEndOffset(), end)
			}
			got := readAll(t, l, 0, 1<<20)
			if !bytes.HasPrefix(got, want) {
				t.Fatal("data differs after the clean reopen")
			}
			for _, suf := range []string{logSuffix, indexSuffix, timeIndexSuffix} {
				if len(listDir(t, dir, suf)) != len(l.segments()) {
					t.Fatalf("%d %s files for %d segments", len(listDir(t, dir, suf)), suf, len(l.segments()))
				}
			}
		})
	}
}

// rollSteps does the first n steps of rollLocked at the log end offset.
// With only set, step 2 creates only the segment files up to that suffix
// (log, then index: openSegmentFrom's order).
func rollSteps(t *testing.T, l *Log, n int, only string) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	old := l.active()
	leo := l.leo.Load()
	if n >= 1 {
		if err := old.maybeAppendTimeEntry(old.maxTs, old.maxTsOff); err != nil {
			t.Fatal(err)
		}
		old.publish()
		if err := old.sync(); err != nil {
			t.Fatal(err)
		}
	}
	if n >= 2 {
		for _, suf := range []string{logSuffix, indexSuffix, timeIndexSuffix} {
			f, err := os.OpenFile(segmentName(l.dir, leo, suf), os.O_RDWR|os.O_CREATE, 0o644)
			if err != nil {
				t.Fatal(err)
			}
			f.Close()
			if suf == only {
				break
			}
		}
		if err := syncDir(l.fs, l.dir); err != nil {
			t.Fatal(err)
		}
	}
	if n >= 3 {
		if err := l.writeSnapshotLocked(leo, durable); err != nil {
			t.Fatal(err)
		}
	}
	if n >= 4 {
		if err := writeOffsetCheckpoint(l.fs, l.dir, recoveryPointFile, leo, durable); err != nil {
			t.Fatal(err)
		}
	}
}
