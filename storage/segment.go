package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"gregor/storage/vfs"
)

const (
	offsetEntrySize = 8  // relative offset uint32 + position uint32
	timeEntrySize   = 12 // timestamp int64 + relative offset uint32

	logSuffix       = ".log"
	indexSuffix     = ".index"
	timeIndexSuffix = ".timeindex"
)

// segment is one <base>.log file with its sparse .index and .timeindex.
//
// Readers use only the published atomics (size, idxN, tidxN) and immutable
// fields; everything else is owned by the writer (Log.mu held).
//
// refs counts the owners of the open files: one for the log while the
// segment is in its list, plus one per reader inside Read (and per Region
// it returns, until Region.Release). The files are closed when it drops to
// zero, so a segment removed by retention, compaction or truncation stays
// readable (on POSIX its unlinked files live on) until the last region of
// it is released.
type segment struct {
	base int64
	fs   vfs.FS
	log  vfs.File
	idx  *indexFile
	tidx *indexFile
	refs atomic.Int64
	// retained, once the segment left the log, is the log's count of
	// removed segments still open; closeFiles decrements it.
	retained atomic.Pointer[atomic.Int64]

	size  atomic.Int64 // published bytes of .log
	idxN  atomic.Int64 // published .index entries
	tidxN atomic.Int64 // published .timeindex entries

	// Writer state, guarded by Log.mu.
	wsize         int64 // bytes written (>= size)
	widxN         int64
	wtidxN        int64
	next          int64 // next offset to be written in this segment
	bytesSinceIdx int64
	lastTidxTs    int64 // timestamp of the last .timeindex entry, -1 if none
	maxTs         int64 // largest batch maxTimestamp, -1 if none
	maxTsOff      int64 // base offset of the first batch holding maxTs
	created       int64 // ms, for segment.ms
	// txns is the segment's .txnindex (aborted transactions whose ABORT
	// marker is in this segment), in marker order.
	txns []AbortedTxn
}

type writerState struct {
	wsize, widxN, wtidxN, next, bytesSinceIdx, lastTidxTs, maxTs, maxTsOff int64
}

func (s *segment) saveWriter() writerState {
	return writerState{s.wsize, s.widxN, s.wtidxN, s.next, s.bytesSinceIdx, s.lastTidxTs, s.maxTs, s.maxTsOff}
}

func (s *segment) restoreWriter(w writerState) {
	s.wsize, s.widxN, s.wtidxN, s.next, s.bytesSinceIdx, s.lastTidxTs, s.maxTs, s.maxTsOff =
		w.wsize, w.widxN, w.wtidxN, w.next, w.bytesSinceIdx, w.lastTidxTs, w.maxTs, w.maxTsOff
}

func segmentName(dir string, base int64, suffix string) string {
	return filepath.Join(dir, fmt.Sprintf("%020d%s", base, suffix))
}

// parseSegmentName returns the base offset of a "<20 digits><suffix>" file name.
func parseSegmentName(name, suffix string) (int64, bool) {
	s, ok := strings.CutSuffix(name, suffix)
	if !ok || len(s) != 20 {
		return 0, false
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < 0 {
		return 0, false
	}
	return v, true
}

func openSegment(fsys vfs.FS, dir string, base int64) (*segment, error) {
	return openSegmentFrom(fsys, base, segmentName(dir, base, logSuffix), segmentName(dir, base, indexSuffix), segmentName(dir, base, timeIndexSuffix), 0)
}

// openSegmentFiles counts the segment files (.log descriptors) open in
// this process; a segment holds no other descriptor.
var openSegmentFiles atomic.Int64

// OpenSegmentFiles returns how many file descriptors the process's logs
// hold: one per segment.
func OpenSegmentFiles() int64 { return openSegmentFiles.Load() }

// openSegmentFrom opens (creating) a segment from explicit paths; flag is
// added to the open flags (os.O_TRUNC for the cleaner's new files).
func openSegmentFrom(fsys vfs.FS, base int64, logPath, idxPath, tidxPath string, flag int) (*segment, error) {
	s := &segment{base: base, fs: fsys, next: base, lastTidxTs: -1, maxTs: -1, maxTsOff: -1}
	s.refs.Store(1)
	var err error
	if s.log, err = fsys.OpenFile(logPath, os.O_RDWR|os.O_CREATE|flag, 0o644); err != nil {
		return nil, ioErr(err)
	}
	openSegmentFiles.Add(1)
	if s.idx, err = openIndexFile(fsys, idxPath, flag); err != nil {
		s.closeFiles()
		return nil, ioErr(err)
	}
	if s.tidx, err = openIndexFile(fsys, tidxPath, flag); err != nil {
		s.closeFiles()
		return nil, ioErr(err)
	}
	return s, nil
}

// acquire takes a reference on the open files; false if they are (being)
// closed because the segment left the log and no reader holds it.
func (s *segment) acquire() bool {
	for {
		n := s.refs.Load()
		if n <= 0 {
			return false
		}
		if s.refs.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// release drops a reference, closing the files with the last one.
func (s *segment) release() error {
	if s.refs.Add(-1) == 0 {
		return s.closeFiles()
	}
	return nil
}

// close drops the log's own reference (Log.Close, failed Open).
func (s *segment) close() error { return s.release() }

func (s *segment) closeFiles() error {
	if r := s.retained.Swap(nil); r != nil {
		r.Add(-1)
	}
	var first error
	if s.log != nil {
		first = s.log.Close()
		openSegmentFiles.Add(-1)
	}
	for _, x := range []*indexFile{s.idx, s.tidx} {
		if x == nil {
			continue
		}
		if err := x.Close(); err != nil && first == nil {
			first = err
		}
	}
	if first != nil {
		return ioErr(first)
	}
	return nil
}

// remove unlinks the segment's files and drops the log's reference. Regions
// still held keep reading the unlinked files until released.
func (s *segment) remove(dir string, retained *atomic.Int64) {
	for _, suf := range []string{logSuffix, indexSuffix, timeIndexSuffix, txnIndexSuffix} {
		s.fs.Remove(segmentName(dir, s.base, suf))
	}
	s.retire(retained)
}

// retire drops the log's reference of a segment leaving the log, counting
// it in retained until its files are closed.
func (s *segment) retire(retained *atomic.Int64) {
	retained.Add(1)
	s.retained.Store(retained)
	s.release()
}

// sync fdatasyncs the log and both indexes.
func (s *segment) sync() error {
	if err := s.log.Sync(); err != nil {
		return ioErr(err)
	}
	for _, x := range []*indexFile{s.idx, s.tidx} {
		if err := x.Sync(); err != nil {
			return ioErr(err)
		}
	}
	return nil
}

// trimIndexes cuts both index files to their entries (they grow ahead of
// them while the segment is written); done when a segment is sealed.
func (s *segment) trimIndexes() error {
	if err := s.idx.Truncate(s.widxN * offsetEntrySize); err != nil {
		return ioErr(err)
	}
	if err := s.tidx.Truncate(s.wtidxN * timeEntrySize); err != nil {
		return ioErr(err)
	}
	return nil
}

// limitIndexes keeps the index files from growing past what
// segment.index.bytes lets them hold.
func (s *segment) limitIndexes(maxIndexBytes int32) {
	s.idx.limit, s.tidx.limit = int64(maxIndexBytes), int64(maxIndexBytes)
}

// publish makes everything written so far visible to readers. The index
// entries are published before the size so a reader never finds an index
// entry pointing past the bytes it may read... (entries only point at
// already written batches, so either order is safe; size last is the rule).
func (s *segment) publish() {
	s.idxN.Store(s.widxN)
	s.tidxN.Store(s.wtidxN)
	s.size.Store(s.wsize)
}

// indexFull reports whether either index has room for fewer than one more entry.
func (s *segment) indexFull(maxIndexBytes int32) bool {
	return (s.widxN+1)*offsetEntrySize > int64(maxIndexBytes) || (s.wtidxN+1)*timeEntrySize > int64(maxIndexBytes)
}

func (s *segment) appendOffsetEntry(offset, pos int64) error {
	var b [offsetEntrySize]byte
	binary.BigEndian.PutUint32(b[0:], uint32(offset-s.base))
	binary.BigEndian.PutUint32(b[4:], uint32(pos))
	if _, err := s.idx.WriteAt(b[:], s.widxN*offsetEntrySize); err != nil {
		return ioErr(err)
	}
	s.widxN++
	return nil
}

// maybeAppendTimeEntry appends (ts, offset) if ts is larger than the last entry's.
func (s *segment) maybeAppendTimeEntry(ts, offset int64) error {
	if ts <= s.lastTidxTs || offset < s.base {
		return nil
	}
	var b [timeEntrySize]byte
	binary.BigEndian.PutUint64(b[0:], uint64(ts))
	binary.BigEndian.PutUint32(b[8:], uint32(offset-s.base))
	if _, err := s.tidx.WriteAt(b[:], s.wtidxN*timeEntrySize); err != nil {
		return ioErr(err)
	}
	s.wtidxN++
	s.lastTidxTs = ts
	return nil
}

// offsetEntry reads .index entry i: (absolute offset, position).
func (s *segment) offsetEntry(i int64) (int64, int64, error) {
	var b [offsetEntrySize]byte
	if _, err := s.idx.ReadAt(b[:], i*offsetEntrySize); err != nil {
		return 0, 0, ioErr(err)
	}
	return s.base + int64(binary.BigEndian.Uint32(b[0:])), int64(binary.BigEndian.Uint32(b[4:])), nil
}

// timeEntry reads .timeindex entry i: (timestamp, absolute offset).
func (s *segment) timeEntry(i int64) (int64, int64, error) {
	var b [timeEntrySize]byte
	if _, err := s.tidx.ReadAt(b[:], i*timeEntrySize); err != nil {
		return 0, 0, ioErr(err)
	}
	return int64(binary.BigEndian.Uint64(b[0:])), s.base + int64(binary.BigEndian.Uint32(b[8:])), nil
}

// lookup returns the position of the last indexed batch whose last offset is
// <= target (0 if none), searching the first n entries. The batch containing
// target starts at or after the returned position.
func (s *segment) lookup(target, n int64) (int64, error) {
	return s.lastEntryPos(n, func(off, _ int64) bool { return off <= target })
}

// lookupPos returns the largest indexed batch position <= limit (0 if none).
func (s *segment) lookupPos(limit, n int64) (int64, error) {
	return s.lastEntryPos(n, func(_, pos int64) bool { return pos <= limit })
}

// lastEntryPos binary-searches the first n offset-index entries, for which
// ok is true on a prefix, and returns the position of the last entry of
// that prefix (0 if none).
func (s *segment) lastEntryPos(n int64, ok func(off, pos int64) bool) (int64, error) {
	lo, hi := int64(0), n // find the first entry where ok is false
	for lo < hi {
		m := int64(uint64(lo+hi) >> 1)
		off, pos, err := s.offsetEntry(m)
		if err != nil {
			return 0, err
		}
		if ok(off, pos) {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo == 0 {
		return 0, nil
	}
	_, pos, err := s.offsetEntry(lo - 1)
	return pos, err
}

// lookupTime returns the offset of the last .timeindex entry with timestamp
// < ts, or -1. Every record before that offset has a timestamp < ts.
func (s *segment) lookupTime(ts, n int64) (int64, error) {
	lo, hi := int64(0), n
	for lo < hi {
		m := int64(uint64(lo+hi) >> 1)
		t, _, err := s.timeEntry(m)
		if err != nil {
			return 0, err
		}
		if t < ts {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo == 0 {
		return -1, nil
	}
	_, off, err := s.timeEntry(lo - 1)
	return off, err
}

// hdrReader reads batch headers through a small buffer so that hopping over
// consecutive small batches costs few syscalls.
type hdrReader struct {
	f      vfs.File
	buf    []byte
	bufPos int64
	bufLen int
}

var hdrReaderPool = sync.Pool{New: func() any { return &hdrReader{buf: make([]byte, 8192)} }}

// newHdrReader returns a pooled reader; release it with put.
func newHdrReader(f vfs.File) *hdrReader {
	r := hdrReaderPool.Get().(*hdrReader)
	r.f, r.bufPos, r.bufLen = f, 0, 0
	return r
}

func (r *hdrReader) put() {
	r.f = nil
	hdrReaderPool.Put(r)
}

// header returns the parsed header at pos; end bounds the readable bytes.
// It returns io.ErrUnexpectedEOF if fewer than BatchHeaderSize bytes remain.
func (r *hdrReader) header(pos, end int64) (BatchHeader, error) {
	if pos+BatchHeaderSize > end {
		return BatchHeader{}, io.ErrUnexpectedEOF
	}
	if pos < r.bufPos || pos+BatchHeaderSize > r.bufPos+int64(r.bufLen) {
		n := int64(len(r.buf))
		if pos+n > end {
			n = end - pos
		}
		m, err := r.f.ReadAt(r.buf[:n], pos)
		if int64(m) < BatchHeaderSize {
			if err == nil || errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			r.bufLen = 0
			return BatchHeader{}, err
		}
		r.bufPos, r.bufLen = pos, m
	}
	off := pos - r.bufPos
	return ParseBatchHeader(r.buf[off : off+BatchHeaderSize])
}

func ioErr(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, os.ErrClosed) {
		return fmt.Errorf("%w: %w", ErrClosed, err)
	}
	return fmt.Errorf("%w: %w", ErrStorage, err)
}
