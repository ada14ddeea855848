package storage

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
	"path/filepath"
	"slices"
	"sort"

	"gregor/storage/vfs"
)

// maxProducerBatches is how many recent batches are remembered per producer
// for duplicate detection (Kafka: ProducerStateEntry.NUM_BATCHES_TO_RETAIN).
const maxProducerBatches = 5

const noProducerEpoch = -1

type batchMeta struct {
	firstSeq, lastSeq int32
	firstOff, lastOff int64
}

type producerEntry struct {
	epoch   int16
	batches []batchMeta // oldest first, at most maxProducerBatches
	lastTs  int64
	// txnFirst is the first offset of the producer's ongoing transaction,
	// -1 if none; coordEpoch the highest coordinator epoch of its markers,
	// -1 if none.
	txnFirst   int64
	coordEpoch int32
}

func newProducerEntry(epoch int16) *producerEntry {
	return &producerEntry{epoch: epoch, txnFirst: -1, coordEpoch: -1}
}

func (e *producerEntry) lastSeq() int32 {
	if len(e.batches) == 0 {
		return -1
	}
	return e.batches[len(e.batches)-1].lastSeq
}

func (e *producerEntry) findDuplicate(h BatchHeader) (batchMeta, bool) {
	if h.ProducerEpoch != e.epoch {
		return batchMeta{}, false
	}
	first, last := h.BaseSequence, h.LastSequence()
	for _, b := range e.batches {
		if b.firstSeq == first && b.lastSeq == last {
			return b, true
		}
	}
	return batchMeta{}, false
}

// producerState is the per-log idempotence state (Kafka: ProducerStateManager).
// Guarded by Log.mu.
type producerState struct {
	producers map[int64]*producerEntry
}

func newProducerState() *producerState {
	return &producerState{producers: make(map[int64]*producerEntry)}
}

func inSequence(last, next int32) bool {
	return next == last+1 || (next == 0 && last == math.MaxInt32)
}

// check validates an idempotent batch (producerId >= 0, baseSequence >= 0)
// against the recorded state. It returns the original batch for a duplicate.
// It follows Kafka's order: duplicate check, epoch check, sequence check.
func (ps *producerState) check(h BatchHeader) (dup batchMeta, isDup bool, err error) {
	e := ps.producers[h.ProducerID]
	if e == nil {
		// Unknown producer (new, or its state was lost): any sequence accepted.
		return batchMeta{}, false, nil
	}
	if d, ok := e.findDuplicate(h); ok {
		return d, true, nil
	}
	if h.ProducerEpoch < e.epoch {
		return batchMeta{}, false, fmt.Errorf("%w: producer %d epoch %d is older than %d", ErrInvalidProducerEpoch, h.ProducerID, h.ProducerEpoch, e.epoch)
	}
	if h.BaseSequence < 0 {
		return batchMeta{}, false, nil
	}
	if h.ProducerEpoch != e.epoch {
		if h.BaseSequence != 0 && e.epoch != noProducerEpoch {
			return batchMeta{}, false, fmt.Errorf("%w: producer %d new epoch %d must start at sequence 0, got %d", ErrOutOfOrderSequence, h.ProducerID, h.ProducerEpoch, h.BaseSequence)
		}
		return batchMeta{}, false, nil
	}
	last := e.lastSeq()
	if e.epoch != noProducerEpoch && !inSequence(last, h.BaseSequence) {
		return batchMeta{}, false, fmt.Errorf("%w: producer %d epoch %d expected sequence %d, got %d", ErrOutOfOrderSequence, h.ProducerID, h.ProducerEpoch, last+1, h.BaseSequence)
	}
	return batchMeta{}, false, nil
}

// update records an appended (or replayed) batch with a producer id. h must
// carry the assigned offsets.
func (ps *producerState) update(h BatchHeader) {
	if h.ProducerID < 0 {
		return
	}
	e := ps.producers[h.ProducerID]
	if e == nil {
		e = newProducerEntry(h.ProducerEpoch)
		ps.producers[h.ProducerID] = e
	}
	if h.ProducerEpoch != e.epoch {
		if h.ProducerEpoch < e.epoch {
			return // stale epoch in the log (replay only); keep the newer state
		}
		e.epoch = h.ProducerEpoch
		e.batches = e.batches[:0]
	}
	if h.MaxTimestamp > e.lastTs {
		e.lastTs = h.MaxTimestamp
	}
	if h.BaseSequence < 0 || h.IsControl() {
		return
	}
	if len(e.batches) == maxProducerBatches {
		copy(e.batches, e.batches[1:])
		e.batches = e.batches[:maxProducerBatches-1]
	}
	e.batches = append(e.batches, batchMeta{
		firstSeq: h.BaseSequence, lastSeq: h.LastSequence(),
		firstOff: h.BaseOffset, lastOff: h.LastOffset(),
	})
}

// evictBefore forgets producers whose last batch ends below off (the log
// start offset moved past everything they wrote), as Kafka does.
func (ps *producerState) evictBefore(off int64) {
	for pid, e := range ps.producers {
		if len(e.batches) > 0 && e.batches[len(e.batches)-1].lastOff < off && e.txnFirst < 0 {
			delete(ps.producers, pid)
		}
	}
}

// Snapshot file: "<20-digit offset>.snapshot" holding the state after every
// batch below offset. Layout (big endian):
//
//	magic "GPS2", count uint32,
//	count × (pid int64, epoch int16, lastTs int64, txnFirst int64, coordEpoch int32,
//	         n uint8, n × (firstSeq int32, lastSeq int32, firstOff int64, lastOff int64)),
//	crc32c uint32 of everything before it.
//
// A "GPS1" snapshot (without txnFirst and coordEpoch) is still read.
const (
	snapshotSuffix  = ".snapshot"
	snapshotMagic   = "GPS2"
	snapshotMagicV1 = "GPS1"
)

func (ps *producerState) encode() []byte {
	pids := make([]int64, 0, len(ps.producers))
	for pid := range ps.producers {
		pids = append(pids, pid)
	}
	slices.Sort(pids)
	b := append([]byte(snapshotMagic), 0, 0, 0, 0)
	binary.BigEndian.PutUint32(b[4:], uint32(len(pids)))
	for _, pid := range pids {
		e := ps.producers[pid]
		b = binary.BigEndian.AppendUint64(b, uint64(pid))
		b = binary.BigEndian.AppendUint16(b, uint16(e.epoch))
		b = binary.BigEndian.AppendUint64(b, uint64(e.lastTs))
		b = binary.BigEndian.AppendUint64(b, uint64(e.txnFirst))
		b = binary.BigEndian.AppendUint32(b, uint32(e.coordEpoch))
		b = append(b, byte(len(e.batches)))
		for _, m := range e.batches {
			b = binary.BigEndian.AppendUint32(b, uint32(m.firstSeq))
			b = binary.BigEndian.AppendUint32(b, uint32(m.lastSeq))
			b = binary.BigEndian.AppendUint64(b, uint64(m.firstOff))
			b = binary.BigEndian.AppendUint64(b, uint64(m.lastOff))
		}
	}
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

func decodeProducerState(b []byte) (*producerState, bool) {
	if len(b) < 12 || (string(b[:4]) != snapshotMagic && string(b[:4]) != snapshotMagicV1) {
		return nil, false
	}
	v2 := string(b[:4]) == snapshotMagic
	body, sum := b[:len(b)-4], binary.BigEndian.Uint32(b[len(b)-4:])
	if crc32.Checksum(body, castagnoli) != sum {
		return nil, false
	}
	n := binary.BigEndian.Uint32(body[4:])
	p := body[8:]
	ps := newProducerState()
	for range n {
		if len(p) < 19 {
			return nil, false
		}
		pid := int64(binary.BigEndian.Uint64(p))
		e := newProducerEntry(int16(binary.BigEndian.Uint16(p[8:])))
		e.lastTs = int64(binary.BigEndian.Uint64(p[10:]))
		p = p[18:]
		if v2 {
			if len(p) < 13 {
				return nil, false
			}
			e.txnFirst = int64(binary.BigEndian.Uint64(p))
			e.coordEpoch = int32(binary.BigEndian.Uint32(p[8:]))
			p = p[12:]
			if e.txnFirst < -1 {
				return nil, false
			}
		}
		nb := int(p[0])
		p = p[1:]
		if nb > maxProducerBatches || len(p) < nb*24 {
			return nil, false
		}
		for range nb {
			e.batches = append(e.batches, batchMeta{
				firstSeq: int32(binary.BigEndian.Uint32(p)),
				lastSeq:  int32(binary.BigEndian.Uint32(p[4:])),
				firstOff: int64(binary.BigEndian.Uint64(p[8:])),
				lastOff:  int64(binary.BigEndian.Uint64(p[16:])),
			})
			p = p[24:]
		}
		ps.producers[pid] = e
	}
	if len(p) != 0 {
		return nil, false
	}
	return ps, true
}

// snapshotOffsets lists the offsets of snapshot files in dir, ascending.
func snapshotOffsets(fsys vfs.FS, dir string) []int64 {
	ents, _ := fsys.ReadDir(dir)
	var offs []int64
	for _, e := range ents {
		if off, ok := parseSegmentName(e.Name(), snapshotSuffix); ok {
			offs = append(offs, off)
		}
	}
	sort.Slice(offs, func(i, j int) bool { return offs[i] < offs[j] })
	return offs
}

func writeSnapshot(fsys vfs.FS, dir string, offset int64, ps *producerState, mode syncMode) error {
	return writeFileAtomic(fsys, filepath.Join(dir, fmt.Sprintf("%020d%s", offset, snapshotSuffix)), ps.encode(), mode)
}
