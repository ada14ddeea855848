package storage

import (
	"encoding/binary"
	"fmt"
	"os"
)

// Transactions on the partition side (Kafka: ProducerStateManager's
// ongoing transactions, TransactionIndex, UnifiedLog.lastStableOffset).
//
// A batch with the transactional attribute opens, for its producer, an
// ongoing transaction whose first offset is the batch's base offset (if
// none is open). A control batch (transactional + control, one record whose
// key is version int16 0 + type int16 0 ABORT / 1 COMMIT and whose value is
// version int16 0 + coordinator epoch int32) ends it. An ended transaction
// stays unstable until the high watermark passes its marker. An ABORT
// marker adds an AbortedTxn entry to the <base>.txnindex of the segment the
// marker is in.

// Control record types (the key's type field).
const (
	ControlAbort  int16 = 0
	ControlCommit int16 = 1
)

const (
	txnIndexSuffix    = ".txnindex"
	txnIndexEntrySize = 34
)

// AbortedTxn is one .txnindex entry: an aborted transaction of ProducerID
// spanning [FirstOffset, LastOffset] (LastOffset is its ABORT marker), and
// the last stable offset when the marker was written (the first offset of
// the earliest other ongoing transaction, else LastOffset+1).
type AbortedTxn struct {
	ProducerID       int64
	FirstOffset      int64
	LastOffset       int64
	LastStableOffset int64
}

// appendTxnIndexEntry encodes a as a 34-byte entry: version int16 0,
// producer id, first offset, last offset, last stable offset, big endian.
func appendTxnIndexEntry(b []byte, a AbortedTxn) []byte {
	b = binary.BigEndian.AppendUint16(b, 0)
	b = binary.BigEndian.AppendUint64(b, uint64(a.ProducerID))
	b = binary.BigEndian.AppendUint64(b, uint64(a.FirstOffset))
	b = binary.BigEndian.AppendUint64(b, uint64(a.LastOffset))
	return binary.BigEndian.AppendUint64(b, uint64(a.LastStableOffset))
}

// DecodeTxnIndex parses the bytes of a .txnindex file. A length that is not
// a multiple of 34, or an entry whose version is not 0, is
// ErrCorruptMessage. It never panics.
func DecodeTxnIndex(b []byte) ([]AbortedTxn, error) {
	if len(b)%txnIndexEntrySize != 0 {
		return nil, fmt.Errorf("%w: txnindex of %d bytes is not a multiple of %d", ErrCorruptMessage, len(b), txnIndexEntrySize)
	}
	out := make([]AbortedTxn, 0, len(b)/txnIndexEntrySize)
	for ; len(b) > 0; b = b[txnIndexEntrySize:] {
		if v := int16(binary.BigEndian.Uint16(b)); v != 0 {
			return nil, fmt.Errorf("%w: txnindex entry version %d", ErrCorruptMessage, v)
		}
		out = append(out, AbortedTxn{
			ProducerID:       int64(binary.BigEndian.Uint64(b[2:])),
			FirstOffset:      int64(binary.BigEndian.Uint64(b[10:])),
			LastOffset:       int64(binary.BigEndian.Uint64(b[18:])),
			LastStableOffset: int64(binary.BigEndian.Uint64(b[26:])),
		})
	}
	return out, nil
}

func encodeTxnIndex(txns []AbortedTxn) []byte {
	b := make([]byte, 0, len(txns)*txnIndexEntrySize)
	for _, a := range txns {
		b = appendTxnIndexEntry(b, a)
	}
	return b
}

// ControlRecord is the content of a control batch's record.
type ControlRecord struct {
	Type             int16 // ControlAbort or ControlCommit
	CoordinatorEpoch int32
}

// ParseControlBatch parses the control record of the whole control batch b
// (uncompressed, as Kafka writes them): the first record's key (version
// int16, type int16) and value (version int16, coordinator epoch int32).
// Anything malformed is ErrCorruptMessage; it never panics.
func ParseControlBatch(b []byte) (ControlRecord, error) {
	bad := func(what string) (ControlRecord, error) {
		return ControlRecord{}, fmt.Errorf("%w: control record: %s", ErrCorruptMessage, what)
	}
	h, err := ParseBatchHeader(b)
	if err != nil {
		return ControlRecord{}, err
	}
	if !h.IsControl() || h.Codec() != 0 || h.NumRecords < 1 {
		return bad("not an uncompressed control batch with records")
	}
	recs, err := BatchRecords(b, h)
	if err != nil {
		return ControlRecord{}, err
	}
	l, n := binary.Varint(recs)
	if n <= 0 || l < 0 || int64(len(recs)-n) < l {
		return bad("record length")
	}
	p := recs[n : n+int(l)]
	if len(p) < 1 {
		return bad("short record")
	}
	p = p[1:]     // attributes
	for range 2 { // timestamp delta, offset delta
		if _, n := binary.Varint(p); n <= 0 {
			return bad("record header")
		} else {
			p = p[n:]
		}
	}
	field := func() ([]byte, bool) {
		l, n := binary.Varint(p)
		if n <= 0 || l < 0 || int64(len(p)-n) < l {
			return nil, false
		}
		f := p[n : n+int(l)]
		p = p[n+int(l):]
		return f, true
	}
	key, ok := field()
	if !ok || len(key) < 4 {
		return bad("key")
	}
	if v := int16(binary.BigEndian.Uint16(key)); v != 0 {
		return bad(fmt.Sprintf("key version %d", v))
	}
	var cr ControlRecord
	cr.Type = int16(binary.BigEndian.Uint16(key[2:]))
	if cr.Type != ControlAbort && cr.Type != ControlCommit {
		return bad(fmt.Sprintf("type %d", cr.Type))
	}
	val, ok := field()
	if !ok || len(val) < 6 {
		return bad("value")
	}
	cr.CoordinatorEpoch = int32(binary.BigEndian.Uint32(val[2:]))
	return cr, nil
}

// BuildControlBatch encodes a transaction marker batch as Kafka does
// (MemoryRecords.withEndTransactionMarker): attributes transactional +
// control, base sequence -1, one record with key (version 0, type) and
// value (version 0, coordinator epoch), timestamps ts.
func BuildControlBatch(producerID int64, producerEpoch int16, commit bool, coordinatorEpoch int32, ts int64) []byte {
	typ := ControlAbort
	if commit {
		typ = ControlCommit
	}
	key := binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint16(nil, 0), uint16(typ))
	val := binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint16(nil, 0), uint32(coordinatorEpoch))
	return BuildBatch(BatchHeader{
		PartitionLeaderEpoch: -1,
		Attributes:           attrTransactional | attrControl,
		BaseTimestamp:        ts,
		MaxTimestamp:         ts,
		ProducerID:           producerID,
		ProducerEpoch:        producerEpoch,
		BaseSequence:         -1,
	}, []Record{{Key: key, Value: val}})
}

// AppendControl appends a COMMIT (commit true) or ABORT marker for the
// producer's transaction (Kafka: WriteTxnMarkers on the partition leader)
// and returns its offset. A marker with a coordinator epoch below the last
// one seen for the producer is ErrTransactionCoordinatorFenced; one with a
// producer epoch below the producer's is ErrInvalidProducerEpoch. A marker
// for a producer with no ongoing transaction is appended as Kafka does
// (it ends nothing).
func (l *Log) AppendControl(producerID int64, producerEpoch int16, commit bool, coordinatorEpoch, leaderEpoch int32) (int64, error) {
	b := BuildControlBatch(producerID, producerEpoch, commit, coordinatorEpoch, l.now().UnixMilli())
	res, err := l.Append(b, leaderEpoch)
	if err != nil {
		return -1, err
	}
	return res.BaseOffset, nil
}

// checkControlLocked validates a control batch against the producer state.
// Lock should be held.
func (l *Log) checkControlLocked(h BatchHeader, cr ControlRecord) error {
	e := l.ps.producers[h.ProducerID]
	if e == nil {
		return nil
	}
	if h.ProducerEpoch < e.epoch {
		return fmt.Errorf("%w: marker for producer %d epoch %d is older than %d", ErrInvalidProducerEpoch, h.ProducerID, h.ProducerEpoch, e.epoch)
	}
	if e.coordEpoch > cr.CoordinatorEpoch {
		return fmt.Errorf("%w: marker for producer %d with coordinator epoch %d, last seen %d", ErrTransactionCoordinatorFenced, h.ProducerID, cr.CoordinatorEpoch, e.coordEpoch)
	}
	return nil
}

// completedTxn is a transaction whose marker is written but may not yet be
// below the high watermark.
type completedTxn struct {
	producerID, firstOffset, lastOffset int64
}

// LastStableOffset is Kafka's last stable offset: min(first unstable
// offset, high watermark), where the first unstable offset is the lowest
// first offset of a transaction that is ongoing or whose marker is not yet
// below the high watermark, and the result is never below the log start
// offset. read_committed fetches stop before it.
func (l *Log) LastStableOffset() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lastStableLocked()
}

// lastStableLocked computes LastStableOffset. Lock should be held.
func (l *Log) lastStableLocked() int64 {
	hw := l.hw.Load()
	lso := hw
	if l.ps != nil {
		for _, e := range l.ps.producers {
			if e.txnFirst >= 0 && e.txnFirst < lso {
				lso = e.txnFirst
			}
		}
	}
	// Completed transactions whose marker the high watermark passed are stable.
	keep := l.unreplicated[:0]
	for _, c := range l.unreplicated {
		if c.lastOffset >= hw {
			keep = append(keep, c)
			lso = min(lso, c.firstOffset)
		}
	}
	clear(l.unreplicated[len(keep):])
	l.unreplicated = keep
	return max(lso, l.logStart.Load())
}

// abortedStableOffset is Kafka's ProducerStateManager.lastStableOffset of
// a completed transaction: the first offset of the earliest ongoing
// transaction of another producer, else the marker's offset + 1.
func (ps *producerState) abortedStableOffset(pid, markerOffset int64) int64 {
	lso := markerOffset + 1
	for p, e := range ps.producers {
		if p != pid && e.txnFirst >= 0 && e.txnFirst < lso {
			lso = e.txnFirst
		}
	}
	return lso
}

// applyTxn updates the transaction state for one appended or replayed
// batch h (ctl is its control record when h is a control batch). It returns
// the completed transaction and, for an ABORT, its index entry.
func (ps *producerState) applyTxn(h BatchHeader, ctl ControlRecord) (done completedTxn, aborted *AbortedTxn, ended bool) {
	if h.ProducerID < 0 || !h.IsTransactional() {
		return completedTxn{}, nil, false
	}
	e := ps.producers[h.ProducerID]
	if e == nil {
		return completedTxn{}, nil, false
	}
	if !h.IsControl() {
		if e.txnFirst < 0 {
			e.txnFirst = h.BaseOffset
		}
		return completedTxn{}, nil, false
	}
	e.coordEpoch = max(e.coordEpoch, ctl.CoordinatorEpoch)
	if e.txnFirst < 0 {
		return completedTxn{}, nil, false
	}
	done = completedTxn{producerID: h.ProducerID, firstOffset: e.txnFirst, lastOffset: h.BaseOffset}
	if ctl.Type == ControlAbort {
		aborted = &AbortedTxn{ProducerID: h.ProducerID, FirstOffset: e.txnFirst, LastOffset: h.BaseOffset,
			LastStableOffset: ps.abortedStableOffset(h.ProducerID, h.BaseOffset)}
	}
	e.txnFirst = -1
	return done, aborted, true
}

// AbortedTransactions returns the aborted transactions a read_committed
// fetch of [fetchOffset, upperBoundOffset) must be told about, as Kafka's
// UnifiedLog.collectAbortedTransactions: walking the .txnindex entries of
// the segment holding fetchOffset and the later ones, it keeps each entry
// with LastOffset >= fetchOffset and FirstOffset < upperBoundOffset, and
// stops after the first entry whose LastStableOffset >= upperBoundOffset
// (no transaction begun below the bound can be aborted later).
func (l *Log) AbortedTransactions(fetchOffset, upperBoundOffset int64) []AbortedTxn {
	l.mu.Lock()
	defer l.mu.Unlock()
	segs := l.segments()
	var out []AbortedTxn
	for i := findSegment(segs, fetchOffset); i < len(segs); i++ {
		for _, a := range segs[i].txns {
			if a.LastOffset >= fetchOffset && a.FirstOffset < upperBoundOffset {
				out = append(out, a)
			}
			if a.LastStableOffset >= upperBoundOffset {
				return out
			}
		}
	}
	return out
}

// appendTxnIndexLocked adds a to segment s's .txnindex, in memory and on
// disk. Lock should be held.
func (l *Log) appendTxnIndexLocked(s *segment, a AbortedTxn) error {
	f, err := l.fs.OpenFile(segmentName(l.dir, s.base, txnIndexSuffix), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return ioErr(err)
	}
	_, err = f.WriteAt(appendTxnIndexEntry(nil, a), int64(len(s.txns))*txnIndexEntrySize)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return ioErr(err)
	}
	s.txns = append(s.txns, a)
	return nil
}

// writeTxnIndex replaces segment s's .txnindex with s.txns.
func (l *Log) writeTxnIndex(s *segment) error {
	return writeFileAtomic(l.fs, segmentName(l.dir, s.base, txnIndexSuffix), encodeTxnIndex(s.txns), durable)
}

// newSegment creates a new empty segment at base with an empty .txnindex
// (so that a missing .txnindex means one to rebuild).
func (l *Log) newSegment(base int64) (*segment, error) {
	s, err := openSegment(l.fs, l.dir, base)
	if err != nil {
		return nil, err
	}
	f, err := l.fs.OpenFile(segmentName(l.dir, base, txnIndexSuffix), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		s.closeFiles()
		return nil, ioErr(err)
	}
	if err := f.Close(); err != nil {
		s.closeFiles()
		return nil, ioErr(err)
	}
	return s, nil
}
