package coordinator

import (
	"bytes"
	"encoding/hex"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// unhex decodes hex with spaces and newlines between the fields.
func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The byte vectors below are written out field by field from
// TransactionLogKey.json and TransactionLogValue.json.
const (
	txnKeyHex = `0000 0002 7478` // version 0, "tx"

	// Version 0: Ongoing, producer 7 epoch 3, timeout 60000, t: [0 2].
	txnValueV0Hex = `
		0000               version 0
		0000000000000007   producer id
		0003               producer epoch
		0000ea60           timeout ms
		01                 state Ongoing
		00000001           partitions: 1 topic
		  0001 74          topic "t"
		  00000002 00000000 00000002
		00000000000003e8   last update ms 1000
		00000000000001f4   start ms 500`

	// Version 1, the same with previous producer id 5 (tag 0).
	txnValueV1Hex = `
		0001               version 1
		0000000000000007   producer id
		0003               producer epoch
		0000ea60           timeout ms
		01                 state Ongoing
		02                 compact array: 1 topic
		  02 74            compact string "t"
		  03 00000000 00000002
		  00               topic tag buffer
		00000000000003e8   last update ms
		00000000000001f4   start ms
		01                 1 tagged field
		  00 08 0000000000000005   tag 0 PreviousProducerId`

	// Version 1, Empty: null partitions and no tagged fields.
	txnValueV1EmptyHex = `
		0001 0000000000000009 0000 00002710 00
		00                 null compact array
		0000000000000064 ffffffffffffffff
		00`
)

// hexFields drops the comments of the vectors above.
func hexFields(s string) string {
	var out []string
	for _, line := range strings.Split(s, "\n") {
		for _, f := range strings.Fields(line) {
			if _, err := hex.DecodeString(f); err != nil || len(f)%2 != 0 {
				break
			}
			out = append(out, f)
		}
	}
	return strings.Join(out, "")
}

func TestTxnLogCodecVectors(t *testing.T) {
	t.Parallel()
	key := unhex(t, txnKeyHex)
	if got := encodeTxnKey("tx"); !bytes.Equal(got, key) {
		t.Fatalf("key: %x, want %x", got, key)
	}
	ongoing := txnRecord{
		producerID: 7, prevProducerID: 5, epoch: 3, timeoutMs: 60000, state: TxnOngoing,
		partitions: []TxnPartition{{"t", 0}, {"t", 2}}, updateMs: 1000, startMs: 500,
	}
	v1 := unhex(t, hexFields(txnValueV1Hex))
	if got := encodeTxnValue(ongoing); !bytes.Equal(got, v1) {
		t.Fatalf("value v1:\n got %x\nwant %x", got, v1)
	}
	empty := txnRecord{producerID: 9, prevProducerID: -1, timeoutMs: 10000, state: TxnEmpty, updateMs: 100, startMs: -1}
	v1e := unhex(t, hexFields(txnValueV1EmptyHex))
	if got := encodeTxnValue(empty); !bytes.Equal(got, v1e) {
		t.Fatalf("empty value v1:\n got %x\nwant %x", got, v1e)
	}

	for _, tc := range []struct {
		name  string
		value []byte
		want  txnRecord
	}{
		{"v0", unhex(t, hexFields(txnValueV0Hex)), func() txnRecord { r := ongoing; r.prevProducerID = -1; return r }()},
		{"v1", v1, ongoing},
		{"v1 empty", v1e, empty},
	} {
		id, rec, skip, err := decodeTxnRecord(key, tc.value)
		if err != nil || skip || id != "tx" || rec == nil {
			t.Fatalf("%s: %q %v %v %v", tc.name, id, rec, skip, err)
		}
		if !txnRecordsEqual(*rec, tc.want) {
			t.Fatalf("%s: %+v, want %+v", tc.name, *rec, tc.want)
		}
	}

	// Tombstone, unknown key version, and malformed input.
	if id, rec, skip, err := decodeTxnRecord(key, nil); err != nil || skip || id != "tx" || rec != nil {
		t.Fatalf("tombstone: %q %v %v %v", id, rec, skip, err)
	}
	if _, _, skip, err := decodeTxnRecord([]byte{0, 1, 0, 0}, v1); err != nil || !skip {
		t.Fatalf("key version 1: skip %v err %v", skip, err)
	}
	for _, bad := range [][]byte{{0}, v1[:len(v1)-3], {0, 2, 0}, append(slices.Clone(v1[:22]), 9)} {
		if _, _, _, err := decodeTxnRecord(key, bad); err == nil {
			t.Errorf("value %x decoded", bad)
		}
	}
}

func txnRecordsEqual(a, b txnRecord) bool {
	if !slices.Equal(a.partitions, b.partitions) {
		return false
	}
	a.partitions, b.partitions = nil, nil
	return reflect.DeepEqual(a, b)
}

func TestTxnLogRoundTrip(t *testing.T) {
	t.Parallel()
	for s := TxnEmpty; s <= TxnPrepareEpochFence; s++ {
		r := txnRecord{producerID: 1 << 40, prevProducerID: 3, epoch: 32767, timeoutMs: 1, state: s, updateMs: 2, startMs: 1, clientVersion: 2}
		if s != TxnEmpty {
			r.partitions = []TxnPartition{{"a", 1}, {"b", 0}, {"b", 7}}
		}
		_, got, _, err := decodeTxnRecord(encodeTxnKey("id"), encodeTxnValue(r))
		if err != nil || !txnRecordsEqual(*got, r) {
			t.Fatalf("state %v: %+v %v", s, got, err)
		}
		if name := s.String(); name == "" || name[0] == 'T' {
			t.Fatalf("state %d name %q", s, name)
		}
		if back, ok := parseTxnState(s.String()); !ok || back != s {
			t.Fatalf("parse %q: %v", s, back)
		}
	}
}

// FuzzTxnRecords: arbitrary __transaction_state bytes never panic the
// decoders, and what decodes re-encodes to a value that decodes the same.
func FuzzTxnRecords(f *testing.F) {
	f.Add(unhex(f, txnKeyHex), unhex(f, hexFields(txnValueV0Hex)))
	f.Add(unhex(f, txnKeyHex), unhex(f, hexFields(txnValueV1Hex)))
	f.Add(unhex(f, txnKeyHex), unhex(f, hexFields(txnValueV1EmptyHex)))
	f.Add([]byte{0, 0, 0xff, 0xff}, []byte{0, 1, 0xff})
	f.Add(buildBatch(1, []kv{{encodeTxnKey("x"), encodeTxnValue(txnRecord{state: TxnPrepareCommit, partitions: []TxnPartition{{"t", 1}}})}}), []byte(nil))
	f.Fuzz(func(t *testing.T, key, value []byte) {
		if _, rec, _, err := decodeTxnRecord(key, value); err == nil && rec != nil {
			if rec.state == TxnEmpty {
				rec.partitions = nil // written as null
			}
			_, again, _, err := decodeTxnRecord(key, encodeTxnValue(*rec))
			if err != nil || !txnRecordsEqual(*rec, *again) {
				t.Fatalf("re-encode: %+v -> %+v %v", *rec, again, err)
			}
		}
		// Both halves also as a log of batches, as the loader reads them.
		forEachRecord(key, func(_ int64, k, v []byte) error {
			_, _, _, err := decodeTxnRecord(k, v)
			return err
		})
	})
}
