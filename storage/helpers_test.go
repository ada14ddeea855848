package storage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// batchOpts describes a magic-2 batch for buildBatch.
type batchOpts struct {
	n         int   // records (default 1)
	valueSize int   // bytes per record value (default 10)
	baseTs    int64 // first record timestamp (default 1000)
	tsStep    int64 // timestamp delta between records
	tsDeltas  []int64
	pid       int64 // producer id (use -1 for none; zero value means 0!)
	epoch     int16
	seq       int32
	codec     int8 // only sets the attribute bits; records stay plain
	fill      byte
}

func noPID() batchOpts { return batchOpts{pid: -1, seq: -1, epoch: -1} }

func appendVarint(b []byte, v int64) []byte { return binary.AppendVarint(b, v) }

// buildBatch builds a valid magic-2 batch (baseOffset 0, leader epoch -1).
func buildBatch(o batchOpts) []byte {
	if o.n == 0 {
		o.n = 1
	}
	if o.valueSize == 0 {
		o.valueSize = 10
	}
	if o.baseTs == 0 {
		o.baseTs = 1000
	}
	var recs []byte
	maxTs := o.baseTs
	for i := 0; i < o.n; i++ {
		d := int64(i) * o.tsStep
		if o.tsDeltas != nil {
			d = o.tsDeltas[i]
		}
		maxTs = max(maxTs, o.baseTs+d)
		var body []byte
		body = append(body, 0)
		body = appendVarint(body, d)
		body = appendVarint(body, int64(i))
		body = appendVarint(body, -1)
		body = appendVarint(body, int64(o.valueSize))
		body = append(body, bytes.Repeat([]byte{o.fill + byte(i)}, o.valueSize)...)
		body = appendVarint(body, 0)
		recs = appendVarint(recs, int64(len(body)))
		recs = append(recs, body...)
	}
	b := make([]byte, BatchHeaderSize, BatchHeaderSize+len(recs))
	binary.BigEndian.PutUint32(b[offLength:], uint32(BatchHeaderSize-logOverhead+len(recs)))
	binary.BigEndian.PutUint32(b[offLeaderEpoch:], 0xffffffff)
	b[offMagic] = 2
	binary.BigEndian.PutUint16(b[offAttributes:], uint16(o.codec)&attrCodecMask)
	binary.BigEndian.PutUint32(b[offLastOffsetDelta:], uint32(o.n-1))
	binary.BigEndian.PutUint64(b[offBaseTimestamp:], uint64(o.baseTs))
	binary.BigEndian.PutUint64(b[offMaxTimestamp:], uint64(maxTs))
	binary.BigEndian.PutUint64(b[offProducerID:], uint64(o.pid))
	binary.BigEndian.PutUint16(b[offProducerEpoch:], uint16(o.epoch))
	binary.BigEndian.PutUint32(b[offBaseSequence:], uint32(o.seq))
	binary.BigEndian.PutUint32(b[offNumRecords:], uint32(o.n))
	b = append(b, recs...)
	binary.BigEndian.PutUint32(b[offCRC:], crc32.Checksum(b[offAttributes:], castagnoli))
	return b
}

// fakeClock is a manually advanced clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: time.UnixMilli(1_700_000_000_000)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func openLog(t testing.TB, dir string, cfg Config) *Log {
	t.Helper()
	l, err := Open(dir, cfg, newClock().Now)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func mustAppend(t testing.TB, l *Log, b []byte) AppendResult {
	t.Helper()
	res, err := l.Append(b, 0)
	if err != nil {
		t.Fatalf("Append: %v", err)
	}
	return res
}

// crash simulates a process crash: files are closed without flushing
// checkpoints, snapshots or the clean-shutdown marker.
func crash(l *Log) {
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed.Swap(true) {
		return
	}
	for _, s := range l.segments() {
		s.closeFiles()
	}
}

// readAll reads every batch in [from, HW) with the given maxBytes, checking
// invariants, and returns the concatenated bytes.
func readAll(t testing.TB, l *Log, from int64, maxBytes int32) []byte {
	t.Helper()
	var out []byte
	off := from
	hw := l.HighWatermark()
	for off < hw {
		reg, err := l.Read(off, hw, maxBytes, true)
		if err != nil {
			t.Fatalf("Read(%d): %v", off, err)
		}
		if reg.Len == 0 {
			t.Fatalf("Read(%d) returned empty region below HW %d", off, hw)
		}
		b, err := reg.ReadAll()
		reg.Release()
		if err != nil {
			t.Fatalf("ReadAll: %v", err)
		}
		last := int64(-1)
		for p := b; len(p) > 0; {
			h, err := validateBatch(p)
			if err != nil {
				t.Fatalf("read batch invalid: %v", err)
			}
			if last >= 0 && h.BaseOffset != last+1 {
				t.Fatalf("non-consecutive batch: base %d after last %d", h.BaseOffset, last)
			}
			if h.BaseOffset >= hw {
				t.Fatalf("batch at %d beyond HW %d", h.BaseOffset, hw)
			}
			last = h.LastOffset()
			p = p[h.Size():]
		}
		if last < off {
			t.Fatalf("read from %d ended at %d", off, last)
		}
		out = append(out, b...)
		off = last + 1
	}
	return out
}

func listDir(t testing.TB, dir, suffix string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*"+suffix))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func fileSize(t testing.TB, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

func wantErr(t testing.TB, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("got error %v, want %v", err, target)
	}
}
