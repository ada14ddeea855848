package storage

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"gregor/storage/vfs"
)

// Compaction (Kafka: LogCleaner, Cleaner, LogCleanerManager), for logs whose
// cleanup.policy includes compact.
//
// A pass cleans the cleanable prefix of the log: whole non-active segments
// below the high watermark, stopping at the first segment holding a record
// younger than min.compaction.lag.ms. It runs when that prefix's dirty part
// (offsets at or above the cleaner checkpoint) is at least
// min.cleanable.dirty.ratio of it, or when a tombstone's delete horizon has
// passed. It maps every key of the dirty part to its latest offset, then
// rewrites the prefix segment group by group (consecutive segments whose
// sizes add up to at most segment.bytes become one), keeping a record when
// it has a key, no later record of the dirty part has the same key, and it
// is not a tombstone whose delete horizon has passed.
//
// Offsets are preserved: batches keep their base offset and lastOffsetDelta,
// records their offset deltas; a batch left empty is dropped, except the last
// batch of a producer, whose header is kept (empty) so the idempotence state
// survives a restart. Unchanged batches are copied byte for byte; changed
// ones are rebuilt with their own codec. A batch keeping a tombstone gets a
// delete horizon (attribute bit 6, baseTimestamp = now + delete.retention.ms,
// record timestamp deltas rebased, KIP-534); a later pass after the horizon
// removes its tombstones. The earliest horizon is remembered in memory only:
// after a restart, expired tombstones go with the next dirty-ratio pass.
//
// Swap (crash safe at every step): the group is written to
// <base>.{log,index,timeindex}.cleaned and fsynced; then, under the log
// lock, <base>.cleaner-swap records the group's end offset, the .cleaned
// files are renamed to .swap (the .log rename is the commit point), the old
// segments' files are removed and the .swap files renamed to their final
// names. Open deletes .cleaned files, and for a <base>.log.swap removes the
// segments in [base, end) and finishes the renames; index .swap files
// without their .log.swap are deleted.
//
// The key map holds every distinct key of the dirty part in memory (Kafka
// bounds it with log.cleaner.dedupe.buffer.size and cleans in several
// passes; gregor does not yet).

const (
	cleanedSuffix  = ".cleaned"
	swapSuffix     = ".swap"
	manifestSuffix = ".cleaner-swap"
)

// CompactStats describes one Compact pass.
type CompactStats struct {
	Segments       int   // segments written (swapped in)
	BytesRead      int64 // bytes of the cleaned prefix read while rewriting
	BytesWritten   int64 // bytes of the segments swapped in
	RecordsRemoved int64
	Duration       time.Duration
}

// cleanPlan is what Compact decided under the lock.
type cleanPlan struct {
	cfg         Config
	nowMs       int64
	segs        []*segment // the cleanable prefix; Compact holds a reference on each
	ends        []int64    // next offset after each segment
	firstDirty  int64
	endDirty    int64
	truncations int64
	lastBatch   map[int64]int64        // producer id -> last offset of its last batch
	aborted     map[int64][]AbortedTxn // producer id -> its aborted transactions in the prefix
	// Transaction tracking over the pass, in offset order (Kafka:
	// CleanedTransactionMetadata): abortSeen marks aborted transactions
	// (by marker offset) with a data batch still in the log, committedData
	// producers whose open committed transaction has one; txns collects the
	// cleaned group's .txnindex.
	abortSeen     map[int64]bool
	committedData map[int64]bool
	txns          []AbortedTxn
	minHorizon    int64 // earliest delete horizon kept (0: none)
}

// errTestCrash is returned when Log.testHookSwap stops a swap.
var errTestCrash = errors.New("storage: test crash")

// Compact runs one compaction pass if the log needs one (see above); it is a
// no-op returning zero stats otherwise, and for logs not compacted.
// Appends and reads proceed meanwhile; ctx cancels between batches.
func (l *Log) Compact(ctx context.Context, now time.Time) (CompactStats, error) {
	start := time.Now()
	l.cleanMu.Lock()
	defer l.cleanMu.Unlock()
	p, err := l.planCompaction(now)
	if err != nil || p == nil {
		return CompactStats{}, err
	}
	defer func() {
		for _, s := range p.segs {
			s.release()
		}
	}()
	var st CompactStats
	keys, err := l.buildKeyMap(ctx, p)
	if err != nil {
		return st, l.abortErr(p, err)
	}
	for _, g := range groupSegments(p) {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		ns, changed, err := l.cleanGroup(p, g, keys, &st)
		if err != nil {
			return st, l.abortErr(p, err)
		}
		if !changed {
			continue
		}
		l.mu.Lock()
		swapped, err := l.swapLocked(p, p.segs[g.from:g.to], ns, g.end)
		l.mu.Unlock()
		if err != nil {
			return st, err
		}
		if swapped {
			st.Segments++
			st.BytesWritten += ns.wsize
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed.Load() || l.frozen || l.truncations != p.truncations {
		return st, ErrCompactionAborted
	}
	l.cleanerCheckpoint = max(l.cleanerCheckpoint, p.endDirty)
	l.deleteHorizon = p.minHorizon
	st.Duration = time.Since(start)
	return st, writeOffsetCheckpoint(l.fs, l.dir, cleanerFile, l.cleanerCheckpoint, durable)
}

// abortErr turns an error into ErrCompactionAborted when the log changed
// under the cleaner (truncated or closed), which explains the error.
func (l *Log) abortErr(p *cleanPlan, err error) error {
	l.mu.Lock()
	changed := l.closed.Load() || l.frozen || l.truncations != p.truncations
	l.mu.Unlock()
	if changed {
		return fmt.Errorf("%w: %v", ErrCompactionAborted, err)
	}
	return err
}

// planCompaction picks the cleanable prefix and decides whether cleaning
// is due; nil when not.
func (l *Log) planCompaction(now time.Time) (*cleanPlan, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.stoppedLocked(); err != nil {
		return nil, err
	}
	cfg := l.cfg
	if !cfg.Compacts() {
		return nil, nil
	}
	nowMs := now.UnixMilli()
	segs := l.segments()
	// Kafka cleans only below the first unstable offset: records of a
	// transaction not yet decided stay as they are.
	hw := l.lastStableLocked()
	n := 0
	for n+1 < len(segs) && segs[n+1].base <= hw {
		if cfg.MinCompactionLagMs > 0 && segs[n].maxTs > nowMs-cfg.MinCompactionLagMs {
			break
		}
		n++
	}
	if n == 0 {
		return nil, nil
	}
	firstDirty := max(l.cleanerCheckpoint, l.logStart.Load())
	var clean, dirty int64
	for i := 0; i < n; i++ {
		if segs[i+1].base <= firstDirty {
			clean += segs[i].wsize
		} else {
			dirty += segs[i].wsize
		}
	}
	horizonDue := l.deleteHorizon > 0 && l.deleteHorizon <= nowMs
	if !horizonDue && (dirty == 0 || float64(dirty) < cfg.MinCleanableDirtyRatio*float64(clean+dirty)) {
		return nil, nil
	}
	p := &cleanPlan{cfg: cfg, nowMs: nowMs, firstDirty: firstDirty, endDirty: segs[n].base,
		truncations: l.truncations, lastBatch: map[int64]int64{}, aborted: map[int64][]AbortedTxn{},
		abortSeen: map[int64]bool{}, committedData: map[int64]bool{}}
	for i := 0; i < n; i++ {
		for _, a := range segs[i].txns {
			p.aborted[a.ProducerID] = append(p.aborted[a.ProducerID], a)
		}
		if !segs[i].acquire() {
			for _, s := range p.segs {
				s.release()
			}
			return nil, ErrClosed
		}
		p.segs = append(p.segs, segs[i])
		p.ends = append(p.ends, segs[i+1].base)
	}
	for pid, e := range l.ps.producers {
		if len(e.batches) > 0 {
			p.lastBatch[pid] = e.batches[len(e.batches)-1].lastOff
		}
	}
	return p, nil
}

// abortedBy returns the aborted transaction the data batch h belongs to
// (its producer's, begun at or before it, ended by an ABORT marker after
// it).
func (p *cleanPlan) abortedBy(h BatchHeader) (AbortedTxn, bool) {
	if h.ProducerID < 0 || !h.IsTransactional() || h.IsControl() {
		return AbortedTxn{}, false
	}
	for _, a := range p.aborted[h.ProducerID] {
		if a.FirstOffset <= h.BaseOffset && h.BaseOffset < a.LastOffset {
			return a, true
		}
	}
	return AbortedTxn{}, false
}

func (p *cleanPlan) isAborted(h BatchHeader) bool {
	_, ok := p.abortedBy(h)
	return ok
}

// trackTxn feeds batch h to the pass's transaction tracking. For a marker
// it reports whether its transaction has no data batch left in the log
// (Kafka: the marker may then go once its delete horizon passed); an ABORT
// marker whose transaction still has data keeps its .txnindex entry.
func (p *cleanPlan) trackTxn(h BatchHeader, b []byte) (markerEmpty bool) {
	if h.ProducerID < 0 || !h.IsTransactional() {
		return false
	}
	if !h.IsControl() {
		if a, ok := p.abortedBy(h); ok {
			p.abortSeen[a.LastOffset] = true
		} else {
			p.committedData[h.ProducerID] = true
		}
		return false
	}
	cr, err := ParseControlBatch(b)
	if err != nil {
		return false // kept as is
	}
	if cr.Type == ControlCommit {
		had := p.committedData[h.ProducerID]
		delete(p.committedData, h.ProducerID)
		return !had
	}
	for _, a := range p.aborted[h.ProducerID] {
		if a.LastOffset == h.BaseOffset {
			if p.abortSeen[a.LastOffset] {
				p.txns = append(p.txns, a)
				return false
			}
			return true
		}
	}
	return true
}

// filterMarker returns the control batch to write in place of b: b while
// its transaction has data, then b with a delete horizon (now +
// delete.retention.ms), and nothing once that horizon passed.
func filterMarker(p *cleanPlan, h BatchHeader, b []byte) ([]byte, int64, error) {
	if !p.trackTxn(h, b) {
		return b, 0, nil
	}
	if h.Attributes&attrDeleteHorizon != 0 {
		if h.BaseTimestamp <= p.nowMs {
			return nil, int64(h.NumRecords), nil
		}
		if p.minHorizon == 0 || h.BaseTimestamp < p.minHorizon {
			p.minHorizon = h.BaseTimestamp
		}
		return b, 0, nil
	}
	recs, err := batchRecords(b, h)
	if err != nil {
		return nil, 0, err
	}
	horizon := p.nowMs + p.cfg.DeleteRetentionMs
	var payload []byte
	err = forEachRecord(recs, h.NumRecords, func(r *recordView) bool {
		payload = appendRecord(payload, r, h.BaseTimestamp+r.tsDelta-horizon)
		return true
	})
	if err != nil {
		return nil, 0, err
	}
	nh := h
	nh.Attributes |= attrDeleteHorizon
	nh.BaseTimestamp = horizon
	if p.minHorizon == 0 || horizon < p.minHorizon {
		p.minHorizon = horizon
	}
	return encodeBatch(nh, h.NumRecords, payload), 0, nil
}

// forEachBatch reads the segment's first size bytes batch by batch; b is
// only valid during the call.
func (s *segment) forEachBatch(size int64, fn func(h BatchHeader, b []byte) error) error {
	br := bufio.NewReaderSize(io.NewSectionReader(s.log, 0, size), 256<<10)
	buf := make([]byte, BatchHeaderSize, 64<<10)
	for pos := int64(0); pos < size; {
		if _, err := io.ReadFull(br, buf[:BatchHeaderSize]); err != nil {
			return ioErr(err)
		}
		h, err := ParseBatchHeader(buf[:BatchHeaderSize])
		if err != nil {
			return err
		}
		if err := checkLength(h, size-pos); err != nil {
			return err
		}
		buf = slices.Grow(buf[:BatchHeaderSize], int(h.Size())-BatchHeaderSize)[:h.Size()]
		if _, err := io.ReadFull(br, buf[BatchHeaderSize:]); err != nil {
			return ioErr(err)
		}
		if err := fn(h, buf); err != nil {
			return err
		}
		pos += h.Size()
	}
	return nil
}

// buildKeyMap maps each key in [firstDirty, endDirty) to its latest offset.
func (l *Log) buildKeyMap(ctx context.Context, p *cleanPlan) (map[string]int64, error) {
	keys := map[string]int64{}
	for i, s := range p.segs {
		if p.ends[i] <= p.firstDirty {
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		err := s.forEachBatch(s.size.Load(), func(h BatchHeader, b []byte) error {
			if h.IsControl() || h.LastOffset() < p.firstDirty || h.NumRecords == 0 || p.isAborted(h) {
				return nil
			}
			recs, err := batchRecords(b, h)
			if err != nil {
				return err
			}
			return forEachRecord(recs, h.NumRecords, func(r *recordView) bool {
				if off := h.BaseOffset + int64(r.offDelta); !r.keyNull && off >= p.firstDirty && off < p.endDirty {
					keys[string(r.key)] = off
				}
				return true
			})
		})
		if err != nil {
			return nil, err
		}
	}
	return keys, nil
}

type segGroup struct {
	from, to int   // p.segs[from:to]
	end      int64 // next offset after the group
}

// groupSegments groups consecutive segments whose sizes add up to at most
// segment.bytes and whose offsets fit one segment's relative offsets.
func groupSegments(p *cleanPlan) []segGroup {
	var gs []segGroup
	for i := 0; i < len(p.segs); {
		j, size := i+1, p.segs[i].size.Load()
		for j < len(p.segs) && size+p.segs[j].size.Load() <= p.cfg.SegmentBytes && p.ends[j]-p.segs[i].base <= math.MaxInt32 {
			size += p.segs[j].size.Load()
			j++
		}
		gs = append(gs, segGroup{from: i, to: j, end: p.ends[j-1]})
		i = j
	}
	return gs
}

// cleanGroup writes the cleaned group to .cleaned files. It reports false
// (and removes them) when nothing would change.
func (l *Log) cleanGroup(p *cleanPlan, g segGroup, keys map[string]int64, st *CompactStats) (*segment, bool, error) {
	base := p.segs[g.from].base
	ns, err := openSegmentFrom(l.fs, base, segmentName(l.dir, base, logSuffix+cleanedSuffix),
		segmentName(l.dir, base, indexSuffix+cleanedSuffix), segmentName(l.dir, base, timeIndexSuffix+cleanedSuffix), os.O_TRUNC)
	if err != nil {
		return nil, false, err
	}
	w := &segWriter{s: ns, cfg: p.cfg}
	changed := g.to-g.from > 1
	p.txns = nil
	for _, s := range p.segs[g.from:g.to] {
		size := s.size.Load()
		st.BytesRead += size
		err = s.forEachBatch(size, func(h BatchHeader, b []byte) error {
			out, removed, err := filterBatch(p, keys, h, b)
			if err != nil {
				return err
			}
			st.RecordsRemoved += removed
			if len(out) == 0 || &out[0] != &b[0] || len(out) != len(b) {
				changed = true
			}
			if out != nil {
				return w.add(out)
			}
			return nil
		})
		if err != nil {
			break
		}
	}
	if err == nil && changed {
		err = w.finish()
	}
	if err != nil || !changed {
		ns.closeFiles()
		removeCleaned(l.fs, l.dir, base)
		return nil, false, err
	}
	ns.next = g.end
	ns.txns = p.txns
	return ns, true, nil
}

func removeCleaned(fsys vfs.FS, dir string, base int64) {
	for _, suf := range []string{logSuffix, indexSuffix, timeIndexSuffix} {
		fsys.Remove(segmentName(dir, base, suf+cleanedSuffix))
	}
}

// filterBatch returns the batch to write in place of b (b itself when it
// is kept unchanged, nil when dropped) and how many records it removed.
func filterBatch(p *cleanPlan, keys map[string]int64, h BatchHeader, b []byte) ([]byte, int64, error) {
	hasHorizon := h.Attributes&attrDeleteHorizon != 0
	if h.IsControl() {
		return filterMarker(p, h, b)
	}
	p.trackTxn(h, b)
	if h.NumRecords == 0 {
		return b, 0, nil
	}
	recs, err := batchRecords(b, h)
	if err != nil {
		return nil, 0, err
	}
	horizon := p.nowMs + p.cfg.DeleteRetentionMs
	if hasHorizon {
		horizon = h.BaseTimestamp
	}
	var kept []recordView
	var removed int64
	needHorizon, keptTombstone := false, false
	err = forEachRecord(recs, h.NumRecords, func(r *recordView) bool {
		off := h.BaseOffset + int64(r.offDelta)
		keep := !r.keyNull
		if keep {
			if latest, ok := keys[string(r.key)]; ok && off < latest {
				keep = false
			}
		}
		if keep && r.valueNull {
			if hasHorizon && horizon <= p.nowMs {
				keep = false
			} else {
				keptTombstone = true
				needHorizon = needHorizon || !hasHorizon
			}
		}
		if keep {
			kept = append(kept, *r)
		} else {
			removed++
		}
		return true
	})
	if err != nil {
		return nil, 0, err
	}
	if keptTombstone && (p.minHorizon == 0 || horizon < p.minHorizon) {
		p.minHorizon = horizon
	}
	if p.isAborted(h) {
		// Kafka's cleaner discards the records of aborted transactions.
		removed, kept, needHorizon = int64(len(kept))+removed, nil, false
	}
	if removed == 0 && !needHorizon {
		return b, 0, nil
	}
	nh := h
	if len(kept) == 0 {
		if last, ok := p.lastBatch[h.ProducerID]; !ok || h.ProducerID < 0 || last != h.LastOffset() {
			return nil, removed, nil
		}
		// The producer's last batch: keep its header for idempotence.
		nh.Attributes &^= attrCodecMask | attrDeleteHorizon
		nh.BaseTimestamp = h.MaxTimestamp
		return encodeBatch(nh, 0, nil), removed, nil
	}
	if needHorizon {
		nh.Attributes |= attrDeleteHorizon
		nh.BaseTimestamp = horizon
	}
	var payload []byte
	maxTs := int64(-1)
	for i := range kept {
		r := &kept[i]
		ts := h.BaseTimestamp + r.tsDelta
		maxTs = max(maxTs, ts)
		if nh.BaseTimestamp == h.BaseTimestamp {
			payload = append(payload, r.raw...)
		} else {
			payload = appendRecord(payload, r, ts-nh.BaseTimestamp)
		}
	}
	if !h.IsLogAppendTime() {
		nh.MaxTimestamp = maxTs
	}
	if payload, err = compress(h.Codec(), payload); err != nil {
		return nil, 0, err
	}
	return encodeBatch(nh, int32(len(kept)), payload), removed, nil
}

// segWriter appends batches to a new segment, indexing like Append.
type segWriter struct {
	s   *segment
	cfg Config
	buf []byte
	at  int64 // file position of buf[0]
}

func (w *segWriter) add(b []byte) error {
	h, err := ParseBatchHeader(b)
	if err != nil {
		return err
	}
	s := w.s
	if h.MaxTimestamp > s.maxTs {
		s.maxTs, s.maxTsOff = h.MaxTimestamp, h.BaseOffset
	}
	if s.bytesSinceIdx > int64(w.cfg.IndexIntervalBytes) && !s.indexFull(w.cfg.SegmentIndexBytes) {
		if err := s.appendOffsetEntry(h.LastOffset(), s.wsize); err != nil {
			return err
		}
		if err := s.maybeAppendTimeEntry(s.maxTs, s.maxTsOff); err != nil {
			return err
		}
		s.bytesSinceIdx = 0
	}
	s.bytesSinceIdx += h.Size()
	s.wsize += h.Size()
	w.buf = append(w.buf, b...)
	if len(w.buf) >= 1<<20 {
		return w.flush()
	}
	return nil
}

func (w *segWriter) flush() error {
	if _, err := w.s.log.WriteAt(w.buf, w.at); err != nil {
		return ioErr(err)
	}
	w.at += int64(len(w.buf))
	w.buf = w.buf[:0]
	return nil
}

// finish writes the rest, the final time index entry, and fsyncs.
func (w *segWriter) finish() error {
	if err := w.flush(); err != nil {
		return err
	}
	if err := w.s.maybeAppendTimeEntry(w.s.maxTs, w.s.maxTsOff); err != nil {
		return err
	}
	w.s.publish()
	if err := w.s.trimIndexes(); err != nil {
		return err
	}
	return w.s.sync()
}

// swapLocked replaces the group olds by ns (written to .cleaned files),
// unless the log changed meanwhile. Lock should be held.
func (l *Log) swapLocked(p *cleanPlan, olds []*segment, ns *segment, end int64) (bool, error) {
	base := ns.base
	abort := func(err error) (bool, error) {
		ns.closeFiles()
		removeCleaned(l.fs, l.dir, base)
		return false, err
	}
	if l.closed.Load() || l.frozen || l.truncations != p.truncations {
		return abort(ErrCompactionAborted)
	}
	cur := l.segments()
	i := slices.Index(cur, olds[0])
	if i < 0 || i+len(olds) >= len(cur) || !slices.Equal(cur[i:i+len(olds)], olds) {
		return abort(nil) // retention deleted some of them meanwhile
	}
	// The group's aborted-transaction index, written at its base before the
	// commit point: until then Open ignores the entries whose marker lies
	// past that (old) segment's end.
	if err := l.writeTxnIndex(ns); err != nil {
		return abort(err)
	}
	hook := func(step int) bool { return l.testHookSwap != nil && l.testHookSwap(step) }
	if hook(1) {
		return false, errTestCrash
	}
	manifest := segmentName(l.dir, base, manifestSuffix)
	if err := writeFileAtomic(l.fs, manifest, fmt.Appendf(nil, "0\n%d\n", end), durable); err != nil {
		return abort(err)
	}
	if hook(2) {
		return false, errTestCrash
	}
	for _, suf := range []string{indexSuffix, timeIndexSuffix, logSuffix} { // .log last: the commit point
		if err := l.fs.Rename(segmentName(l.dir, base, suf+cleanedSuffix), segmentName(l.dir, base, suf+swapSuffix)); err != nil {
			return false, ioErr(err)
		}
		if hook(3) {
			return false, errTestCrash
		}
	}
	if err := syncDir(l.fs, l.dir); err != nil {
		return false, err
	}
	if hook(4) {
		return false, errTestCrash
	}
	for _, s := range olds {
		for _, suf := range []string{logSuffix, indexSuffix, timeIndexSuffix, txnIndexSuffix} {
			if s.base != base || suf != txnIndexSuffix {
				l.fs.Remove(segmentName(l.dir, s.base, suf))
			}
		}
	}
	if hook(5) {
		return false, errTestCrash
	}
	for _, suf := range []string{indexSuffix, timeIndexSuffix, logSuffix} {
		if err := l.fs.Rename(segmentName(l.dir, base, suf+swapSuffix), segmentName(l.dir, base, suf)); err != nil {
			return false, ioErr(err)
		}
	}
	if err := syncDir(l.fs, l.dir); err != nil {
		return false, err
	}
	if hook(6) {
		return false, errTestCrash
	}
	l.fs.Remove(manifest)
	segs := slices.Concat(cur[:i], []*segment{ns}, cur[i+len(olds):])
	l.segs.Store(&segs)
	for _, s := range olds {
		s.retire(&l.retained) // readers' references keep the unlinked files
	}
	return true, nil
}

// recoverSwaps finishes or discards compaction swaps interrupted by a
// crash (see the package comment above). Called by Open before segments
// are listed.
func recoverSwaps(fsys vfs.FS, dir string) error {
	ents, err := fsys.ReadDir(dir)
	if err != nil {
		return ioErr(err)
	}
	logSwaps := map[int64]bool{}
	for _, e := range ents {
		name := e.Name()
		if strings.HasSuffix(name, cleanedSuffix) {
			fsys.Remove(filepath.Join(dir, name))
		} else if b, ok := parseSegmentName(strings.TrimSuffix(name, swapSuffix), logSuffix); ok && strings.HasSuffix(name, swapSuffix) {
			logSwaps[b] = true
		}
	}
	for _, e := range ents {
		name := e.Name()
		for _, suf := range []string{indexSuffix + swapSuffix, timeIndexSuffix + swapSuffix, manifestSuffix} {
			if b, ok := parseSegmentName(name, suf); ok && !logSwaps[b] {
				fsys.Remove(filepath.Join(dir, name))
			}
		}
	}
	if len(logSwaps) == 0 {
		return nil
	}
	for _, b := range slices.Sorted(func(yield func(int64) bool) {
		for b := range logSwaps {
			if !yield(b) {
				return
			}
		}
	}) {
		manifest := filepath.Base(segmentName(dir, b, manifestSuffix))
		end, ok := readOffsetCheckpoint(fsys, dir, manifest)
		if !ok {
			end = b + 1
		}
		for _, e := range ents {
			for _, suf := range []string{logSuffix, indexSuffix, timeIndexSuffix} {
				if o, ok := parseSegmentName(e.Name(), suf); ok && o >= b && o < end {
					fsys.Remove(filepath.Join(dir, e.Name()))
				}
			}
		}
		for _, suf := range []string{indexSuffix, timeIndexSuffix, logSuffix} {
			err := fsys.Rename(segmentName(dir, b, suf+swapSuffix), segmentName(dir, b, suf))
			if err != nil && !errors.Is(err, os.ErrNotExist) {
				return ioErr(err)
			}
		}
		if err := syncDir(fsys, dir); err != nil {
			return err
		}
		fsys.Remove(filepath.Join(dir, manifest))
	}
	return syncDir(fsys, dir)
}
