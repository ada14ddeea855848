package storage

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// fillLog appends n idempotent batches from producer 1 (3 records each) and
// returns the concatenated stamped bytes.
func fillLog(t *testing.T, l *Log, n int) []byte {
	t.Helper()
	var all []byte
	for i := 0; i < n; i++ {
		b := buildBatch(batchOpts{pid: 1, epoch: 0, seq: int32(3 * i), n: 3, baseTs: int64(1000 + i), fill: byte(i)})
		if _, err := l.Append(b, int32(i/10)); err != nil {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	return all
}

func smallCfg() Config {
	cfg := DefaultConfig()
	cfg.SegmentBytes = 1000
	cfg.IndexIntervalBytes = 200
	return cfg
}

// checkProducerContinues checks that producer 1's state survived: a retry of
// the last batch is a duplicate and the next sequence is accepted.
func checkProducerContinues(t *testing.T, l *Log, n int) {
	t.Helper()
	last := buildBatch(batchOpts{pid: 1, epoch: 0, seq: int32(3 * (n - 1)), n: 3})
	res, err := l.Append(last, 0)
	if err != nil || !res.Duplicate || res.BaseOffset != int64(3*(n-1)) {
		t.Fatalf("retry after restart: %+v %v", res, err)
	}
	_, err = l.Append(buildBatch(batchOpts{pid: 1, epoch: 0, seq: int32(3*n + 1), n: 1}), 0)
	wantErr(t, err, ErrOutOfOrderSequence)
	if _, err := l.Append(buildBatch(batchOpts{pid: 1, epoch: 0, seq: int32(3 * n), n: 1}), 0); err != nil {
		t.Fatal(err)
	}
}

func TestRestartClean(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	l := openLog(t, dir, smallCfg())
	want := fillLog(t, l, 50)
	maxOff, maxTs := l.MaxTimestamp()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, cleanShutdownMarker)); err != nil {
		t.Fatal("no clean-shutdown marker")
	}
	if len(listDir(t, dir, ".snapshot")) == 0 {
		t.Fatal("no producer snapshot")
	}
	l = openLog(t, dir, smallCfg())
	if _, err := os.Stat(filepath.Join(dir, cleanShutdownMarker)); !os.IsNotExist(err) {
		t.Fatal("marker not removed on open")
	}
	if l.LogEndOffset() != 150 || l.HighWatermark() != 150 {
		t.Fatalf("LEO %d HW %d", l.LogEndOffset(), l.HighWatermark())
	}
	if got := readAll(t, l, 0, 1000); !bytes.Equal(got, want) {
		t.Fatal("data mismatch after clean restart")
	}
	if o, ts := l.MaxTimestamp(); o != maxOff || ts != maxTs {
		t.Fatalf("MaxTimestamp %d,%d want %d,%d", o, ts, maxOff, maxTs)
	}
	if got := l.LeaderEpochs(); len(got) != 5 || got[4] != (EpochEntry{4, 120}) {
		t.Fatalf("epochs %v", got)
	}
	checkProducerContinues(t, l, 50)
}

func TestRestartUnclean(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	l := openLog(t, dir, smallCfg())
	want := fillLog(t, l, 50)
	crash(l)
	// Lose the leader epoch checkpoint too: it is rebuilt from batches.
	os.Remove(filepath.Join(dir, leaderEpochFile))
	l = openLog(t, dir, smallCfg())
	if l.LogEndOffset() != 150 {
		t.Fatalf("LEO %d", l.LogEndOffset())
	}
	if got := readAll(t, l, 0, 1000); !bytes.Equal(got, want) {
		t.Fatal("data mismatch after unclean restart")
	}
	checkProducerContinues(t, l, 50)
	if got := l.LeaderEpochs(); len(got) == 0 || got[len(got)-1].Epoch != 4 {
		t.Fatalf("epochs %v", got)
	}
}

func TestRestartNoSnapshots(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	l := openLog(t, dir, smallCfg())
	fillLog(t, l, 30)
	l.Close()
	for _, p := range listDir(t, dir, ".snapshot") {
		os.Remove(p)
	}
	l = openLog(t, dir, smallCfg())
	checkProducerContinues(t, l, 30)
}

func lastSegment(t *testing.T, dir string) string {
	t.Helper()
	logs := listDir(t, dir, ".log")
	return logs[len(logs)-1]
}

func TestRecoveryTruncateMidBatch(t *testing.T) {
	t.Parallel()
	for _, clean := range []bool{false, true} {
		dir := t.TempDir()
		l := openLog(t, dir, smallCfg())
		want := fillLog(t, l, 40)
		if clean {
			l.Close()
		} else {
			crash(l)
		}
		seg := lastSegment(t, dir)
		size := fileSize(t, seg)
		// Cut the last batch in half.
		lastSize := int64(len(buildBatch(batchOpts{pid: 1, n: 3})))
		if err := os.Truncate(seg, size-lastSize/2); err != nil {
			t.Fatal(err)
		}
		l = openLog(t, dir, smallCfg())
		if l.LogEndOffset() != 117 {
			t.Fatalf("clean=%v LEO %d", clean, l.LogEndOffset())
		}
		if fileSize(t, seg) != size-lastSize {
			t.Fatalf("torn tail not truncated")
		}
		if got := readAll(t, l, 0, 1000); !bytes.Equal(got, want[:len(want)-int(lastSize)]) {
			t.Fatal("data mismatch")
		}
		// Producer state: the lost batch may be re-sent and is not a duplicate.
		res, err := l.Append(buildBatch(batchOpts{pid: 1, seq: 3 * 39, n: 3}), 0)
		if err != nil || res.Duplicate || res.BaseOffset != 117 {
			t.Fatalf("re-send: %+v %v", res, err)
		}
	}
}

func TestRecoveryCorruptByte(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	l := openLog(t, dir, smallCfg())
	want := fillLog(t, l, 40)
	crash(l)
	seg := lastSegment(t, dir)
	f, err := os.OpenFile(seg, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	size := fileSize(t, seg)
	f.WriteAt([]byte{0xAA}, size-3) // inside the last batch's records
	f.Close()
	l = openLog(t, dir, smallCfg())
	lastSize := len(buildBatch(batchOpts{pid: 1, n: 3}))
	if l.LogEndOffset() != 117 {
		t.Fatalf("LEO %d", l.LogEndOffset())
	}
	if got := readAll(t, l, 0, 1000); !bytes.Equal(got, want[:len(want)-lastSize]) {
		t.Fatal("data mismatch")
	}
}

func TestRecoveryMiddleSegmentCorrupt(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	l := openLog(t, dir, smallCfg())
	fillLog(t, l, 60)
	crash(l)
	os.Remove(filepath.Join(dir, recoveryPointFile))
	logs := listDir(t, dir, ".log")
	if len(logs) < 4 {
		t.Fatalf("need segments, got %d", len(logs))
	}
	// Corrupt the first batch of the second segment.
	f, _ := os.OpenFile(logs[1], os.O_RDWR, 0)
	f.WriteAt([]byte{0xFF, 0xFF}, 70)
	f.Close()
	base, _ := parseSegmentName(filepath.Base(logs[1]), logSuffix)
	l = openLog(t, dir, smallCfg())
	if l.LogEndOffset() != base {
		t.Fatalf("LEO %d want %d", l.LogEndOffset(), base)
	}
	if n := len(listDir(t, dir, ".log")); n != 2 {
		t.Fatalf("segments after truncation: %d", n)
	}
	readAll(t, l, 0, 1000)
	// Appends continue at the truncation point.
	if res := mustAppend(t, l, buildBatch(noPID())); res.BaseOffset != base {
		t.Fatalf("%+v", res)
	}
}

func TestRecoveryMissingIndex(t *testing.T) {
	t.Parallel()
	for _, clean := range []bool{false, true} {
		dir := t.TempDir()
		l := openLog(t, dir, smallCfg())
		want := fillLog(t, l, 40)
		if clean {
			l.Close()
		} else {
			l.Flush()
			crash(l)
		}
		idx := listDir(t, dir, ".index")
		tidx := listDir(t, dir, ".timeindex")
		os.Remove(idx[0])
		os.Remove(idx[len(idx)-1])
		os.Remove(tidx[1])
		// And a corrupt (odd-sized) one.
		os.WriteFile(idx[2], []byte{1, 2, 3}, 0o644)
		l = openLog(t, dir, smallCfg())
		if l.LogEndOffset() != 120 {
			t.Fatalf("LEO %d", l.LogEndOffset())
		}
		if got := readAll(t, l, 0, 700); !bytes.Equal(got, want) {
			t.Fatal("data mismatch")
		}
		if fileSize(t, idx[0]) == 0 {
			t.Fatal("index not rebuilt")
		}
		for off := int64(0); off < 120; off += 7 {
			o, ts, err := l.OffsetForTimestamp(1000 + off/3)
			if err != nil || o != off/3*3 || ts != 1000+off/3 {
				t.Fatalf("OffsetForTimestamp after rebuild: %d %d %v", o, ts, err)
			}
		}
	}
}

func TestRecoveryGarbageTail(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	l := openLog(t, dir, DefaultConfig())
	want := fillLog(t, l, 5)
	l.Close()
	seg := lastSegment(t, dir)
	f, _ := os.OpenFile(seg, os.O_RDWR|os.O_APPEND, 0)
	f.Write(bytes.Repeat([]byte{0}, 100)) // zeros, like a preallocated tail after a crash
	f.Close()
	os.Remove(filepath.Join(dir, cleanShutdownMarker))
	l = openLog(t, dir, DefaultConfig())
	if got := readAll(t, l, 0, 1000); !bytes.Equal(got, want) || l.LogEndOffset() != 15 {
		t.Fatal("data mismatch")
	}
}

// TestCloseAll: logs closed together (one syncfs instead of per-file
// fsyncs) restart as cleanly as logs closed one by one; a log closed
// before is skipped.
func TestCloseAll(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	var logs []*Log
	var wants [][]byte
	for i := range 5 {
		l := openLog(t, filepath.Join(root, fmt.Sprintf("topic-%d", i)), smallCfg())
		wants = append(wants, fillLog(t, l, 50))
		logs = append(logs, l)
	}
	if err := logs[4].Close(); err != nil {
		t.Fatal(err)
	}
	if err := CloseAll(logs, 2); err != nil {
		t.Fatal(err)
	}
	if err := CloseAll(logs, 2); err != nil {
		t.Fatalf("closing closed logs: %v", err)
	}
	for i, l := range logs {
		if _, err := os.Stat(filepath.Join(l.dir, cleanShutdownMarker)); err != nil {
			t.Fatalf("log %d: no clean-shutdown marker", i)
		}
		if tmp := listDir(t, l.dir, ".tmp"); len(tmp) > 0 {
			t.Fatalf("log %d: temp files left: %v", i, tmp)
		}
		l = openLog(t, l.dir, smallCfg())
		if l.LogEndOffset() != 150 || l.HighWatermark() != 150 {
			t.Fatalf("log %d: LEO %d HW %d", i, l.LogEndOffset(), l.HighWatermark())
		}
		if got := readAll(t, l, 0, 1000); !bytes.Equal(got, wants[i]) {
			t.Fatalf("log %d: data mismatch after restart", i)
		}
		if got := l.LeaderEpochs(); len(got) != 5 || got[4] != (EpochEntry{4, 120}) {
			t.Fatalf("log %d: epochs %v", i, got)
		}
		checkProducerContinues(t, l, 50)
	}
}
