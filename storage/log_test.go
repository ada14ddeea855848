package storage

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestAppendReadRoundTrip(t *testing.T) {
	t.Parallel()
	l := openLog(t, t.TempDir(), DefaultConfig())
	var want []byte
	for i := 0; i < 20; i++ {
		o := noPID()
		o.n, o.fill = i%4+1, byte(i)
		b := buildBatch(o)
		res, err := l.Append(b, 3)
		if err != nil {
			t.Fatal(err)
		}
		h, _ := ParseBatchHeader(b)
		if h.BaseOffset != res.BaseOffset || h.PartitionLeaderEpoch != 3 {
			t.Fatalf("not stamped in place: %+v vs %+v", h, res)
		}
		if res.LastOffset != res.BaseOffset+int64(o.n)-1 || res.LogAppendTime != -1 || res.Duplicate {
			t.Fatalf("bad result %+v", res)
		}
		want = append(want, b...)
	}
	if got := readAll(t, l, 0, 1<<20); !bytes.Equal(got, want) {
		t.Fatalf("round trip mismatch")
	}
	// Every offset resolves to the batch that contains it.
	for off := int64(0); off < l.LogEndOffset(); off++ {
		reg, err := l.Read(off, l.HighWatermark(), 1, true)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := reg.ReadAll()
		h, err := ParseBatchHeader(b)
		if err != nil || h.BaseOffset > off || h.LastOffset() < off || h.Size() != int64(len(b)) {
			t.Fatalf("Read(%d) gave batch %+v (len %d)", off, h, len(b))
		}
	}
	if lo := l.LogEndOffset(); l.HighWatermark() != lo {
		t.Fatalf("HW %d != LEO %d", l.HighWatermark(), lo)
	}
	if got := l.LeaderEpochs(); len(got) != 1 || got[0] != (EpochEntry{3, 0}) {
		t.Fatalf("epochs %v", got)
	}
}

func TestReadAcrossRoll(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := DefaultConfig()
	cfg.SegmentBytes = 2000
	cfg.IndexIntervalBytes = 300
	l := openLog(t, dir, cfg)
	var want []byte
	for i := 0; i < 100; i++ {
		o := noPID()
		o.n, o.fill = 3, byte(i)
		b := buildBatch(o)
		mustAppend(t, l, b)
		want = append(want, b...)
	}
	if n := len(listDir(t, dir, ".log")); n < 5 {
		t.Fatalf("expected many segments, got %d", n)
	}
	for _, mb := range []int32{1, 500, 1 << 20} {
		if got := readAll(t, l, 0, mb); !bytes.Equal(got, want) {
			t.Fatalf("maxBytes %d: mismatch", mb)
		}
	}
	// A region never spans segments.
	reg, err := l.Read(0, l.LogEndOffset(), 1<<20, false)
	if err != nil || reg.Len > 2000 {
		t.Fatalf("region %+v %v", reg, err)
	}
	// Index files are in Kafka's naming.
	if _, err := os.Stat(filepath.Join(dir, "00000000000000000000.timeindex")); err != nil {
		t.Fatal(err)
	}
}

func TestReadLimits(t *testing.T) {
	t.Parallel()
	l := openLog(t, t.TempDir(), DefaultConfig())
	var sizes []int64
	for i := 0; i < 5; i++ {
		o := noPID()
		o.n, o.valueSize = 2, 100
		b := buildBatch(o)
		mustAppend(t, l, b)
		sizes = append(sizes, int64(len(b)))
	}
	leo := l.LogEndOffset()
	// maxBytes smaller than the first batch.
	reg, err := l.Read(0, leo, 10, false)
	if err != nil || reg.Len != 0 {
		t.Fatalf("no minOneBatch: %+v %v", reg, err)
	}
	reg, err = l.Read(0, leo, 10, true)
	if err != nil || reg.Len != sizes[0] {
		t.Fatalf("minOneBatch: %+v %v", reg, err)
	}
	// Exactly two batches fit.
	reg, _ = l.Read(1, leo, int32(sizes[0]+sizes[1]+5), true)
	if reg.Pos != 0 || reg.Len != sizes[0]+sizes[1] {
		t.Fatalf("two batches: %+v", reg)
	}
	// HW cap: only batches with base < 4.
	reg, _ = l.Read(0, 4, 1<<20, true)
	if reg.Len != sizes[0]+sizes[1] {
		t.Fatalf("hw cap: %+v", reg)
	}
	reg, _ = l.Read(0, 3, 1<<20, true)
	if reg.Len != sizes[0]+sizes[1] {
		t.Fatalf("hw cap mid-batch: %+v", reg)
	}
	// At LEO / HW: empty.
	for _, c := range [][2]int64{{leo, leo}, {4, 4}, {5, 4}} {
		reg, err = l.Read(c[0], c[1], 1<<20, true)
		if err != nil || reg.Len != 0 {
			t.Fatalf("Read(%d,%d): %+v %v", c[0], c[1], reg, err)
		}
	}
	_, err = l.Read(leo+1, leo, 100, true)
	wantErr(t, err, ErrOffsetOutOfRange)
	_, err = l.Read(-1, leo, 100, true)
	wantErr(t, err, ErrOffsetOutOfRange)
}

func TestHighWatermarkManual(t *testing.T) {
	t.Parallel()
	l := openLog(t, t.TempDir(), DefaultConfig())
	l.SetAutoHighWatermark(false)
	for i := 0; i < 3; i++ {
		mustAppend(t, l, buildBatch(noPID()))
	}
	if l.HighWatermark() != 0 || l.LogEndOffset() != 3 {
		t.Fatalf("hw %d leo %d", l.HighWatermark(), l.LogEndOffset())
	}
	l.SetHighWatermark(10)
	if l.HighWatermark() != 3 {
		t.Fatalf("hw not clamped: %d", l.HighWatermark())
	}
	l.SetHighWatermark(1)
	reg, _ := l.Read(0, l.HighWatermark(), 1<<20, true)
	b, _ := reg.ReadAll()
	if h, _ := ParseBatchHeader(b); int64(len(b)) != h.Size() {
		t.Fatalf("expected exactly one batch")
	}
}

func TestAppendValidation(t *testing.T) {
	t.Parallel()
	l := openLog(t, t.TempDir(), DefaultConfig())
	good := buildBatch(noPID())
	mod := func(f func(b []byte) []byte) []byte {
		return f(append([]byte(nil), good...))
	}
	recrc := func(b []byte) []byte {
		binary.BigEndian.PutUint32(b[offCRC:], crc32.Checksum(b[offAttributes:], castagnoli))
		return b
	}
	cases := []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, ErrInvalidRecord},
		{"short", good[:30], ErrCorruptMessage},
		{"truncated", good[:len(good)-1], ErrCorruptMessage},
		{"trailing garbage", append(append([]byte(nil), good...), 1, 2, 3), ErrCorruptMessage},
		{"magic 1", mod(func(b []byte) []byte { b[offMagic] = 1; return b }), ErrUnsupportedMagic},
		{"bad crc", mod(func(b []byte) []byte { b[len(b)-1] ^= 1; return b }), ErrCorruptMessage},
		{"length too small", mod(func(b []byte) []byte { binary.BigEndian.PutUint32(b[offLength:], 10); return b }), ErrCorruptMessage},
		{"negative length", mod(func(b []byte) []byte { binary.BigEndian.PutUint32(b[offLength:], 0xfffffff0); return b }), ErrCorruptMessage},
		{"count mismatch", mod(func(b []byte) []byte { binary.BigEndian.PutUint32(b[offNumRecords:], 2); return recrc(b) }), ErrInvalidRecord}, // Kafka's LogValidator
		{"zero count", mod(func(b []byte) []byte {
			binary.BigEndian.PutUint32(b[offNumRecords:], 0)
			binary.BigEndian.PutUint32(b[offLastOffsetDelta:], 0xffffffff)
			return recrc(b)
		}), ErrInvalidRecord},
		{"two idempotent batches", append(buildBatch(batchOpts{pid: 1}), buildBatch(batchOpts{pid: 1, seq: 1})...), ErrInvalidRecord},
	}
	for _, c := range cases {
		_, err := l.Append(c.b, 0)
		if err == nil {
			t.Fatalf("%s: no error", c.name)
		}
		wantErr(t, err, c.want)
	}
	if l.LogEndOffset() != 0 {
		t.Fatalf("rejected appends wrote data")
	}
	cfg := DefaultConfig()
	cfg.MaxMessageBytes = 100
	l.SetConfig(cfg)
	o := noPID()
	o.valueSize = 200
	_, err := l.Append(buildBatch(o), 0)
	wantErr(t, err, ErrMessageTooLarge)
	// Several non-idempotent batches in one append are fine.
	res := mustAppend(t, l, append(buildBatch(noPID()), buildBatch(noPID())...))
	if res.BaseOffset != 0 || res.LastOffset != 1 {
		t.Fatalf("%+v", res)
	}
}

func TestIdempotence(t *testing.T) {
	t.Parallel()
	l := openLog(t, t.TempDir(), DefaultConfig())
	b := func(pid int64, epoch int16, seq int32, n int) []byte {
		return buildBatch(batchOpts{pid: pid, epoch: epoch, seq: seq, n: n})
	}
	r0 := mustAppend(t, l, b(7, 0, 0, 3)) // seq 0-2, offsets 0-2
	r1 := mustAppend(t, l, b(7, 0, 3, 2)) // seq 3-4, offsets 3-4
	if r1.BaseOffset != 3 {
		t.Fatal(r1)
	}
	// Duplicate of an earlier batch.
	d, err := l.Append(b(7, 0, 0, 3), 0)
	if err != nil || !d.Duplicate || d.BaseOffset != r0.BaseOffset || d.LastOffset != r0.LastOffset {
		t.Fatalf("dup: %+v %v", d, err)
	}
	if l.LogEndOffset() != 5 {
		t.Fatal("duplicate was written")
	}
	// Gap.
	_, err = l.Append(b(7, 0, 6, 1), 0)
	wantErr(t, err, ErrOutOfOrderSequence)
	// Overlapping but not identical.
	_, err = l.Append(b(7, 0, 1, 1), 0)
	wantErr(t, err, ErrOutOfOrderSequence)
	// New epoch must start at 0.
	_, err = l.Append(b(7, 1, 5, 1), 0)
	wantErr(t, err, ErrOutOfOrderSequence)
	mustAppend(t, l, b(7, 1, 0, 1))
	// Old epoch is fenced, even for a former duplicate.
	_, err = l.Append(b(7, 0, 5, 1), 0)
	wantErr(t, err, ErrInvalidProducerEpoch)
	_, err = l.Append(b(7, 0, 0, 3), 0)
	wantErr(t, err, ErrInvalidProducerEpoch)
	// Unknown producer: any sequence.
	mustAppend(t, l, b(8, 4, 1000, 1))
	mustAppend(t, l, b(8, 4, 1001, 1))
	// Only the last 5 batches are remembered.
	for i := int32(0); i < 6; i++ {
		mustAppend(t, l, b(9, 0, i, 1))
	}
	_, err = l.Append(b(9, 0, 0, 1), 0)
	wantErr(t, err, ErrOutOfOrderSequence)
	d, err = l.Append(b(9, 0, 1, 1), 0)
	if err != nil || !d.Duplicate {
		t.Fatalf("5th-newest dup: %+v %v", d, err)
	}
	// Sequence wraparound.
	mustAppend(t, l, b(10, 0, math.MaxInt32-1, 2))
	mustAppend(t, l, b(10, 0, 0, 1))
	w := b(11, 0, math.MaxInt32, 3) // seq MaxInt32, 0, 1
	mustAppend(t, l, w)
	mustAppend(t, l, b(11, 0, 2, 1))
	// Non-idempotent batches (pid -1) bypass checks.
	mustAppend(t, l, buildBatch(noPID()))
	mustAppend(t, l, buildBatch(noPID()))
}

func TestLogAppendTime(t *testing.T) {
	t.Parallel()
	clk := newClock()
	cfg := DefaultConfig()
	cfg.LogAppendTime = true
	l, err := Open(t.TempDir(), cfg, clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	o := noPID()
	o.n, o.tsStep = 3, 5
	b := buildBatch(o)
	res := mustAppend(t, l, b)
	now := clk.Now().UnixMilli()
	if res.LogAppendTime != now {
		t.Fatalf("LogAppendTime %d want %d", res.LogAppendTime, now)
	}
	reg, _ := l.Read(0, l.HighWatermark(), 1<<20, true)
	got, _ := reg.ReadAll()
	h, err := validateBatch(got)
	if err != nil {
		t.Fatalf("CRC not recomputed: %v", err)
	}
	if !h.IsLogAppendTime() || h.MaxTimestamp != now || h.BaseTimestamp != now {
		t.Fatalf("header %+v", h)
	}
	if off, ts := l.MaxTimestamp(); off != 0 || ts != now {
		t.Fatalf("MaxTimestamp %d %d", off, ts)
	}
}

func TestTimestamps(t *testing.T) {
	t.Parallel()
	cfg := DefaultConfig()
	cfg.IndexIntervalBytes = 100
	cfg.SegmentBytes = 1500
	l := openLog(t, t.TempDir(), cfg)
	if o, ts := l.MaxTimestamp(); o != -1 || ts != -1 {
		t.Fatal("empty log MaxTimestamp")
	}
	if o, ts, err := l.OffsetForTimestamp(0); o != -1 || ts != -1 || err != nil {
		t.Fatal("empty log OffsetForTimestamp")
	}
	// Batch i holds 4 records with timestamps 1000+100i + {0,10,20,30},
	// except batch 7 which has a spike of 99999 at its third record.
	type rec struct{ off, ts int64 }
	var recs []rec
	for i := 0; i < 40; i++ {
		o := noPID()
		o.n, o.baseTs = 4, int64(1000+100*i)
		o.tsDeltas = []int64{0, 10, 20, 30}
		if i == 7 {
			o.tsDeltas = []int64{0, 10, 98999 - (1000 + 100*7), 30}
		}
		res := mustAppend(t, l, buildBatch(o))
		for j, d := range o.tsDeltas {
			recs = append(recs, rec{res.BaseOffset + int64(j), o.baseTs + d})
		}
	}
	// A compressed batch: batch-level answers.
	o := noPID()
	o.n, o.baseTs, o.codec, o.tsStep = 3, 200000, 1, 1
	cres := mustAppend(t, l, buildBatch(o))

	for _, ts := range []int64{0, 1000, 1001, 1010, 1015, 2030, 2031, 4930, 98999, 99000, 200000, 200001, 200003} {
		off, got, err := l.OffsetForTimestamp(ts)
		if err != nil {
			t.Fatal(err)
		}
		var want rec = rec{-1, -1}
		for _, r := range recs {
			if r.ts >= ts {
				want = r
				break
			}
		}
		if ts > 98999 && ts <= 200002 {
			want = rec{cres.BaseOffset, 200002}
		}
		if ts > 200002 {
			want = rec{-1, -1}
		}
		if off != want.off || got != want.ts {
			t.Fatalf("OffsetForTimestamp(%d) = %d,%d want %d,%d", ts, off, got, want.off, want.ts)
		}
	}
	if off, ts := l.MaxTimestamp(); off != cres.BaseOffset || ts != 200002 {
		t.Fatalf("MaxTimestamp %d %d", off, ts)
	}
}

func TestMaxTimestampRecordLevel(t *testing.T) {
	t.Parallel()
	l := openLog(t, t.TempDir(), DefaultConfig())
	o := noPID()
	o.n, o.tsDeltas = 4, []int64{0, 50, 7, 50}
	mustAppend(t, l, buildBatch(noPID()))
	mustAppend(t, l, buildBatch(o))
	if off, ts := l.MaxTimestamp(); off != 2 || ts != 1050 {
		t.Fatalf("MaxTimestamp %d %d", off, ts)
	}
}

func TestSegmentMsRoll(t *testing.T) {
	t.Parallel()
	clk := newClock()
	dir := t.TempDir()
	cfg := DefaultConfig()
	cfg.SegmentMs = 1000
	l, err := Open(dir, cfg, clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	mustAppend(t, l, buildBatch(noPID()))
	mustAppend(t, l, buildBatch(noPID()))
	clk.Advance(2 * time.Second)
	mustAppend(t, l, buildBatch(noPID()))
	if n := len(listDir(t, dir, ".log")); n != 2 {
		t.Fatalf("segments %d", n)
	}
	if _, err := os.Stat(filepath.Join(dir, "00000000000000000002.log")); err != nil {
		t.Fatal(err)
	}
}

func TestIndexFullRoll(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := DefaultConfig()
	cfg.IndexIntervalBytes = 1
	cfg.SegmentIndexBytes = 48 // 4 time entries
	l := openLog(t, dir, cfg)
	for i := 0; i < 30; i++ {
		mustAppend(t, l, buildBatch(noPID()))
	}
	if n := len(listDir(t, dir, ".log")); n < 5 {
		t.Fatalf("segments %d", n)
	}
	for _, p := range listDir(t, dir, ".timeindex") {
		if fileSize(t, p) > 48 {
			t.Fatalf("%s too big", p)
		}
	}
	readAll(t, l, 0, 1<<20)
}

func TestClosedAndDelete(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "topic-0")
	l, err := Open(dir, DefaultConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, l, buildBatch(noPID()))
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	_, err = l.Append(buildBatch(noPID()), 0)
	wantErr(t, err, ErrClosed)
	_, err = l.Read(0, 1, 100, true)
	wantErr(t, err, ErrClosed)
	l, err = Open(dir, DefaultConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Delete(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("dir still exists: %v", err)
	}
}

func TestParseBatchHeader(t *testing.T) {
	t.Parallel()
	b := buildBatch(batchOpts{pid: 5, epoch: 2, seq: 9, n: 3, codec: 4})
	b[offAttributes+1] |= attrTransactional | attrControl
	h, err := ParseBatchHeader(b)
	if err != nil {
		t.Fatal(err)
	}
	if h.Codec() != 4 || !h.IsTransactional() || !h.IsControl() || h.ProducerID != 5 || h.ProducerEpoch != 2 ||
		h.BaseSequence != 9 || h.NumRecords != 3 || h.LastOffsetDelta != 2 || h.Magic != 2 || h.Size() != int64(len(b)) {
		t.Fatalf("%+v", h)
	}
	for i := 0; i < BatchHeaderSize; i++ {
		if _, err := ParseBatchHeader(b[:i]); err == nil {
			t.Fatalf("no error at %d bytes", i)
		}
	}
}

func TestFlushPolicies(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		mod  func(*Config)
	}{
		{"fsync-on-append", func(c *Config) { c.FsyncOnAppend = true }},
		{"flush-messages", func(c *Config) { c.FlushMessages = 3 }},
		{"flush-ms", func(c *Config) { c.FlushMs = 1 }},
	} {
		dir := t.TempDir()
		cfg := DefaultConfig()
		c.mod(&cfg)
		l := openLog(t, dir, cfg)
		for i := 0; i < 7; i++ {
			mustAppend(t, l, buildBatch(noPID()))
		}
		if c.name == "flush-messages" {
			l.mu.Lock()
			rp := l.recoveryPoint
			l.mu.Unlock()
			if rp != 6 {
				t.Fatalf("%s: recovery point %d", c.name, rp)
			}
		}
		crash(l)
		l = openLog(t, dir, cfg)
		if l.LogEndOffset() != 7 {
			t.Fatalf("%s: LEO %d", c.name, l.LogEndOffset())
		}
	}
}
