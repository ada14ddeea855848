package storage

import (
	"fmt"
)

// AppendReplicated appends batches fetched from the partition leader, as
// a follower does: offsets and leader epochs are the leader's and are kept,
// and nothing is rewritten. Each batch is checked (length, magic, CRC);
// batches entirely below the log end offset (a repeated fetch) are
// skipped, and a batch that would overlap the log end is an error. It
// returns the offsets appended (BaseOffset -1 when nothing was new).
// Producer state and the leader-epoch cache follow the batch headers, so
// a follower that becomes leader deduplicates retries correctly.
func (l *Log) AppendReplicated(records []byte) (AppendResult, error) {
	if l.closed.Load() {
		return AppendResult{}, ErrClosed
	}
	var refs []batchRef
	for pos := 0; pos < len(records); {
		rem := records[pos:]
		h, err := ParseBatchHeader(rem)
		if err != nil {
			return AppendResult{}, err
		}
		if err := checkLength(h, int64(len(rem))); err != nil {
			if pos > 0 {
				break // a fetch may end with a partial batch: keep the whole ones
			}
			return AppendResult{}, err
		}
		if _, err := validateBatch(rem[:h.Size()]); err != nil {
			return AppendResult{}, err
		}
		refs = append(refs, batchRef{h: h, pos: pos})
		pos += int(h.Size())
	}
	if err := parseControls(records, refs); err != nil {
		return AppendResult{}, err
	}

	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.stoppedLocked(); err != nil {
		return AppendResult{}, err
	}
	leo := l.leo.Load()
	for len(refs) > 0 && refs[0].h.LastOffset() < leo {
		refs = refs[1:]
	}
	if len(refs) == 0 {
		return AppendResult{BaseOffset: -1, LastOffset: -1, LogAppendTime: -1, LogStartOffset: l.logStart.Load()}, nil
	}
	if refs[0].h.BaseOffset < leo {
		return AppendResult{}, fmt.Errorf("%w: replicated batch at %d overlaps the log end %d", ErrCorruptMessage, refs[0].h.BaseOffset, leo)
	}
	first := refs[0].pos
	end := refs[len(refs)-1].pos + int(refs[len(refs)-1].h.Size())
	records = records[first:end]
	var numRecords int64
	for i := range refs {
		refs[i].pos -= first
		if i > 0 && refs[i].h.BaseOffset <= refs[i-1].h.LastOffset() {
			return AppendResult{}, fmt.Errorf("%w: replicated batches out of order at %d", ErrCorruptMessage, refs[i].h.BaseOffset)
		}
		numRecords += int64(refs[i].h.LastOffsetDelta) + 1
	}
	cfg := l.cfg
	nowMs := l.now().UnixMilli()
	last := refs[len(refs)-1].h.LastOffset()
	if l.shouldRollLocked(int64(len(records)), len(refs), last, nowMs, cfg) {
		if err := l.rollLocked(nowMs); err != nil {
			return AppendResult{}, err
		}
	}
	if err := l.commitLocked(l.active(), records, refs, refs[0].h.BaseOffset, last+1, numRecords, nowMs, cfg); err != nil {
		return AppendResult{}, err
	}
	return AppendResult{BaseOffset: refs[0].h.BaseOffset, LastOffset: last, LogAppendTime: -1, LogStartOffset: l.logStart.Load()}, nil
}

// ResetTo empties the log and restarts it at offset, which may lie beyond
// the log end (Kafka's truncateFullyAndStartAt): a follower whose log ends
// below its leader's log start offset starts over there.
func (l *Log) ResetTo(offset int64) error {
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.stoppedLocked(); err != nil {
		return err
	}
	if offset < 0 {
		return fmt.Errorf("%w: reset to %d", ErrOffsetOutOfRange, offset)
	}
	l.truncations++
	return l.truncateFullyLocked(offset)
}

// RestoreHighWatermark sets the high watermark back to the one
// checkpointed at the last flush or close (at most the log end offset).
// Open starts it at the log end offset, which is right for a single
// replica; a replicated partition calls this once after Open so that a
// restarted replica does not expose records its ISR may never have had.
func (l *Log) RestoreHighWatermark() {
	ckpt, ok := readOffsetCheckpoint(l.fs, l.dir, highWatermarkFile)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.autoHW = false
	hw := l.leo.Load()
	if ok {
		hw = min(hw, max(ckpt, l.logStart.Load()))
	}
	l.hw.Store(hw)
}
