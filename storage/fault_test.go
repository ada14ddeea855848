package storage

import (
	"bytes"
	"errors"
	"fmt"
	"syscall"
	"testing"

	"gregor/storage/vfs"
)

// faultBatch is batch i of the fault tests: distinct contents, timestamps
// increasing with i.
func faultBatch(i int) []byte {
	return buildBatch(batchOpts{pid: -1, seq: -1, epoch: -1, n: 1 + i%3, valueSize: 40 + 7*i, baseTs: 1000 + int64(i), fill: byte(i)})
}

// wantLog reopens dir with the real filesystem and checks it holds exactly
// the batches acked (bytes compared, offsets assigned), readable from
// every offset.
func wantLog(t *testing.T, dir string, cfg Config, acked [][]byte) *Log {
	t.Helper()
	cfg.FS = nil
	l := openLog(t, dir, cfg)
	got := readAll(t, l, 0, 1<<20)
	if want := withOffsets(acked); !bytes.Equal(got, want) {
		t.Fatalf("log holds %d bytes, want the %d bytes of %d acknowledged batches", len(got), len(want), len(acked))
	}
	return l
}

// withOffsets concatenates batches with the base offsets the log assigns
// them, as Read returns them.
func withOffsets(bs [][]byte) []byte {
	var out []byte
	off := int64(0)
	for _, b := range bs {
		c := bytes.Clone(b)
		h, _ := ParseBatchHeader(c)
		stamp(c, off, 0)
		off += int64(h.LastOffsetDelta) + 1
		out = append(out, c...)
	}
	return out
}

// TestFaultAppend: an append that fails on the disk returns ErrStorage and
// leaves nothing behind; acknowledged batches stay readable, and appends
// resume at the next offset once the fault clears.
func TestFaultAppend(t *testing.T) {
	t.Parallel()
	eio := syscall.EIO
	for _, tc := range []struct {
		name   string
		fsync  bool
		inject func(f *vfs.FaultFS)
	}{
		{"enospc", false, func(f *vfs.FaultFS) { f.SetSpace(100) }},
		{"enospc-nothing-fits", false, func(f *vfs.FaultFS) { f.SetSpace(0) }},
		{"eio-write", false, func(f *vfs.FaultFS) { f.Fail(vfs.Rule{Ops: vfs.OpWrite, Path: ".log", Err: eio}) }},
		{"eio-fsync", true, func(f *vfs.FaultFS) { f.Fail(vfs.Rule{Ops: vfs.OpSync, Path: ".log", Err: eio}) }},
		{"torn-write", false, func(f *vfs.FaultFS) { f.CrashAfter(0, true) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			ffs := vfs.NewFaultFS(nil)
			cfg := DefaultConfig()
			cfg.FS, cfg.FsyncOnAppend, cfg.IndexIntervalBytes = ffs, tc.fsync, 1
			l := openLog(t, dir, cfg)
			var acked [][]byte
			for i := range 5 {
				mustAppend(t, l, faultBatch(i))
				acked = append(acked, faultBatch(i))
			}
			tc.inject(ffs)
			for i := range 3 {
				if _, err := l.Append(faultBatch(5+i), 0); !errors.Is(err, ErrStorage) {
					t.Fatalf("append on a failing disk: %v, want ErrStorage", err)
				}
			}
			if got := l.LogEndOffset(); got != l.HighWatermark() {
				t.Fatalf("log end %d, high watermark %d", got, l.HighWatermark())
			}
			if got := readAll(t, l, 0, 1<<20); !bytes.Equal(got, withOffsets(acked)) {
				t.Fatal("reads after the failed appends differ from what was acknowledged")
			}
			ffs.Heal()
			for i := range 5 {
				leo := l.LogEndOffset()
				if res := mustAppend(t, l, faultBatch(10+i)); res.BaseOffset != leo {
					t.Fatalf("append after healing at %d, want %d", res.BaseOffset, leo)
				}
				acked = append(acked, faultBatch(10+i))
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			wantLog(t, dir, cfg, acked)
		})
	}
}

// TestFaultRead: EIO on read is ErrStorage from Read or ReadAll; the log
// reads again once the fault clears.
func TestFaultRead(t *testing.T) {
	t.Parallel()
	ffs := vfs.NewFaultFS(nil)
	cfg := DefaultConfig()
	cfg.FS = ffs
	l := openLog(t, t.TempDir(), cfg)
	var acked [][]byte
	for i := range 4 {
		mustAppend(t, l, faultBatch(i))
		acked = append(acked, faultBatch(i))
	}
	ffs.Fail(vfs.Rule{Ops: vfs.OpRead, Path: ".log", Err: syscall.EIO})
	for off := range l.LogEndOffset() {
		reg, err := l.Read(off, l.HighWatermark(), 1<<20, true)
		if err == nil {
			_, err = reg.ReadAll()
			reg.Release()
		}
		if !errors.Is(err, ErrStorage) {
			t.Fatalf("read at %d on a failing disk: %v, want ErrStorage", off, err)
		}
	}
	ffs.Heal()
	if got := readAll(t, l, 0, 1<<20); !bytes.Equal(got, withOffsets(acked)) {
		t.Fatal("reads after healing differ from what was acknowledged")
	}
}

// crashWorkload appends batches (fsync on append: an acknowledged batch is
// a synced one) across several segments, flushes checkpoints midway and
// closes the log; it stops at the first error and returns the batches
// acknowledged and whether it got through.
func crashWorkload(dir string, cfg Config) (acked [][]byte, done bool) {
	l, err := Open(dir, cfg, newClock().Now)
	if err != nil {
		return nil, false
	}
	for i := range 12 {
		if _, err := l.Append(faultBatch(i), 0); err != nil {
			crash(l)
			return acked, false
		}
		acked = append(acked, faultBatch(i))
		if i == 5 {
			if err := l.Flush(); err != nil {
				crash(l)
				return acked, false
			}
		}
	}
	if err := l.Close(); err != nil {
		crash(l)
		return acked, false
	}
	return acked, true
}

// TestCrashAtEveryWrite runs the workload once per mutating operation it
// performs, crashing at that operation (every other run tearing the
// crashing write in half), then reopens the directory with the real
// filesystem: every acknowledged batch is there, nothing else but at most
// the batch in flight, every batch is whole, the indexes find every
// offset, and the log takes appends again.
func TestCrashAtEveryWrite(t *testing.T) {
	t.Parallel()
	cfg := DefaultConfig()
	cfg.SegmentBytes, cfg.IndexIntervalBytes, cfg.FsyncOnAppend = 600, 1, true
	count := vfs.NewFaultFS(nil)
	cfg.FS = count
	if _, done := crashWorkload(t.TempDir(), cfg); !done {
		t.Fatal("workload failed without faults")
	}
	total := count.Mutations()
	if total < 30 {
		t.Fatalf("workload made only %d mutations", total)
	}
	for k := range total {
		t.Run(fmt.Sprint(k), func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			ffs := vfs.NewFaultFS(nil)
			ffs.CrashAfter(k, k%2 == 1)
			cfg := cfg
			cfg.FS = ffs
			acked, done := crashWorkload(dir, cfg)
			if done {
				t.Fatalf("crash after %d of %d mutations never happened", k, total)
			}
			cfg.FS = nil
			l := openLog(t, dir, cfg)
			got := readAll(t, l, 0, 1<<20)
			want := withOffsets(acked)
			inFlight := withOffsets(append(acked[:len(acked):len(acked)], faultBatch(len(acked))))
			if !bytes.Equal(got, want) && !bytes.Equal(got, inFlight) {
				t.Fatalf("recovered %d bytes; want the %d acknowledged batches (%d bytes) or those and the one in flight", len(got), len(acked), len(want))
			}
			for off := range l.LogEndOffset() {
				reg, err := l.Read(off, l.HighWatermark(), 1, true)
				if err != nil || reg.Len == 0 {
					t.Fatalf("read at %d after recovery: %v (len %d)", off, err, reg.Len)
				}
				b, err := reg.ReadAll()
				reg.Release()
				if err != nil {
					t.Fatal(err)
				}
				if h, _ := ParseBatchHeader(b); h.BaseOffset > off || h.LastOffset() < off {
					t.Fatalf("read at %d returned batch [%d, %d]", off, h.BaseOffset, h.LastOffset())
				}
			}
			leo := l.LogEndOffset()
			if res := mustAppend(t, l, faultBatch(20)); res.BaseOffset != leo {
				t.Fatalf("append after recovery at %d, want %d", res.BaseOffset, leo)
			}
		})
	}
}
