package storage

import (
	"bytes"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"gregor/storage/vfs"
)

// TestIndexFilesMapped: index files are mapped, not held open (an active
// segment costs one descriptor), grow ahead of their entries while the
// segment is written, are cut to their entries when it is sealed or
// closed, and a crash with grown files loses nothing.
func TestIndexFilesMapped(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := DefaultConfig()
	cfg.SegmentBytes = 256 << 10
	cfg.IndexIntervalBytes = 100
	l := openLog(t, dir, cfg)

	fds := func() map[string]bool {
		ents, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Skip("no /proc/self/fd")
		}
		open := map[string]bool{}
		for _, e := range ents {
			if p, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name())); err == nil && filepath.Dir(p) == dir {
				open[filepath.Base(p)] = true
			}
		}
		return open
	}
	var want []byte
	appendN := func(n int) {
		for i := 0; i < n; i++ {
			b := buildBatch(batchOpts{pid: -1, seq: -1, epoch: -1, n: 2, baseTs: int64(1000 + len(want)), fill: byte(i), valueSize: 400})
			mustAppend(t, l, b)
			want = append(want, b...)
		}
	}
	appendN(1000) // a few segments
	segs := l.segments()
	if len(segs) < 2 {
		t.Fatalf("%d segments", len(segs))
	}
	open := fds()
	for _, s := range segs {
		for _, suf := range []string{indexSuffix, timeIndexSuffix} {
			if open[filepath.Base(segmentName(dir, s.base, suf))] {
				t.Fatalf("%s of segment %d held open", suf, s.base)
			}
		}
		if !open[filepath.Base(segmentName(dir, s.base, logSuffix))] {
			t.Fatalf(".log of segment %d not open", s.base)
		}
	}
	for i, s := range segs {
		idx := fileSize(t, segmentName(dir, s.base, indexSuffix))
		tidx := fileSize(t, segmentName(dir, s.base, timeIndexSuffix))
		exact := idx == s.widxN*offsetEntrySize && tidx == s.wtidxN*timeEntrySize
		if sealed := i < len(segs)-1; sealed != exact {
			t.Fatalf("segment %d (sealed %v): index files %d/%d bytes for %d/%d entries", s.base, sealed, idx, tidx, s.widxN, s.wtidxN)
		}
	}

	crash(l)
	l = openLog(t, dir, cfg)
	if got := readAll(t, l, 0, 1<<20); !bytes.Equal(got, want) {
		t.Fatalf("after a crash with grown index files: %d bytes read, want %d", len(got), len(want))
	}
	// Reads from the middle go through the recovered indexes.
	if got := readAll(t, l, 999, 1<<20); !bytes.Equal(got, want[len(want)-len(got):]) || len(got) == 0 {
		t.Fatal("read from the middle after recovery")
	}
	act := l.active()
	if got := fileSize(t, segmentName(dir, act.base, indexSuffix)); got != act.widxN*offsetEntrySize {
		t.Fatalf("recovered active index %d bytes for %d entries", got, act.widxN)
	}
	appendN(100)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	for _, p := range listDir(t, dir, indexSuffix) {
		if fileSize(t, p)%offsetEntrySize != 0 || fileSize(t, p) >= minIndexMap {
			t.Fatalf("%s: %d bytes after close", p, fileSize(t, p))
		}
	}
	l = openLog(t, dir, cfg)
	if got := readAll(t, l, 0, 1<<20); !bytes.Equal(got, want) {
		t.Fatalf("after a clean restart: %d bytes read, want %d", len(got), len(want))
	}
}

// TestIndexTrimNeedsNoDescriptor: cutting an index file back to its
// entries (what sealing and closing a segment do) works with no file
// descriptor left, so a shutdown under descriptor exhaustion can still
// close its logs cleanly.
func TestIndexTrimNeedsNoDescriptor(t *testing.T) {
	path := filepath.Join(t.TempDir(), "00000000000000000000.index")
	x, err := openIndexFile(vfs.Default, path, 0)
	if err != nil {
		t.Fatal(err)
	}
	entries := bytes.Repeat([]byte{1, 2, 3, 4, 5, 6, 7, 8}, 20)
	if _, err := x.WriteAt(entries, 0); err != nil {
		t.Fatal(err)
	}
	if x.Size() <= int64(len(entries)) {
		t.Fatalf("file did not grow ahead of its entries: %d bytes", x.Size())
	}

	var saved syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &saved); err != nil {
		t.Fatal(err)
	}
	lowered := saved
	lowered.Cur = 3 // stdin, stdout, stderr: no descriptor can be opened
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lowered); err != nil {
		t.Skip("cannot lower RLIMIT_NOFILE:", err)
	}
	_, openErr := os.Open(path)
	trimErr := x.Truncate(int64(len(entries)) - 8)
	halfErr := x.Truncate(0)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &saved); err != nil {
		t.Fatal(err)
	}
	if openErr == nil {
		t.Fatal("opening a file succeeded under the lowered limit: the test proves nothing")
	}
	if trimErr != nil || halfErr != nil {
		t.Fatalf("trim without descriptors: %v, %v", trimErr, halfErr)
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() != 0 {
		t.Fatalf("after trims: %v, %v", fi, err)
	}
}

func TestIndexTrimKeepsEntries(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "00000000000000000000.timeindex")
	x, err := openIndexFile(vfs.Default, path, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	entries := bytes.Repeat([]byte{9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 1, 2}, 30)
	if _, err := x.WriteAt(entries, 0); err != nil {
		t.Fatal(err)
	}
	if err := x.Truncate(int64(len(entries))); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(entries))
	if _, err := x.ReadAt(got, 0); err != nil || !bytes.Equal(got, entries) {
		t.Fatalf("read after trim: %v, equal %v", err, bytes.Equal(got, entries))
	}
	if _, err := x.ReadAt(got[:1], int64(len(entries))); err == nil {
		t.Fatal("read past the trimmed end succeeded")
	}
	onDisk, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(onDisk, entries) {
		t.Fatalf("file after trim: %d bytes, %v", len(onDisk), err)
	}
	// Growing again after a trim works (a recovered active segment).
	if _, err := x.WriteAt(entries, int64(len(entries))); err != nil {
		t.Fatal(err)
	}
	if _, err := x.ReadAt(got, int64(len(entries))); err != nil || !bytes.Equal(got, entries) {
		t.Fatalf("read after regrow: %v", err)
	}
}
