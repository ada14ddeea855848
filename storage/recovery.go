package storage

import (
	"bufio"
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"gregor/storage/vfs"
)

// load opens the segments and restores all state. Without the clean-shutdown
// marker it recovers (rescans, validates, truncates, reindexes) every segment
// from the one holding the recovery point on; with it, it trusts the indexes
// and reads only the active segment's tail after its last index entry
// (checking each batch there, CRC included). Any
// segment whose index files are missing or fail a sanity check is rebuilt.
func (l *Log) load() error {
	if err := recoverSwaps(l.fs, l.dir); err != nil {
		return err
	}
	ents, err := l.fs.ReadDir(l.dir)
	if err != nil {
		return ioErr(err)
	}
	haveLog := map[int64]bool{}
	var bases []int64
	for _, e := range ents {
		if b, ok := parseSegmentName(e.Name(), logSuffix); ok {
			haveLog[b] = true
			bases = append(bases, b)
		}
	}
	for _, e := range ents {
		name := e.Name()
		if strings.HasSuffix(name, ".tmp") {
			l.fs.Remove(filepath.Join(l.dir, name))
			continue
		}
		for _, suf := range []string{indexSuffix, timeIndexSuffix, txnIndexSuffix} {
			if b, ok := parseSegmentName(name, suf); ok && !haveLog[b] {
				l.fs.Remove(filepath.Join(l.dir, name))
			}
		}
	}
	sort.Slice(bases, func(i, j int) bool { return bases[i] < bases[j] })
	markerPath := filepath.Join(l.dir, cleanShutdownMarker)
	_, statErr := l.fs.Stat(markerPath)
	clean := statErr == nil
	nowMs := l.now().UnixMilli()

	var segs []*segment
	publishSegs := func() { s := segs; l.segs.Store(&s) }
	missingIdx := map[int64]bool{}
	for _, b := range bases {
		for _, suf := range []string{indexSuffix, timeIndexSuffix} {
			if _, err := l.fs.Stat(segmentName(l.dir, b, suf)); err != nil {
				missingIdx[b] = true
			}
		}
		s, err := openSegment(l.fs, l.dir, b)
		if err != nil {
			publishSegs()
			return err
		}
		segs = append(segs, s)
	}
	if len(segs) == 0 {
		s, err := openSegment(l.fs, l.dir, 0)
		if err != nil {
			return err
		}
		segs = append(segs, s)
	}
	publishSegs()

	l.epochs = readEpochCheckpoint(l.fs, l.dir)
	recovered := map[int64]bool{}
	firstRecover := len(segs)
	if !clean {
		rp, _ := readOffsetCheckpoint(l.fs, l.dir, recoveryPointFile)
		firstRecover = findSegment(segs, rp)
	}
	for i := 0; i < len(segs); i++ {
		s := segs[i]
		last := i == len(segs)-1
		ok := false
		if i < firstRecover && !missingIdx[s.base] {
			if ok, err = s.loadIndexes(last); err != nil {
				return err
			}
		}
		if !ok {
			recovered[s.base] = true
			truncated, err := l.recoverSegment(s, !last)
			if err != nil {
				return err
			}
			if !last && (truncated || s.next > segs[i+1].base) {
				// Data after a corrupt point is unreachable: drop it.
				for _, t := range segs[i+1:] {
					t.remove(l.dir, &l.retained)
				}
				segs = segs[:i+1]
				publishSegs()
			} else if !last {
				s.next = segs[i+1].base // compaction may have dropped its last batches
			}
		} else if !last {
			s.next = segs[i+1].base
		}
		s.publish()
	}
	active := segs[len(segs)-1]
	active.created = nowMs
	if active.wsize >= BatchHeaderSize {
		var b [BatchHeaderSize]byte
		if _, err := active.log.ReadAt(b[:], 0); err == nil {
			if h, err := ParseBatchHeader(b[:]); err == nil && h.MaxTimestamp > 0 && h.MaxTimestamp <= nowMs {
				active.created = h.MaxTimestamp
			}
		}
	}
	leo := active.next
	l.leo.Store(leo)
	l.hw.Store(leo)
	l.recoveryPoint = leo
	l.truncateEpochsLocked(leo)
	start := segs[0].base
	if cp, ok := readOffsetCheckpoint(l.fs, l.dir, logStartFile); ok && cp > start {
		start = min(cp, leo)
	}
	l.logStart.Store(segs[0].base)
	if err := l.deletePrefixLocked(findSegment(segs, start), start); err != nil {
		return err
	}
	l.cleanerCheckpoint = l.logStart.Load()
	if cp, ok := readOffsetCheckpoint(l.fs, l.dir, cleanerFile); ok {
		l.cleanerCheckpoint = min(max(cp, l.cleanerCheckpoint), leo)
	}

	l.txnRebuild = l.loadTxnIndexes(recovered)
	if err := l.loadProducerState(leo); err != nil {
		return err
	}
	if !clean {
		if err := writeEpochCheckpoint(l.fs, l.dir, l.epochs, durable); err != nil {
			return err
		}
		if err := writeOffsetCheckpoint(l.fs, l.dir, recoveryPointFile, leo, durable); err != nil {
			return err
		}
	}
	if err := l.fs.Remove(markerPath); err != nil && !errors.Is(err, os.ErrNotExist) {
		return ioErr(err)
	}
	return syncDir(l.fs, l.dir)
}

// truncateEpochsLocked drops leader epoch entries starting at or after off.
func (l *Log) truncateEpochsLocked(off int64) {
	for len(l.epochs) > 0 && l.epochs[len(l.epochs)-1].StartOffset >= off {
		l.epochs = l.epochs[:len(l.epochs)-1]
	}
}

// loadIndexes trusts the segment's index files after a sanity check. For the
// active segment it also reads the batch headers after the last index entry
// to find the end offset and max timestamp. It returns false if the segment
// must be recovered instead.
func (s *segment) loadIndexes(active bool) (bool, error) {
	fi, err := s.log.Stat()
	if err != nil {
		return false, ioErr(err)
	}
	logSize, idxSize, tidxSize := fi.Size(), s.idx.Size(), s.tidx.Size()
	if idxSize%offsetEntrySize != 0 || tidxSize%timeEntrySize != 0 || logSize > 1<<32 {
		return false, nil
	}
	s.wsize, s.widxN, s.wtidxN = logSize, idxSize/offsetEntrySize, tidxSize/timeEntrySize
	s.maxTs, s.maxTsOff, s.lastTidxTs, s.bytesSinceIdx = -1, -1, -1, 0
	var lastIdxOff, lastIdxPos int64 = -1, 0
	if s.widxN > 0 {
		off, pos, err := s.offsetEntry(s.widxN - 1)
		if err != nil {
			return false, err
		}
		if off < s.base || pos >= logSize {
			return false, nil
		}
		lastIdxOff, lastIdxPos = off, pos
	}
	if s.wtidxN > 0 {
		ts, off, err := s.timeEntry(s.wtidxN - 1)
		if err != nil {
			return false, err
		}
		if off < s.base {
			return false, nil
		}
		s.lastTidxTs, s.maxTs, s.maxTsOff = ts, ts, off
	} else if !active && logSize > 0 {
		return false, nil // a sealed segment always gets a final time index entry
	}
	if !active {
		return logSize > 0, nil
	}
	r := newHdrReader(s.log)
	defer r.put()
	pos, expect := lastIdxPos, s.base
	for first := true; pos < logSize; first = false {
		h, err := r.header(pos, logSize)
		if err != nil {
			return false, nil
		}
		if checkLength(h, logSize-pos) != nil || checkStoredCount(h) != nil || !crcMatches(s.log, pos, h) {
			return false, nil
		}
		if first && lastIdxOff >= 0 {
			if h.LastOffset() != lastIdxOff {
				return false, nil
			}
		} else if h.BaseOffset < expect {
			return false, nil
		}
		if h.MaxTimestamp > s.maxTs {
			s.maxTs, s.maxTsOff = h.MaxTimestamp, h.BaseOffset
		}
		s.bytesSinceIdx += h.Size()
		pos += h.Size()
		expect = h.LastOffset() + 1
	}
	if lastIdxOff >= 0 && expect <= lastIdxOff {
		return false, nil
	}
	s.next = expect
	return true, nil
}

// crcMatches reports whether the batch at pos (header h) in f matches its
// CRC. The clean-shutdown path checks the active segment's unindexed tail
// with it, so bytes appended after the last clean close (a torn write by
// something else, a bad disk) send the segment through recoverSegment
// instead of being served.
func crcMatches(f vfs.File, pos int64, h BatchHeader) bool {
	var sum crcWriter
	if _, err := io.Copy(&sum, io.NewSectionReader(f, pos+offAttributes, h.Size()-offAttributes)); err != nil {
		return false
	}
	return sum.sum == h.CRC
}

// recoverSegment scans the whole segment, validating every batch (length,
// magic, consecutive offsets, record count, CRC), truncates at the first bad
// byte, rebuilds both indexes and re-derives leader epochs. sealed segments
// get their final time index entry. It reports whether data was truncated.
func (l *Log) recoverSegment(s *segment, sealed bool) (bool, error) {
	fi, err := s.log.Stat()
	if err != nil {
		return false, ioErr(err)
	}
	size := fi.Size()
	l.truncateEpochsLocked(s.base)
	s.wsize, s.widxN, s.wtidxN, s.next = 0, 0, 0, s.base
	s.maxTs, s.maxTsOff, s.lastTidxTs, s.bytesSinceIdx = -1, -1, -1, 0
	interval, maxIdx := int64(l.cfg.IndexIntervalBytes), int(l.cfg.SegmentIndexBytes)
	var idxBuf, tidxBuf []byte
	br := bufio.NewReaderSize(io.NewSectionReader(s.log, 0, size), 256<<10)
	hdr := make([]byte, BatchHeaderSize)
	var hasher crcWriter
	copyBuf := make([]byte, 64<<10)
	pos, next := int64(0), s.base
	for size-pos >= BatchHeaderSize {
		if _, err := io.ReadFull(br, hdr); err != nil {
			return false, ioErr(err)
		}
		h, err := ParseBatchHeader(hdr)
		if err != nil || checkLength(h, size-pos) != nil || checkStoredCount(h) != nil || h.BaseOffset < next {
			break
		}
		if pos+h.Size() > 1<<32 {
			break // not addressable by the index
		}
		hasher.sum = crc32cUpdate(0, hdr[offAttributes:])
		body := h.Size() - BatchHeaderSize
		if n, err := io.CopyBuffer(&hasher, io.LimitReader(br, body), copyBuf); err != nil || n < body {
			return false, ioErr(cmp.Or(err, io.ErrUnexpectedEOF))
		}
		if hasher.sum != h.CRC {
			break
		}
		if h.MaxTimestamp > s.maxTs {
			s.maxTs, s.maxTsOff = h.MaxTimestamp, h.BaseOffset
		}
		if s.bytesSinceIdx > interval && len(idxBuf)+offsetEntrySize <= maxIdx && len(tidxBuf)+timeEntrySize <= maxIdx {
			idxBuf = appendU32(appendU32(idxBuf, uint32(h.LastOffset()-s.base)), uint32(pos))
			if s.maxTs > s.lastTidxTs {
				tidxBuf = appendU32(appendU64(tidxBuf, uint64(s.maxTs)), uint32(s.maxTsOff-s.base))
				s.lastTidxTs = s.maxTs
			}
			s.bytesSinceIdx = 0
		}
		s.bytesSinceIdx += h.Size()
		if h.PartitionLeaderEpoch >= 0 && (len(l.epochs) == 0 || h.PartitionLeaderEpoch > l.epochs[len(l.epochs)-1].Epoch) {
			l.epochs = append(l.epochs, EpochEntry{Epoch: h.PartitionLeaderEpoch, StartOffset: h.BaseOffset})
		}
		pos += h.Size()
		next = h.LastOffset() + 1
	}
	truncated := pos < size
	if truncated {
		if err := s.log.Truncate(pos); err != nil {
			return false, ioErr(err)
		}
	}
	for _, w := range []struct {
		f *indexFile
		b []byte
	}{{s.idx, idxBuf}, {s.tidx, tidxBuf}} {
		if err := w.f.Truncate(0); err != nil {
			return false, ioErr(err)
		}
		if _, err := w.f.WriteAt(w.b, 0); err != nil {
			return false, ioErr(err)
		}
	}
	s.wsize, s.next = pos, next
	s.widxN, s.wtidxN = int64(len(idxBuf)/offsetEntrySize), int64(len(tidxBuf)/timeEntrySize)
	if sealed {
		if err := s.maybeAppendTimeEntry(s.maxTs, s.maxTsOff); err != nil {
			return false, err
		}
	}
	if err := s.trimIndexes(); err != nil {
		return false, err
	}
	return truncated, s.sync()
}

func appendU32(b []byte, v uint32) []byte {
	return append(b, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}

func appendU64(b []byte, v uint64) []byte {
	return appendU32(appendU32(b, uint32(v>>32)), uint32(v))
}

// loadProducerState loads the newest valid snapshot at or below leo (deleting
// newer or corrupt ones) and replays batch headers from there to leo.
func (l *Log) loadProducerState(leo int64) error {
	from := l.logStart.Load()
	// A .txnindex to rebuild needs the transaction state at its segment's
	// start: only a snapshot at or below it will do.
	limit := leo
	for _, s := range l.segments() {
		if l.txnRebuild[s.base] {
			limit = min(limit, s.base)
			break
		}
	}
	offs := snapshotOffsets(l.fs, l.dir)
	for i := len(offs) - 1; i >= 0; i-- {
		path := filepath.Join(l.dir, fmt.Sprintf("%020d%s", offs[i], snapshotSuffix))
		if offs[i] > leo || offs[i] < from {
			l.fs.Remove(path)
			continue
		}
		if l.ps != nil || offs[i] > limit {
			continue
		}
		b, err := l.fs.ReadFile(path)
		if err != nil {
			return ioErr(err)
		}
		if ps, ok := decodeProducerState(b); ok {
			l.ps, from = ps, offs[i]
		} else {
			l.fs.Remove(path)
		}
	}
	if l.ps == nil {
		l.ps = newProducerState()
	}
	l.unreplicated = nil
	if err := l.replayProducers(from, leo); err != nil {
		return err
	}
	for _, s := range l.segments() {
		if l.txnRebuild[s.base] {
			if err := l.writeTxnIndex(s); err != nil {
				return err
			}
		}
	}
	l.txnRebuild = nil
	return nil
}

// loadTxnIndexes reads each segment's .txnindex and returns the bases of
// the segments whose index must be rebuilt by the producer replay: those
// recovered, and those whose file is missing or corrupt. Entries whose
// marker is past the segment's end (written ahead by an interrupted
// compaction swap) are dropped.
func (l *Log) loadTxnIndexes(recovered map[int64]bool) map[int64]bool {
	rebuild := map[int64]bool{}
	segs := l.segments()
	for i, s := range segs {
		s.txns = nil
		if recovered[s.base] {
			rebuild[s.base] = true
			continue
		}
		b, err := l.fs.ReadFile(segmentName(l.dir, s.base, txnIndexSuffix))
		if err != nil {
			rebuild[s.base] = true
			continue
		}
		txns, err := DecodeTxnIndex(b)
		if err != nil {
			rebuild[s.base] = true
			continue
		}
		end := s.next
		if i+1 < len(segs) {
			end = segs[i+1].base
		}
		for _, a := range txns {
			if a.LastOffset >= s.base && a.LastOffset < end {
				s.txns = append(s.txns, a)
			}
		}
	}
	return rebuild
}

// replayProducers feeds the headers of batches in [from, to) to the producer
// state, reading only the 61-byte headers.
func (l *Log) replayProducers(from, to int64) error {
	if from >= to {
		return nil
	}
	segs := l.segments()
	r := newHdrReader(nil)
	defer r.put()
	for i := findSegment(segs, from); i < len(segs); i++ {
		s := segs[i]
		rebuild := l.txnRebuild[s.base]
		if rebuild {
			s.txns = nil
		}
		pos := int64(0)
		if from > s.base {
			var err error
			if pos, err = s.lookup(from, s.widxN); err != nil {
				return err
			}
		}
		r.f, r.bufLen = s.log, 0
		for pos < s.wsize {
			h, err := r.header(pos, s.wsize)
			if err != nil {
				return ioErrOrCorrupt(err)
			}
			if h.Length < BatchHeaderSize-logOverhead {
				return fmt.Errorf("%w: bad batch length at position %d", ErrCorruptMessage, pos)
			}
			if h.LastOffset() >= from && h.BaseOffset < to {
				var ctl ControlRecord
				if h.IsControl() && h.ProducerID >= 0 {
					b := make([]byte, h.Size())
					if _, err := s.log.ReadAt(b, pos); err != nil {
						return ioErr(err)
					}
					if ctl, err = ParseControlBatch(b); err != nil {
						return err
					}
				}
				l.ps.update(h)
				if done, a, ended := l.ps.applyTxn(h, ctl); ended {
					l.unreplicated = append(l.unreplicated, done)
					if a != nil && rebuild {
						s.txns = append(s.txns, *a)
					}
				}
			}
			pos += h.Size()
		}
	}
	return nil
}
