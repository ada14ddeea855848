package storage

import (
	"bytes"
	"encoding/binary"
	"testing"
)

func TestAppendReplicated(t *testing.T) {
	t.Parallel()
	cfg := DefaultConfig()
	cfg.SegmentBytes = 4096
	leader := openLog(t, t.TempDir(), cfg)
	followerDir := t.TempDir()
	follower := openLog(t, followerDir, cfg)
	follower.SetAutoHighWatermark(false)

	pid := batchOpts{pid: 7, epoch: 0, n: 3, valueSize: 100}
	for i := 0; i < 20; i++ {
		o := pid
		o.seq = int32(i * 3)
		b := buildBatch(o)
		epoch := int32(i / 10) // a leader change half way
		if _, err := leader.Append(b, epoch); err != nil {
			t.Fatal(err)
		}
	}
	// Replicate in fetch-sized pieces, repeating some (a retried fetch).
	for off := int64(0); off < leader.LogEndOffset(); {
		reg, err := leader.Read(off, leader.LogEndOffset(), 700, true)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := reg.ReadAll()
		reg.Release()
		if _, err := follower.AppendReplicated(append([]byte(nil), b...)); err != nil {
			t.Fatal(err)
		}
		res, err := follower.AppendReplicated(b) // the same again: nothing new
		if err != nil || res.BaseOffset != -1 {
			t.Fatalf("repeat: %+v %v", res, err)
		}
		off = follower.LogEndOffset()
	}
	if follower.LogEndOffset() != leader.LogEndOffset() {
		t.Fatalf("follower LEO %d, leader %d", follower.LogEndOffset(), leader.LogEndOffset())
	}
	if follower.HighWatermark() != 0 {
		t.Fatalf("follower advanced its own HW to %d", follower.HighWatermark())
	}
	follower.SetHighWatermark(leader.HighWatermark())
	if !bytes.Equal(readAll(t, follower, 0, 1<<20), readAll(t, leader, 0, 1<<20)) {
		t.Fatal("follower log differs from leader log")
	}
	if got, want := follower.LeaderEpochs(), leader.LeaderEpochs(); len(got) != 2 || got[1] != want[1] {
		t.Fatalf("epochs %v, leader %v", got, want)
	}
	// After a restart the follower, now leader, deduplicates the producer's retry.
	follower.Close()
	follower = openLog(t, followerDir, cfg)
	o := pid
	o.seq = 19 * 3
	res, err := follower.Append(buildBatch(o), 2)
	if err != nil || !res.Duplicate || res.BaseOffset != 57 {
		t.Fatalf("retry on new leader: %+v %v", res, err)
	}
	// An overlapping batch (not at a batch boundary) is refused.
	reg, _ := leader.Read(0, leader.LogEndOffset(), 1, true)
	b, _ := reg.ReadAll()
	reg.Release()
	follower.TruncateTo(1) // cuts at the batch boundary: LEO 0
	if follower.LogEndOffset() != 0 {
		t.Fatalf("truncate: LEO %d", follower.LogEndOffset())
	}
	if _, err := follower.AppendReplicated(b); err != nil {
		t.Fatal(err)
	}
	if _, err := follower.AppendReplicated([]byte{1, 2, 3}); err == nil {
		t.Fatal("garbage accepted")
	}
}

func TestResetTo(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	l := openLog(t, dir, DefaultConfig())
	mustAppend(t, l, buildBatch(batchOpts{n: 5, pid: -1, seq: -1}))
	if err := l.ResetTo(100); err != nil {
		t.Fatal(err)
	}
	if l.LogStartOffset() != 100 || l.LogEndOffset() != 100 {
		t.Fatalf("start %d end %d", l.LogStartOffset(), l.LogEndOffset())
	}
	b := buildBatch(batchOpts{n: 2, pid: -1, seq: -1})
	binary.BigEndian.PutUint64(b, 100)
	if _, err := l.AppendReplicated(b); err != nil {
		t.Fatal(err)
	}
	l.Close()
	l = openLog(t, dir, DefaultConfig())
	if l.LogStartOffset() != 100 || l.LogEndOffset() != 102 {
		t.Fatalf("after restart: start %d end %d", l.LogStartOffset(), l.LogEndOffset())
	}
}

func TestRestoreHighWatermark(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	l := openLog(t, dir, DefaultConfig())
	l.SetAutoHighWatermark(false)
	for i := 0; i < 4; i++ {
		mustAppend(t, l, buildBatch(batchOpts{n: 5, pid: -1, seq: -1}))
	}
	l.SetHighWatermark(10)
	l.Close()
	l = openLog(t, dir, DefaultConfig())
	if l.HighWatermark() != 20 {
		t.Fatalf("Open: HW %d, want the log end 20", l.HighWatermark())
	}
	l.RestoreHighWatermark()
	if l.HighWatermark() != 10 || l.LogEndOffset() != 20 {
		t.Fatalf("restored HW %d (LEO %d), want 10", l.HighWatermark(), l.LogEndOffset())
	}
	mustAppend(t, l, buildBatch(batchOpts{n: 1, pid: -1, seq: -1}))
	if l.HighWatermark() != 10 {
		t.Fatalf("HW moved to %d on append after restore", l.HighWatermark())
	}
}
