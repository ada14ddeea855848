package storage

import (
	"bytes"
	"testing"
	"time"
)

// TestFreeze: a frozen log refuses every change to its contents with
// ErrClosed while reads go on; Unfreeze takes changes again.
func TestFreeze(t *testing.T) {
	t.Parallel()
	l := openLog(t, t.TempDir(), Config{SegmentBytes: 1 << 20})
	for range 3 {
		mustAppend(t, l, buildBatch(noPID()))
	}
	before := readAll(t, l, 0, 1<<20)
	l.Freeze()
	if _, err := l.Append(buildBatch(noPID()), 0); err == nil {
		t.Fatal("Append on a frozen log succeeded")
	} else {
		wantErr(t, err, ErrClosed)
	}
	if _, err := l.AppendControl(1, 0, true, 0, 0); err == nil {
		t.Fatal("AppendControl on a frozen log succeeded")
	}
	other := openLog(t, t.TempDir(), Config{})
	mustAppend(t, other, buildBatch(noPID()))
	mustAppend(t, other, buildBatch(noPID()))
	mustAppend(t, other, buildBatch(noPID()))
	mustAppend(t, other, buildBatch(noPID()))
	b := readAll(t, other, 3, 1<<20)
	if _, err := l.AppendReplicated(b); err == nil {
		t.Fatal("AppendReplicated on a frozen log succeeded")
	}
	wantErr(t, l.TruncateTo(1), ErrClosed)
	wantErr(t, l.ResetTo(10), ErrClosed)
	if _, err := l.DeleteRecords(2); err == nil {
		t.Fatal("DeleteRecords on a frozen log succeeded")
	}
	if _, err := l.EnforceRetention(time.Now().Add(365 * 24 * time.Hour)); err == nil {
		t.Fatal("retention on a frozen log succeeded")
	}
	if got := readAll(t, l, 0, 1<<20); !bytes.Equal(got, before) || l.LogEndOffset() != 3 || l.LogStartOffset() != 0 {
		t.Fatalf("frozen log changed: leo %d, start %d", l.LogEndOffset(), l.LogStartOffset())
	}
	if err := l.Flush(); err != nil {
		t.Fatalf("Flush of a frozen log: %v", err)
	}
	l.Unfreeze()
	if res := mustAppend(t, l, buildBatch(noPID())); res.BaseOffset != 3 {
		t.Fatalf("append after Unfreeze at %d, want 3", res.BaseOffset)
	}
}
