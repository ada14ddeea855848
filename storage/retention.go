package storage

import (
	"fmt"
	"math"
	"path/filepath"
	"time"
)

// Retention and log start offset (Kafka: UnifiedLog.deleteOldSegments,
// deleteRecordsOnLeader, maybeIncrementLogStartOffset).
//
// The log start offset is persisted in log-start-offset-checkpoint
// ("0\n<offset>\n") before any segment file is removed; Open takes the
// larger of it and the first segment's base, and removes segments wholly
// below it, so a crash between the two steps is harmless.

// EnforceRetention deletes the oldest segments that retention allows and
// returns how many it deleted. With cleanup.policy including delete: a
// segment whose largest timestamp is more than retention.ms before now, and
// the oldest segments while the log minus the segment stays at least
// retention.bytes. Whatever the policy, segments wholly below the log start
// offset (after DeleteRecords). As in Kafka, only segments entirely below
// the high watermark qualify, deletion stops at the first segment that does
// not, and when every segment qualifies (the active one is expired and not
// empty) the active segment is rolled first so the log keeps an empty one.
// Regions already read from deleted segments stay readable until released.
func (l *Log) EnforceRetention(now time.Time) (deleted int, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.stoppedLocked(); err != nil {
		return 0, err
	}
	cfg := l.cfg
	nowMs := now.UnixMilli()
	segs := l.segments()
	hw, leo, start := l.hw.Load(), l.leo.Load(), l.logStart.Load()
	var total int64
	for _, s := range segs {
		total += s.wsize
	}
	// deletable counts the leading segments satisfying pred, Kafka's
	// deletableSegments: below the high watermark, never the last one if empty.
	deletable := func(pred func(i int, s *segment) bool) int {
		for i, s := range segs {
			upper := leo
			if i+1 < len(segs) {
				upper = segs[i+1].base
			}
			if hw < upper || (i == len(segs)-1 && s.wsize == 0) || !pred(i, s) {
				return i
			}
		}
		return len(segs)
	}
	n := deletable(func(i int, _ *segment) bool { return i+1 < len(segs) && segs[i+1].base <= start })
	if cfg.Deletes() {
		if cfg.RetentionMs >= 0 {
			n = max(n, deletable(func(_ int, s *segment) bool { return nowMs-s.largestTimestamp() > cfg.RetentionMs }))
		}
		if cfg.RetentionBytes >= 0 && total >= cfg.RetentionBytes {
			diff := total - cfg.RetentionBytes
			n = max(n, deletable(func(_ int, s *segment) bool {
				if diff-s.wsize < 0 {
					return false
				}
				diff -= s.wsize
				return true
			}))
		}
	}
	if n == 0 {
		return 0, nil
	}
	if n == len(segs) {
		if err := l.rollLocked(nowMs); err != nil {
			return 0, err
		}
	}
	if err := l.deletePrefixLocked(n, max(start, l.segments()[n].base)); err != nil {
		return 0, err
	}
	return n, nil
}

// largestTimestamp is the segment's largest record timestamp, or its
// file's modification time when it has none (Kafka's LogSegment.largestTimestamp).
// Lock should be held.
func (s *segment) largestTimestamp() int64 {
	if s.maxTs >= 0 {
		return s.maxTs
	}
	if fi, err := s.log.Stat(); err == nil {
		return fi.ModTime().UnixMilli()
	}
	return math.MaxInt64
}

// DeleteRecords moves the log start offset up to offset (-1: the high
// watermark) and deletes the segments wholly below it; records below it
// become unreadable (ErrOffsetOutOfRange). An offset beyond the high
// watermark is ErrOffsetOutOfRange; one at or below the current log start
// changes nothing. A log whose cleanup.policy lacks delete refuses with
// ErrPolicyViolation, as Kafka does. It returns the new log start offset
// (Kafka's low watermark).
func (l *Log) DeleteRecords(offset int64) (int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.stoppedLocked(); err != nil {
		return -1, err
	}
	hw := l.hw.Load()
	if offset == -1 {
		offset = hw
	}
	if !l.cfg.Deletes() {
		return -1, fmt.Errorf("%w: records of %s cannot be deleted: cleanup.policy is %s", ErrPolicyViolation, filepath.Base(l.dir), l.cfg.CleanupPolicy)
	}
	if offset < 0 || offset > hw {
		return -1, fmt.Errorf("%w: cannot delete records before %d: high watermark is %d", ErrOffsetOutOfRange, offset, hw)
	}
	if offset <= l.logStart.Load() {
		return l.logStart.Load(), nil
	}
	segs := l.segments()
	n := 0
	for n+1 < len(segs) && segs[n+1].base <= offset {
		n++
	}
	if err := l.deletePrefixLocked(n, offset); err != nil {
		return -1, err
	}
	return offset, nil
}

// deletePrefixLocked sets the log start offset to start (persisted first),
// trims the leader epoch cache and producer state below it, and removes the
// first n segments. Lock should be held.
func (l *Log) deletePrefixLocked(n int, start int64) error {
	if start > l.logStart.Load() {
		if err := writeOffsetCheckpoint(l.fs, l.dir, logStartFile, start, durable); err != nil {
			return err
		}
		if l.truncateEpochsFromStartLocked(start) {
			if err := writeEpochCheckpoint(l.fs, l.dir, l.epochs, durable); err != nil {
				return err
			}
		}
		if l.ps != nil { // nil while Open loads
			l.ps.evictBefore(start)
		}
		l.logStart.Store(start)
		if hw := l.hw.Load(); hw < start {
			l.hw.Store(start)
		}
	}
	if n == 0 {
		return nil
	}
	old := l.segments()
	segs := append([]*segment(nil), old[n:]...)
	l.segs.Store(&segs)
	for _, s := range old[:n] {
		s.remove(l.dir, &l.retained)
	}
	l.cleanerCheckpoint = max(l.cleanerCheckpoint, segs[0].base)
	return syncDir(l.fs, l.dir)
}

// truncateEpochsFromStartLocked drops leader epoch entries wholly below off
// and moves the first remaining entry's start up to off (Kafka's
// truncateFromStart). It reports whether anything changed.
func (l *Log) truncateEpochsFromStartLocked(off int64) bool {
	i := 0
	for i+1 < len(l.epochs) && l.epochs[i+1].StartOffset <= off {
		i++
	}
	changed := i > 0
	l.epochs = l.epochs[i:]
	if len(l.epochs) > 0 && l.epochs[0].StartOffset < off {
		l.epochs[0].StartOffset = off
		changed = true
	}
	return changed
}

// FlushIfDue flushes the log if flush.ms is set and that long has passed
// since the last flush with appends since (the broker's background flusher).
func (l *Log) FlushIfDue(now time.Time) error {
	l.mu.Lock()
	due := l.cfg.FlushMs != math.MaxInt64 && l.unflushed > 0 && now.UnixMilli()-l.lastFlushMs >= l.cfg.FlushMs
	l.mu.Unlock()
	if !due || l.closed.Load() {
		return nil
	}
	return l.Flush()
}
