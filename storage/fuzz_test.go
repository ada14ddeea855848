package storage

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func FuzzParseBatchHeader(f *testing.F) {
	f.Add(buildBatch(noPID()))
	f.Add(buildBatch(batchOpts{pid: 3, n: 4, codec: 4})[:BatchHeaderSize])
	f.Add([]byte{})
	f.Add(make([]byte, 17))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseBatchHeader(b)
		if err == nil {
			_ = h.Codec()
			_ = h.LastSequence()
			_, _ = validateBatch(b)
		}
	})
}

var knownErrs = []error{ErrCorruptMessage, ErrUnsupportedMagic, ErrMessageTooLarge, ErrInvalidRecord,
	ErrOutOfOrderSequence, ErrInvalidProducerEpoch, ErrTransactionCoordinatorFenced}

func FuzzAppend(f *testing.F) {
	f.Add(buildBatch(noPID()))
	f.Add(append(buildBatch(noPID()), buildBatch(noPID())...))
	f.Add(buildBatch(batchOpts{pid: 1, n: 3}))
	f.Add(buildBatch(noPID())[:70])
	f.Add([]byte{})
	l, err := Open(f.TempDir(), DefaultConfig(), nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { l.Close() })
	f.Fuzz(func(t *testing.T, b []byte) {
		leo := l.LogEndOffset()
		res, err := l.Append(b, 0)
		if err != nil {
			for _, k := range knownErrs {
				if errors.Is(err, k) {
					return
				}
			}
			t.Fatalf("unexpected error %v", err)
		}
		if !res.Duplicate && res.BaseOffset != leo {
			t.Fatalf("bad offsets %+v", res)
		}
		if _, err := l.Read(res.BaseOffset, l.HighWatermark(), 1<<20, true); err != nil {
			t.Fatal(err)
		}
	})
}

func FuzzRecovery(f *testing.F) {
	f.Add([]byte{}, false)
	f.Add(buildBatch(noPID()), true)
	f.Add(buildBatch(noPID())[:40], false)
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 3, 0xff, 0xff, 0xff, 0xff}, true)
	f.Fuzz(func(t *testing.T, junk []byte, clean bool) {
		dir := t.TempDir()
		cfg := DefaultConfig()
		cfg.IndexIntervalBytes = 50
		l, err := Open(dir, cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 5; i++ {
			if _, err := l.Append(buildBatch(batchOpts{pid: 1, seq: int32(i), n: 1}), 0); err != nil {
				t.Fatal(err)
			}
		}
		if clean {
			l.Close()
		} else {
			crash(l)
		}
		seg := filepath.Join(dir, "00000000000000000000.log")
		fh, err := os.OpenFile(seg, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		fh.Write(junk)
		fh.Close()
		l, err = Open(dir, cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		if l.LogEndOffset() < 5 {
			t.Fatalf("lost valid data: LEO %d", l.LogEndOffset())
		}
		readAll(t, l, 0, 100)
		if _, err := l.Append(buildBatch(noPID()), 0); err != nil {
			t.Fatal(err)
		}
		l.OffsetForTimestamp(1000)
		l.MaxTimestamp()
	})
}

// FuzzDecodeTxnIndex: DecodeTxnIndex never panics, and what it accepts
// re-encodes to the same bytes.
func FuzzDecodeTxnIndex(f *testing.F) {
	f.Add(encodeTxnIndex([]AbortedTxn{{1, 2, 3, 4}, {5, 6, 7, 8}}))
	f.Add([]byte{})
	f.Add(make([]byte, 33))
	f.Fuzz(func(t *testing.T, b []byte) {
		txns, err := DecodeTxnIndex(b)
		if err != nil {
			return
		}
		if got := encodeTxnIndex(txns); !bytes.Equal(got, b) {
			t.Fatalf("re-encoded % x, input % x", got, b)
		}
	})
}

// FuzzParseControlBatch: ParseControlBatch never panics, and a parsed
// record rebuilds to a batch that parses the same.
func FuzzParseControlBatch(f *testing.F) {
	f.Add(BuildControlBatch(1, 2, true, 3, 4))
	f.Add(BuildControlBatch(-1, -1, false, -1, 0))
	f.Add(buildBatch(batchOpts{pid: 1, seq: 0}))
	f.Fuzz(func(t *testing.T, b []byte) {
		cr, err := ParseControlBatch(b)
		if err != nil {
			return
		}
		again, err := ParseControlBatch(BuildControlBatch(1, 0, cr.Type == ControlCommit, cr.CoordinatorEpoch, 0))
		if err != nil || again != cr {
			t.Fatalf("rebuilt %+v %v, parsed %+v", again, err, cr)
		}
	})
}
