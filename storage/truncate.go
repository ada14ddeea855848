package storage

import (
	"fmt"
	"path/filepath"
)

// TruncateTo removes every record at and after offset, for a follower
// whose log diverged from its leader's (Kafka: UnifiedLog.truncateTo). As in
// Kafka the cut is at a batch boundary: the batch containing offset goes too,
// so the new log end offset is the base of that batch (<= offset). Later
// segments are deleted, the indexes trimmed, the leader epoch cache
// truncated, the producer state rebuilt from the newest snapshot at or
// below the new end, and the high watermark, recovery point and cleaner
// checkpoint clamped. If offset is at or below the first segment's base the
// log is emptied and restarts at offset (log start offset = offset).
// offset >= LogEndOffset is a no-op.
//
// Readers must not be reading at or beyond offset meanwhile (a follower
// serves no consumer reads above its high watermark, which only truncation
// after an unclean election could cross): a Region already read from the
// truncated tail of the active segment may come up short.
func (l *Log) TruncateTo(offset int64) error {
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.stoppedLocked(); err != nil {
		return err
	}
	if offset < 0 {
		return fmt.Errorf("%w: truncate to %d", ErrOffsetOutOfRange, offset)
	}
	if offset >= l.leo.Load() {
		return nil
	}
	l.truncations++
	// Readers first: nothing at or past offset is visible from here on.
	l.leo.Store(offset)
	l.hw.Store(min(l.hw.Load(), offset))
	segs := l.segments()
	if offset <= segs[0].base {
		return l.truncateFullyLocked(offset)
	}
	k := findSegment(segs, offset)
	s := segs[k]
	keep := append([]*segment(nil), segs[:k+1]...)
	l.segs.Store(&keep)
	for _, t := range segs[k+1:] {
		t.remove(l.dir, &l.retained)
	}
	if err := l.truncateSegmentLocked(s, offset); err != nil {
		return err
	}
	leo := s.next
	if n := len(s.txns); n > 0 && s.txns[n-1].LastOffset >= leo {
		// Kafka: TransactionIndex.truncateTo drops entries whose marker is cut.
		for n > 0 && s.txns[n-1].LastOffset >= leo {
			n--
		}
		s.txns = s.txns[:n:n]
		if err := l.writeTxnIndex(s); err != nil {
			return err
		}
	}
	l.leo.Store(leo)
	l.hw.Store(min(l.hw.Load(), leo))
	if l.logStart.Load() > leo {
		l.logStart.Store(leo)
		if err := writeOffsetCheckpoint(l.fs, l.dir, logStartFile, leo, durable); err != nil {
			return err
		}
	}
	return l.afterTruncateLocked(leo)
}

// truncateSegmentLocked cuts segment s before the batch containing offset
// (or after its last batch below offset) and makes it the active segment.
// Lock should be held.
func (l *Log) truncateSegmentLocked(s *segment, offset int64) error {
	r := newHdrReader(nil)
	defer r.put()
	cut, h, found, err := s.find(r, offset, s.wsize)
	if err != nil {
		return err
	}
	cutOff := offset
	if found {
		cutOff = h.BaseOffset
	} else {
		cut = s.wsize
	}
	// Index entries name batches before the cut, or are dropped. Both files
	// are sorted: count the entries to keep by binary search.
	idxN, err := countEntries(s.widxN, func(i int64) (bool, error) {
		_, pos, err := s.offsetEntry(i)
		return pos < cut, err
	})
	if err != nil {
		return err
	}
	tidxN, err := countEntries(s.wtidxN, func(i int64) (bool, error) {
		_, off, err := s.timeEntry(i)
		return off < cutOff, err
	})
	if err != nil {
		return err
	}
	s.wsize, s.widxN, s.wtidxN = cut, idxN, tidxN
	s.publish()
	for _, t := range []struct {
		f    interface{ Truncate(int64) error }
		size int64
	}{{s.log, cut}, {s.idx, idxN * offsetEntrySize}, {s.tidx, tidxN * timeEntrySize}} {
		if err := t.f.Truncate(t.size); err != nil {
			return ioErr(err)
		}
	}
	ok, err := s.loadIndexes(true)
	if err != nil {
		return err
	}
	if !ok {
		if _, err := l.recoverSegment(s, false); err != nil {
			return err
		}
	}
	s.created = l.now().UnixMilli()
	s.publish()
	return s.sync()
}

// countEntries returns the number of leading entries in [0, n) for which
// keep holds (keep is monotone: true then false).
func countEntries(n int64, keep func(int64) (bool, error)) (int64, error) {
	lo, hi := int64(0), n
	for lo < hi {
		m := int64(uint64(lo+hi) >> 1)
		k, err := keep(m)
		if err != nil {
			return 0, err
		}
		if k {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo, nil
}

// truncateFullyLocked deletes every segment and restarts the log empty at
// offset. Lock should be held.
func (l *Log) truncateFullyLocked(offset int64) error {
	old := l.segments()
	for _, s := range old {
		s.remove(l.dir, &l.retained)
	}
	seg, err := l.newSegment(offset)
	if err != nil {
		empty := []*segment{}
		l.segs.Store(&empty)
		l.closed.Store(true) // no segment to append to: unusable until reopened
		return err
	}
	seg.created = l.now().UnixMilli()
	segs := []*segment{seg}
	l.segs.Store(&segs)
	l.leo.Store(offset)
	l.hw.Store(offset)
	l.logStart.Store(offset)
	l.epochs = nil
	if err := writeOffsetCheckpoint(l.fs, l.dir, logStartFile, offset, durable); err != nil {
		return err
	}
	return l.afterTruncateLocked(offset)
}

// afterTruncateLocked rebuilds the state derived from the log after a
// truncation to leo. Lock should be held.
func (l *Log) afterTruncateLocked(leo int64) error {
	l.recoveryPoint = min(l.recoveryPoint, leo)
	l.cleanerCheckpoint = min(l.cleanerCheckpoint, leo)
	l.unflushed = 0
	l.truncateEpochsLocked(leo)
	for _, off := range snapshotOffsets(l.fs, l.dir) {
		if off > leo {
			l.fs.Remove(filepath.Join(l.dir, fmt.Sprintf("%020d%s", off, snapshotSuffix)))
		}
	}
	l.ps = nil
	if err := l.loadProducerState(leo); err != nil {
		return err
	}
	if err := writeEpochCheckpoint(l.fs, l.dir, l.epochs, durable); err != nil {
		return err
	}
	if err := writeOffsetCheckpoint(l.fs, l.dir, recoveryPointFile, l.recoveryPoint, durable); err != nil {
		return err
	}
	if err := writeOffsetCheckpoint(l.fs, l.dir, cleanerFile, l.cleanerCheckpoint, durable); err != nil {
		return err
	}
	return writeOffsetCheckpoint(l.fs, l.dir, highWatermarkFile, l.hw.Load(), durable)
}

// EndOffsetForEpoch answers OffsetForLeaderEpoch from the leader epoch
// cache, as Kafka's LeaderEpochFileCache.endOffsetFor: for the latest epoch,
// the log end offset; for an older known epoch, the start offset of the next
// higher epoch in the cache (with the epoch itself); for an epoch below every
// cached one, that epoch with the first cached start offset; for an unknown
// (-1) or a future epoch, (-1, -1).
func (l *Log) EndOffsetForEpoch(epoch int32) (endOffset int64, leaderEpoch int32) {
	l.mu.Lock()
	defer l.mu.Unlock()
	es := l.epochs
	switch {
	case epoch < 0 || len(es) == 0:
		return -1, -1
	case es[len(es)-1].Epoch == epoch:
		return l.leo.Load(), epoch
	}
	hi := 0 // first entry with Epoch > epoch
	for hi < len(es) && es[hi].Epoch <= epoch {
		hi++
	}
	switch {
	case hi == len(es):
		return -1, -1
	case hi == 0:
		return es[0].StartOffset, epoch
	default:
		return es[hi].StartOffset, es[hi-1].Epoch
	}
}
