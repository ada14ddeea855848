package storage

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"gregor/storage/vfs"
)

// Log is one partition's log: a directory of segments plus checkpoint files.
//
// Locking: mu serializes appends and every change to the segment list and
// writer state; flushMu serializes Flush/Close/TruncateTo; cleanMu
// serializes Compact, which holds mu only to plan and to swap segments in
// (lock order: cleanMu, flushMu, mu).
// Readers (Read, LogEndOffset, ...) take no lock: they load the published
// atomics (leo, then segs, then each segment's size/index counts), which the
// writer stores in the reverse order after the bytes are written.
type Log struct {
	dir string
	fs  vfs.FS
	now func() time.Time

	cleanMu sync.Mutex // one Compact at a time; taken before flushMu and mu
	flushMu sync.Mutex
	mu      sync.Mutex
	// Guarded by mu.
	cfg           Config
	ps            *producerState
	epochs        []EpochEntry
	unflushed     int64
	lastFlushMs   int64
	recoveryPoint int64
	autoHW        bool
	// frozen (Freeze) refuses every change to the log's contents with
	// ErrClosed while reads go on.
	frozen bool
	// cleanerCheckpoint is the first dirty offset: the compactor has cleaned
	// everything below it (persisted in cleaner-offset-checkpoint).
	cleanerCheckpoint int64
	// truncations counts TruncateTo calls; a compaction started before one
	// is abandoned.
	truncations int64
	// deleteHorizon is the earliest tombstone delete horizon the compactor
	// set (0: none known); cleaning is due once it passes.
	deleteHorizon int64
	// unreplicated holds completed transactions whose marker may not be
	// below the high watermark yet (see LastStableOffset).
	unreplicated []completedTxn
	// txnRebuild, while Open loads, names the segments whose .txnindex the
	// producer replay rebuilds.
	txnRebuild map[int64]bool
	// testHookSwap, when set (tests only), is called at each compaction
	// swap step; returning true stops there as if the process had crashed.
	testHookSwap func(step int) bool

	segs     atomic.Pointer[[]*segment] // sorted by base; copy-on-write
	retained atomic.Int64               // removed segments still open (see RetainedSegments)
	leo      atomic.Int64
	hw       atomic.Int64
	logStart atomic.Int64
	closed   atomic.Bool
}

// AppendResult describes a successful Append.
type AppendResult struct {
	BaseOffset     int64 // offset of first record appended (for a duplicate: the original's)
	LastOffset     int64
	LogAppendTime  int64 // -1 unless LogAppendTime
	LogStartOffset int64
	Duplicate      bool // idempotent retry detected; nothing written
}

// Region is a byte range of whole batches inside one segment file.
//
// A non-empty Region returned by Read holds a reference on its segment's
// files: they stay open and readable, even if retention, compaction,
// truncation, Close or Delete removes the segment meanwhile, until Release
// is called. Every Region from Read must be released exactly once after its
// bytes were sent or read (or when it is dropped); a copy of a Region is the
// same reference, so release only one of the copies. Releasing twice
// corrupts the count (it is not idempotent per region); Release on the zero
// Region is a no-op.
type Region struct {
	// File is the segment's .log file. Read it only with explicit offsets
	// (pread/sendfile with an offset); its seek position is meaningless.
	File *os.File
	Pos  int64
	Len  int64

	seg *segment
	f   vfs.File // File through the log's FS (nil in a Region built outside storage)
}

// Release drops the region's reference on its segment files. See Region.
func (r Region) Release() {
	if r.seg != nil {
		r.seg.release()
	}
}

// ReadAll reads the region into a new buffer.
func (r Region) ReadAll() ([]byte, error) {
	if r.Len == 0 {
		return nil, nil
	}
	b := make([]byte, r.Len)
	var f io.ReaderAt = r.f
	if r.f == nil {
		f = r.File
	}
	if _, err := f.ReadAt(b, r.Pos); err != nil {
		return nil, ioErr(err)
	}
	return b, nil
}

// Open opens (creating if missing) the log in dir, running crash recovery
// if the previous run did not Close it cleanly. now is the clock (nil means
// time.Now).
func Open(dir string, cfg Config, now func() time.Time) (*Log, error) {
	if now == nil {
		now = time.Now
	}
	cfg = cfg.normalized()
	if err := cfg.FS.MkdirAll(dir, 0o755); err != nil {
		return nil, ioErr(err)
	}
	l := &Log{dir: dir, fs: cfg.FS, now: now, cfg: cfg, autoHW: true}
	l.lastFlushMs = now().UnixMilli()
	if err := l.load(); err != nil {
		if p := l.segs.Load(); p != nil {
			for _, s := range *p {
				s.close()
			}
		}
		return nil, err
	}
	return l, nil
}

// SetConfig replaces the configuration; it applies to subsequent appends.
func (l *Log) SetConfig(cfg Config) {
	l.mu.Lock()
	l.cfg = cfg.normalized()
	l.mu.Unlock()
}

// Config returns the current (normalized) configuration.
func (l *Log) Config() Config {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cfg
}

// RetainedSegments is the number of segments removed from the log
// (retention, DeleteRecords, compaction, truncation) whose files are still
// open because a Region of them has not been released. It returns to zero
// once every region is released: a test hook for leaks.
func (l *Log) RetainedSegments() int64 { return l.retained.Load() }

// Freeze makes the log read-only: once it returns no change is in
// progress, and every later Append, AppendReplicated, AppendControl,
// TruncateTo, ResetTo, DeleteRecords, retention or compaction fails with
// ErrClosed (compactions in flight are abandoned), while reads, Flush and
// Close go on. A replica moving to another log dir freezes its old log
// for the last copy (the broker's AlterReplicaLogDirs); Unfreeze undoes it.
func (l *Log) Freeze() {
	l.mu.Lock()
	l.frozen = true
	l.mu.Unlock()
}

// Unfreeze undoes Freeze.
func (l *Log) Unfreeze() {
	l.mu.Lock()
	l.frozen = false
	l.mu.Unlock()
}

// stoppedLocked is ErrClosed when the log is closed or frozen. mu must be held.
func (l *Log) stoppedLocked() error {
	switch {
	case l.closed.Load():
		return ErrClosed
	case l.frozen:
		return fmt.Errorf("%w: frozen", ErrClosed)
	}
	return nil
}

// Dir returns the log's directory.
func (l *Log) Dir() string { return l.dir }

// LogStartOffset is the first offset in the log.
func (l *Log) LogStartOffset() int64 { return l.logStart.Load() }

// LogEndOffset is the offset the next appended record will get.
func (l *Log) LogEndOffset() int64 { return l.leo.Load() }

// HighWatermark is the exclusive upper bound of committed offsets. While the
// auto high watermark is on (the default), Append advances it to the log end
// offset, and Open sets it to the log end offset.
func (l *Log) HighWatermark() int64 { return l.hw.Load() }

// SetHighWatermark sets the high watermark, clamped to [LogStartOffset,
// LogEndOffset]. It is persisted by Flush and Close.
func (l *Log) SetHighWatermark(off int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	off = max(off, l.logStart.Load())
	off = min(off, l.leo.Load())
	l.hw.Store(off)
}

// SetAutoHighWatermark turns on or off advancing the high watermark to the
// log end offset on every Append (on by default; turn off for replication).
func (l *Log) SetAutoHighWatermark(on bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.autoHW = on
	if on {
		l.hw.Store(l.leo.Load())
	}
}

// LeaderEpochs returns a copy of the leader epoch cache: the first offset
// appended under each leader epoch.
func (l *Log) LeaderEpochs() []EpochEntry {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]EpochEntry(nil), l.epochs...)
}

func (l *Log) segments() []*segment { return *l.segs.Load() }

// Size is the bytes of the log's segment files (record data, not indexes).
func (l *Log) Size() int64 {
	var n int64
	for _, s := range l.segments() {
		n += s.size.Load()
	}
	return n
}

// Segments is the number of segments in the log.
func (l *Log) Segments() int { return len(l.segments()) }

// active returns the last segment. Lock should be held.
func (l *Log) active() *segment {
	s := l.segments()
	return s[len(s)-1]
}

type batchRef struct {
	h   BatchHeader
	pos int
	ctl ControlRecord // for a control batch
}

// parseControls fills the control record of each control batch in refs.
func parseControls(records []byte, refs []batchRef) error {
	for i := range refs {
		if r := &refs[i]; r.h.IsControl() {
			cr, err := ParseControlBatch(records[r.pos : r.pos+int(r.h.Size())])
			if err != nil {
				return err
			}
			r.ctl = cr
		}
	}
	return nil
}

// parseRecords splits and validates a produce blob. It does not need the lock.
func parseRecords(records []byte, maxMessageBytes int32, refs []batchRef) ([]batchRef, error) {
	if len(records) == 0 {
		return nil, fmt.Errorf("%w: empty records", ErrInvalidRecord)
	}
	for pos := 0; pos < len(records); {
		rem := records[pos:]
		h, err := ParseBatchHeader(rem)
		if err != nil {
			return nil, err
		}
		if err := checkLength(h, int64(len(rem))); err != nil {
			return nil, err
		}
		if h.Size() > int64(maxMessageBytes) {
			return nil, fmt.Errorf("%w: batch of %d bytes exceeds max.message.bytes %d", ErrMessageTooLarge, h.Size(), maxMessageBytes)
		}
		if _, err := validateBatch(rem[:h.Size()]); err != nil {
			return nil, err
		}
		refs = append(refs, batchRef{h: h, pos: pos})
		pos += int(h.Size())
	}
	if len(refs) > 1 {
		for _, r := range refs {
			if r.h.ProducerID >= 0 {
				return nil, fmt.Errorf("%w: %d batches in one append with a producer id", ErrInvalidRecord, len(refs))
			}
		}
	}
	return refs, nil
}

// Append validates and appends a produce request's records (one or more
// magic-2 batches, concatenated) and stamps baseOffset and
// partitionLeaderEpoch into records in place. With Config.LogAppendTime it
// also sets the timestamp type, baseTimestamp and maxTimestamp to now and
// recomputes the CRC. Control batches are accepted (the broker must reject
// them from clients). With cleanup.policy compact, a record without a key is
// ErrInvalidRecord. Safe for concurrent use; appends are serialized.
func (l *Log) Append(records []byte, leaderEpoch int32) (AppendResult, error) {
	if l.closed.Load() {
		return AppendResult{}, ErrClosed
	}
	l.mu.Lock()
	maxMsg, compacts := l.cfg.MaxMessageBytes, l.cfg.Compacts()
	l.mu.Unlock()
	var buf [1]batchRef
	refs, err := parseRecords(records, maxMsg, buf[:0])
	if err != nil {
		return AppendResult{}, err
	}
	if err := parseControls(records, refs); err != nil {
		return AppendResult{}, err
	}
	if compacts {
		// Kafka: INVALID_RECORD for a keyless record in a compacted topic
		// (compressed batches are decompressed to check).
		for _, r := range refs {
			if err := checkKeys(records[r.pos:r.pos+int(r.h.Size())], r.h); err != nil {
				return AppendResult{}, err
			}
		}
	}

	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.stoppedLocked(); err != nil {
		return AppendResult{}, err
	}
	cfg := l.cfg
	if h := refs[0].h; h.ProducerID >= 0 {
		dup, isDup, err := l.ps.check(h)
		if err != nil {
			return AppendResult{}, err
		}
		if isDup {
			return AppendResult{BaseOffset: dup.firstOff, LastOffset: dup.lastOff, LogAppendTime: -1,
				LogStartOffset: l.logStart.Load(), Duplicate: true}, nil
		}
		if h.IsControl() {
			if err := l.checkControlLocked(h, refs[0].ctl); err != nil {
				return AppendResult{}, err
			}
		}
	}
	nowMs := l.now().UnixMilli()
	var numRecords int64
	for _, r := range refs {
		numRecords += int64(r.h.LastOffsetDelta) + 1
	}
	leo := l.leo.Load()
	if l.shouldRollLocked(int64(len(records)), len(refs), leo+numRecords-1, nowMs, cfg) {
		if err := l.rollLocked(nowMs); err != nil {
			return AppendResult{}, err
		}
	}
	seg := l.active()

	// Stamp offsets (and LogAppendTime) in place.
	offset := leo
	for i := range refs {
		r := &refs[i]
		b := records[r.pos : r.pos+int(r.h.Size())]
		stamp(b, offset, leaderEpoch)
		r.h.BaseOffset, r.h.PartitionLeaderEpoch = offset, leaderEpoch
		if cfg.LogAppendTime {
			stampLogAppendTime(b, nowMs)
			r.h.Attributes |= attrLogAppendTime
			r.h.BaseTimestamp, r.h.MaxTimestamp = nowMs, nowMs
		}
		offset = r.h.LastOffset() + 1
	}

	if err := l.commitLocked(seg, records, refs, leo, offset, numRecords, nowMs, cfg); err != nil {
		return AppendResult{}, err
	}
	res := AppendResult{BaseOffset: leo, LastOffset: offset - 1, LogAppendTime: -1, LogStartOffset: l.logStart.Load()}
	if cfg.LogAppendTime {
		res.LogAppendTime = nowMs
	}
	return res, nil
}

// commitLocked writes stamped batches (refs into records, offsets leo up to
// next-1) to the active segment seg, indexes and flushes them per cfg,
// updates producer state and the leader-epoch cache from the batch
// headers, and publishes the new log end. Lock should be held.
func (l *Log) commitLocked(seg *segment, records []byte, refs []batchRef, leo, offset, numRecords, nowMs int64, cfg Config) error {
	// Write, then indexes; on failure restore the writer state (nothing was
	// published, later writes overwrite the garbage, Close trims indexes).
	saved, unflushed := seg.saveWriter(), l.unflushed
	fail := func(err error) error {
		seg.restoreWriter(saved)
		seg.log.Truncate(seg.wsize)
		l.unflushed = unflushed
		return err
	}
	seg.limitIndexes(cfg.SegmentIndexBytes)
	if err := writeChunked(seg.log, records, seg.wsize); err != nil {
		return fail(ioErr(err))
	}
	pos := seg.wsize
	for _, r := range refs {
		if r.h.MaxTimestamp > seg.maxTs {
			seg.maxTs, seg.maxTsOff = r.h.MaxTimestamp, r.h.BaseOffset
		}
		if seg.bytesSinceIdx > int64(cfg.IndexIntervalBytes) && !seg.indexFull(cfg.SegmentIndexBytes) {
			if err := seg.appendOffsetEntry(r.h.LastOffset(), pos); err != nil {
				return fail(err)
			}
			if err := seg.maybeAppendTimeEntry(seg.maxTs, seg.maxTsOff); err != nil {
				return fail(err)
			}
			seg.bytesSinceIdx = 0
		}
		seg.bytesSinceIdx += r.h.Size()
		pos += r.h.Size()
	}

	l.unflushed += numRecords
	switch {
	case l.unflushed >= cfg.FlushMessages || (cfg.FlushMs != math.MaxInt64 && nowMs-l.lastFlushMs >= cfg.FlushMs):
		if err := seg.sync(); err != nil {
			return fail(err)
		}
		l.unflushed, l.lastFlushMs = 0, nowMs
		// Older segments were synced when they were rolled.
		l.recoveryPoint = offset
	case cfg.FsyncOnAppend:
		if err := seg.log.Sync(); err != nil {
			return fail(ioErr(err))
		}
	}

	nEpochs := len(l.epochs)
	for _, r := range refs {
		if e := r.h.PartitionLeaderEpoch; e >= 0 && (len(l.epochs) == 0 || e > l.epochs[len(l.epochs)-1].Epoch) {
			l.epochs = append(l.epochs, EpochEntry{Epoch: e, StartOffset: r.h.BaseOffset})
		}
	}
	if len(l.epochs) != nEpochs {
		if err := writeEpochCheckpoint(l.fs, l.dir, l.epochs, durable); err != nil {
			l.epochs = l.epochs[:nEpochs]
			return fail(err)
		}
	}
	// Producer state last: after a failure above, a retry of these
	// batches must not be taken for a duplicate of what was not written.
	var aborted []AbortedTxn
	for _, r := range refs {
		l.ps.update(r.h)
		if done, a, ended := l.ps.applyTxn(r.h, r.ctl); ended {
			l.unreplicated = append(l.unreplicated, done)
			if a != nil {
				aborted = append(aborted, *a)
			}
		}
	}

	// Publish: segment first, then LEO, then HW.
	seg.wsize = pos
	seg.next = offset
	seg.publish()
	l.leo.Store(offset)
	if l.autoHW {
		l.hw.Store(offset)
	}
	// The aborted-transaction index of the segment holding the marker. A
	// failure here leaves the entry in memory (fetches stay right) and the
	// file short; the error is a storage error for the broker.
	var err error
	for _, a := range aborted {
		if werr := l.appendTxnIndexLocked(seg, a); werr != nil && err == nil {
			err = werr
		}
	}
	return err
}

// shouldRollLocked: the active segment is non-empty and the append would
// overflow segment.bytes, the segment is older than segment.ms, an index
// could fill, or a relative offset would overflow. Lock should be held.
func (l *Log) shouldRollLocked(size int64, batches int, lastOffset, nowMs int64, cfg Config) bool {
	s := l.active()
	if s.wsize == 0 {
		return false
	}
	return s.wsize+size > cfg.SegmentBytes ||
		nowMs-s.created >= cfg.SegmentMs ||
		(s.widxN+int64(batches)+1)*offsetEntrySize > int64(cfg.SegmentIndexBytes) ||
		(s.wtidxN+int64(batches)+1)*timeEntrySize > int64(cfg.SegmentIndexBytes) ||
		lastOffset-s.base > math.MaxInt32
}

// rollLocked seals the active segment (final time index entry, fsync) and
// starts a new one at the log end offset, writing a producer snapshot and the
// recovery point there. Lock should be held.
func (l *Log) rollLocked(nowMs int64) error {
	old := l.active()
	leo := l.leo.Load()
	if err := old.maybeAppendTimeEntry(old.maxTs, old.maxTsOff); err != nil {
		return err
	}
	old.publish()
	if err := old.trimIndexes(); err != nil {
		return err
	}
	if err := old.sync(); err != nil {
		return err
	}
	if len(old.txns) > 0 {
		if err := l.writeTxnIndex(old); err != nil {
			return err
		}
	}
	seg, err := l.newSegment(leo)
	if err != nil {
		return err
	}
	seg.created = nowMs
	segs := append(append([]*segment(nil), l.segments()...), seg)
	l.segs.Store(&segs)
	if err := syncDir(l.fs, l.dir); err != nil {
		return err
	}
	l.recoveryPoint = leo
	l.unflushed = 0
	if err := l.writeSnapshotLocked(leo, durable); err != nil {
		return err
	}
	return writeOffsetCheckpoint(l.fs, l.dir, recoveryPointFile, leo, durable)
}

// writeSnapshotLocked writes the producer snapshot at offset and keeps only
// the two newest. Lock should be held.
func (l *Log) writeSnapshotLocked(offset int64, mode syncMode) error {
	if err := writeSnapshot(l.fs, l.dir, offset, l.ps, mode); err != nil {
		return err
	}
	offs := snapshotOffsets(l.fs, l.dir)
	for i := 0; i < len(offs)-2; i++ {
		l.fs.Remove(filepath.Join(l.dir, fmt.Sprintf("%020d%s", offs[i], snapshotSuffix)))
	}
	return nil
}

// findSegment returns the index of the segment that may contain offset.
func findSegment(segs []*segment, offset int64) int {
	i := sort.Search(len(segs), func(i int) bool { return segs[i].base > offset }) - 1
	return max(i, 0)
}

// Read returns a region of whole batches starting at the batch containing
// offset, stopping before any batch whose base offset is >= maxOffset and
// totalling at most maxBytes, except that with minOneBatch a first batch
// bigger than maxBytes is returned whole. A region never spans segments, so
// a read at the end of a segment may return less than maxBytes; call again
// from the next offset. offset == LogEndOffset or >= maxOffset gives an empty
// region; offset < LogStartOffset or > LogEndOffset gives ErrOffsetOutOfRange.
func (l *Log) Read(offset, maxOffset int64, maxBytes int32, minOneBatch bool) (Region, error) {
	if l.closed.Load() {
		return Region{}, ErrClosed
	}
	leo := l.leo.Load()
	segs := l.segments()
	if offset < l.logStart.Load() || offset > leo {
		return Region{}, fmt.Errorf("%w: offset %d not in [%d, %d]", ErrOffsetOutOfRange, offset, l.logStart.Load(), leo)
	}
	maxOffset = min(maxOffset, leo)
	if offset >= maxOffset || (maxBytes <= 0 && !minOneBatch) {
		return Region{}, nil
	}
	r := newHdrReader(nil)
	defer r.put()
	for i := findSegment(segs, offset); i < len(segs); i++ {
		seg := segs[i]
		if !seg.acquire() {
			// Removed (retention, compaction, truncation) since we loaded
			// the list: start over with the current one.
			if l.closed.Load() {
				return Region{}, ErrClosed
			}
			return l.Read(offset, maxOffset, maxBytes, minOneBatch)
		}
		reg, found, err := seg.read(r, offset, maxOffset, int64(max(maxBytes, 0)), minOneBatch)
		if err != nil || !found || reg.Len == 0 {
			seg.release()
			reg = Region{}
		} else {
			reg.seg = seg
		}
		if err != nil || found {
			if l.closed.Load() && err != nil {
				err = ErrClosed
			}
			return reg, err
		}
	}
	return Region{}, nil
}

// find locates the batch containing offset within the first end bytes.
func (s *segment) find(r *hdrReader, offset, end int64) (int64, BatchHeader, bool, error) {
	r.f, r.bufLen = s.log, 0
	pos, err := s.lookup(offset, s.idxN.Load())
	if err != nil {
		return 0, BatchHeader{}, false, err
	}
	for pos < end {
		h, err := r.header(pos, end)
		if err != nil {
			return 0, h, false, ioErrOrCorrupt(err)
		}
		if h.Length < BatchHeaderSize-logOverhead {
			return 0, h, false, fmt.Errorf("%w: bad batch length at position %d", ErrCorruptMessage, pos)
		}
		if h.LastOffset() >= offset {
			return pos, h, true, nil
		}
		pos += h.Size()
	}
	return 0, BatchHeader{}, false, nil
}

func ioErrOrCorrupt(err error) error {
	if errors.Is(err, ErrCorruptMessage) || errors.Is(err, ErrUnsupportedMagic) {
		return err
	}
	return ioErr(err)
}

func (s *segment) read(r *hdrReader, offset, maxOffset, maxBytes int64, minOneBatch bool) (Region, bool, error) {
	end := s.size.Load()
	idxN := s.idxN.Load()
	start, first, found, err := s.find(r, offset, end)
	if err != nil || !found {
		return Region{}, found, err
	}
	limit := min(start+maxBytes, end)
	// Every batch before pA has base < maxOffset; every batch before pB ends
	// at or before limit. Hop from the smaller.
	pA, err := s.lookup(maxOffset-1, idxN)
	if err != nil {
		return Region{}, false, err
	}
	pB, err := s.lookupPos(limit, idxN)
	if err != nil {
		return Region{}, false, err
	}
	pos := max(start, min(pA, pB))
	for pos < end {
		h, err := r.header(pos, end)
		if err != nil {
			return Region{}, false, ioErrOrCorrupt(err)
		}
		if h.Length < BatchHeaderSize-logOverhead {
			return Region{}, false, fmt.Errorf("%w: bad batch length at position %d", ErrCorruptMessage, pos)
		}
		if h.BaseOffset >= maxOffset || pos+h.Size() > limit {
			break
		}
		pos += h.Size()
	}
	if pos == start && minOneBatch && start+first.Size() <= end {
		pos = start + first.Size()
	}
	return Region{File: s.log.OS(), Pos: start, Len: pos - start, f: s.log}, true, nil
}

// OffsetForTimestamp returns the first record with timestamp >= ts and its
// timestamp, or (-1, -1, nil). Exact per record, as Kafka: compressed
// batches are decompressed to find the record; in LogAppendTime batches
// every record has the batch's maxTimestamp.
func (l *Log) OffsetForTimestamp(ts int64) (int64, int64, error) {
	if l.closed.Load() {
		return -1, -1, ErrClosed
	}
	segs, maxTs := l.segmentMaxTimestamps()
	r := newHdrReader(nil)
	defer r.put()
	for i, s := range segs {
		if maxTs[i] < ts || !s.acquire() {
			continue // no match, or removed meanwhile
		}
		o, t, found, err := s.offsetForTimestamp(r, ts)
		s.release()
		if err != nil || found {
			return o, t, err
		}
	}
	return -1, -1, nil
}

// offsetForTimestamp is OffsetForTimestamp within one segment; the caller
// holds a reference.
func (s *segment) offsetForTimestamp(r *hdrReader, ts int64) (int64, int64, bool, error) {
	end := s.size.Load()
	off, err := s.lookupTime(ts, s.tidxN.Load())
	if err != nil {
		return -1, -1, false, err
	}
	pos := int64(0)
	if off >= 0 {
		if pos, err = s.lookup(off, s.idxN.Load()); err != nil {
			return -1, -1, false, err
		}
	}
	r.f, r.bufLen = s.log, 0
	for pos < end {
		h, err := r.header(pos, end)
		if err != nil {
			return -1, -1, false, ioErrOrCorrupt(err)
		}
		if h.Length < BatchHeaderSize-logOverhead {
			return -1, -1, false, fmt.Errorf("%w: bad batch length at position %d", ErrCorruptMessage, pos)
		}
		if h.MaxTimestamp >= ts {
			o, t, err := s.resolveTimestamp(pos, h, func(rt int64) bool { return rt >= ts })
			return o, t, err == nil, err
		}
		pos += h.Size()
	}
	return -1, -1, false, nil
}

// resolveTimestamp returns the offset and timestamp of the first record in
// the batch at pos whose timestamp satisfies match, falling back to the
// batch's base offset and maxTimestamp when records cannot be inspected.
func (s *segment) resolveTimestamp(pos int64, h BatchHeader, match func(int64) bool) (int64, int64, error) {
	if h.IsLogAppendTime() {
		return h.BaseOffset, h.MaxTimestamp, nil // every record has the batch's time
	}
	b := make([]byte, h.Size())
	if _, err := s.log.ReadAt(b, pos); err != nil {
		return -1, -1, ioErr(err)
	}
	if h.Codec() != 0 {
		// Kafka answers with the exact record: decompress to find it.
		recs, err := batchRecords(b, h)
		if err != nil {
			return h.BaseOffset, h.MaxTimestamp, nil
		}
		b = append(b[:BatchHeaderSize:BatchHeaderSize], recs...)
	}
	off, ts := h.BaseOffset, h.MaxTimestamp
	recordTimestamps(b, h, func(d int32, rt int64) bool {
		if match(rt) {
			off, ts = h.BaseOffset+int64(d), rt
			return false
		}
		return true
	})
	return off, ts, nil
}

// segmentMaxTimestamps returns the segments and their max timestamps.
func (l *Log) segmentMaxTimestamps() ([]*segment, []int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	segs := l.segments()
	ts := make([]int64, len(segs))
	for i, s := range segs {
		ts[i] = s.maxTs
	}
	return segs, ts
}

// MaxTimestamp returns the offset and timestamp of the record with the
// largest timestamp (the first such record), or (-1, -1) on an empty log.
func (l *Log) MaxTimestamp() (int64, int64) {
	l.mu.Lock()
	var best *segment
	var bestTs, bestOff int64 = -1, -1
	for _, s := range l.segments() {
		if s.maxTsOff >= 0 && (best == nil || s.maxTs > bestTs) {
			best, bestTs, bestOff = s, s.maxTs, s.maxTsOff
		}
	}
	l.mu.Unlock()
	if best == nil || l.closed.Load() || !best.acquire() {
		return -1, -1
	}
	defer best.release()
	r := newHdrReader(nil)
	defer r.put()
	pos, h, found, err := best.find(r, bestOff, best.size.Load())
	if err != nil || !found {
		return bestOff, bestTs
	}
	off, ts, err := best.resolveTimestamp(pos, h, func(rt int64) bool { return rt == bestTs })
	if err != nil {
		return bestOff, bestTs
	}
	return off, ts
}

// Flush fsyncs unflushed segments and writes the recovery point and high
// watermark checkpoints.
func (l *Log) Flush() error {
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	if l.closed.Load() {
		return ErrClosed
	}
	l.mu.Lock()
	segs := l.segments()
	leo := l.leo.Load()
	rp := l.recoveryPoint
	nowMs := l.now().UnixMilli()
	l.mu.Unlock()
	for i, s := range segs {
		if (i == len(segs)-1 || segs[i+1].base > rp) && s.acquire() {
			err := s.sync()
			s.release()
			if err != nil {
				return err
			}
		}
	}
	l.mu.Lock()
	if leo > l.recoveryPoint {
		l.recoveryPoint = leo
	}
	rp = l.recoveryPoint
	l.unflushed, l.lastFlushMs = 0, nowMs
	l.mu.Unlock()
	if err := writeOffsetCheckpoint(l.fs, l.dir, recoveryPointFile, rp, durable); err != nil {
		return err
	}
	return writeOffsetCheckpoint(l.fs, l.dir, highWatermarkFile, l.hw.Load(), durable)
}

// Close flushes, writes the producer-state snapshot, checkpoints and the
// clean-shutdown marker, and closes all files. Regions returned by Read
// become unreadable. Close is idempotent.
func (l *Log) Close() error {
	_, err := l.close(durable)
	return err
}

// close closes the log unless it was closed already (ran is false then).
// With mode durable it syncs everything and writes the clean-shutdown
// marker; with mode deferred it syncs nothing and leaves the marker to
// CloseAll.
func (l *Log) close(mode syncMode) (ran bool, err error) {
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed.Swap(true) {
		return false, nil
	}
	segs := l.segments()
	err = l.closeLocked(segs, mode)
	if err == nil && mode == durable {
		err = writeFileAtomic(l.fs, filepath.Join(l.dir, cleanShutdownMarker), nil, durable)
	}
	for _, s := range segs {
		if cerr := s.close(); err == nil {
			err = cerr
		}
	}
	return true, err
}

// closeLocked seals the active segment's indexes and writes the producer
// snapshot and the checkpoints: everything a clean shutdown marker vouches
// for, but not the marker. With mode deferred nothing is synced (CloseAll
// syncs the filesystem once for many logs).
func (l *Log) closeLocked(segs []*segment, mode syncMode) error {
	s := segs[len(segs)-1]
	if err := s.maybeAppendTimeEntry(s.maxTs, s.maxTsOff); err != nil {
		return err
	}
	s.publish()
	// Trim garbage left by failed appends.
	if err := s.log.Truncate(s.wsize); err != nil {
		return ioErr(err)
	}
	if err := s.trimIndexes(); err != nil {
		return err
	}
	if mode == durable {
		for i, s := range segs {
			if i == len(segs)-1 || segs[i+1].base > l.recoveryPoint {
				if err := s.sync(); err != nil {
					return err
				}
			}
		}
	}
	leo := l.leo.Load()
	if err := l.writeSnapshotLocked(leo, mode); err != nil {
		return err
	}
	if err := writeOffsetCheckpoint(l.fs, l.dir, recoveryPointFile, leo, mode); err != nil {
		return err
	}
	if err := writeOffsetCheckpoint(l.fs, l.dir, highWatermarkFile, l.hw.Load(), mode); err != nil {
		return err
	}
	return writeEpochCheckpoint(l.fs, l.dir, l.epochs, mode)
}

// CloseAll closes logs, up to parallel at a time, as Close would one by
// one, but shares the durability work: Close makes every file durable on
// its own (about a dozen fsyncs per log: segments, indexes, checkpoints,
// their directory), CloseAll writes them all without syncing, makes them
// durable with one syncfs per filesystem, then writes the clean-shutdown
// markers and syncs again. A crash at any point leaves a log either
// without its marker (recovered at the next open, as after any crash) or
// with everything the marker vouches for on disk. Logs already closed are
// skipped; a log that fails to close gets no marker.
func CloseAll(logs []*Log, parallel int) error {
	var (
		mu   sync.Mutex
		errs []error
	)
	// each runs fn over logs, parallel at a time, and returns those for
	// which it reported keep without an error.
	each := func(logs []*Log, fn func(*Log) (keep bool, err error)) []*Log {
		var (
			wg   sync.WaitGroup
			sem  = make(chan struct{}, max(parallel, 1))
			kept []*Log
		)
		for _, l := range logs {
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				defer func() { <-sem; wg.Done() }()
				keep, err := fn(l)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					errs = append(errs, fmt.Errorf("close %s: %w", l.dir, err))
				} else if keep {
					kept = append(kept, l)
				}
			}()
		}
		wg.Wait()
		return kept
	}
	closed := each(logs, func(l *Log) (bool, error) { return l.close(deferred) })
	if err := syncFilesystems(closed); err != nil {
		return errors.Join(append(errs, err)...)
	}
	marked := each(closed, func(l *Log) (bool, error) {
		return true, writeFileAtomic(l.fs, filepath.Join(l.dir, cleanShutdownMarker), nil, deferred)
	})
	if err := syncFilesystems(marked); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// syncFilesystems syncs the filesystems that hold logs (syncfs through
// each distinct parent directory: the log dirs).
func syncFilesystems(logs []*Log) error {
	seen := map[string]bool{}
	for _, l := range logs {
		dir := filepath.Dir(l.dir)
		if seen[dir] {
			continue
		}
		seen[dir] = true
		if err := l.fs.SyncFS(dir); err != nil {
			return ioErr(fmt.Errorf("syncfs %s: %w", dir, err))
		}
	}
	return nil
}

// Delete closes the log and removes its directory.
func (l *Log) Delete() error {
	l.Close()
	if err := l.fs.RemoveAll(l.dir); err != nil {
		return ioErr(err)
	}
	return nil
}

// writeChunk is the largest single write commitLocked issues.
const writeChunk = 64 << 10

// writeChunked writes b at off in writes of at most writeChunk bytes.
func writeChunked(f vfs.File, b []byte, off int64) error {
	for len(b) > 0 {
		n := min(len(b), writeChunk)
		if _, err := f.WriteAt(b[:n], off); err != nil {
			return err
		}
		b, off = b[n:], off+int64(n)
	}
	return nil
}
