package storage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestBuildBatchDecodes: a built batch passes the broker's own validation
// (length, CRC, count) and decodes with kmsg record for record.
func TestBuildBatchDecodes(t *testing.T) {
	t.Parallel()
	recs := []Record{
		{Key: []byte("k0"), Value: []byte("v0")},
		{TimestampDelta: 5, Value: nil, Headers: []RecordHeader{{Key: "h", Value: []byte("x")}, {Key: "n"}}},
		{Key: nil, Value: bytes.Repeat([]byte{7}, 300)},
	}
	b := BuildBatch(BatchHeader{BaseOffset: 9, PartitionLeaderEpoch: -1, BaseTimestamp: 1000, MaxTimestamp: 1005,
		ProducerID: 42, ProducerEpoch: 1, BaseSequence: 3}, recs)
	h, err := validateBatch(b)
	if err != nil {
		t.Fatal(err)
	}
	if h.NumRecords != 3 || h.LastOffsetDelta != 2 || h.ProducerID != 42 || h.BaseSequence != 3 || h.Size() != int64(len(b)) {
		t.Fatalf("header %+v", h)
	}
	var kb kmsg.RecordBatch
	if err := kb.ReadFrom(b); err != nil {
		t.Fatal(err)
	}
	p := kb.Records
	for i, want := range recs {
		var r kmsg.Record
		if err := r.ReadFrom(p); err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		p = p[int(r.Length)+varintLen(int64(r.Length)):]
		if r.OffsetDelta != int32(i) || r.TimestampDelta64 != want.TimestampDelta ||
			!bytes.Equal(r.Key, want.Key) || (r.Key == nil) != (want.Key == nil) ||
			!bytes.Equal(r.Value, want.Value) || (r.Value == nil) != (want.Value == nil) || len(r.Headers) != len(want.Headers) {
			t.Fatalf("record %d: %+v, want %+v", i, r, want)
		}
		for j, wh := range want.Headers {
			if r.Headers[j].Key != wh.Key || !bytes.Equal(r.Headers[j].Value, wh.Value) || (r.Headers[j].Value == nil) != (wh.Value == nil) {
				t.Fatalf("record %d header %d: %+v", i, j, r.Headers[j])
			}
		}
	}
	if len(p) != 0 {
		t.Fatalf("%d bytes after the records", len(p))
	}
}

func varintLen(v int64) int { return len(binary.AppendVarint(nil, v)) }

func TestStampCRC(t *testing.T) {
	t.Parallel()
	b := BuildBatch(BatchHeader{ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}, []Record{{Value: []byte("v")}})
	b[offAttributes+1] |= attrTransactional
	if _, err := validateBatch(b); !errors.Is(err, ErrCorruptMessage) {
		t.Fatalf("edited batch validated: %v", err)
	}
	StampCRC(b)
	if _, err := validateBatch(b); err != nil {
		t.Fatal(err)
	}
}

func TestWalkBatches(t *testing.T) {
	t.Parallel()
	one := BuildBatch(BatchHeader{BaseOffset: 0}, []Record{{Value: []byte("a")}})
	two := BuildBatch(BatchHeader{BaseOffset: 1}, []Record{{Value: []byte("b")}, {Value: []byte("c")}})
	var all []byte
	all = append(append(append(all, one...), two...), one[:len(one)-1]...) // a truncated third
	var got []int64
	err := WalkBatches(all, func(h BatchHeader, b []byte) error {
		if int64(len(b)) != h.Size() {
			t.Fatalf("batch of %d bytes, header says %d", len(b), h.Size())
		}
		got = append(got, h.BaseOffset)
		return nil
	})
	if err != nil || len(got) != 2 || got[0] != 0 || got[1] != 1 {
		t.Fatalf("walked %v, %v", got, err)
	}
	stop := errors.New("stop")
	if err := WalkBatches(all, func(BatchHeader, []byte) error { return stop }); err != stop {
		t.Fatalf("fn error %v not returned", err)
	}
	bad := append([]byte(nil), one...)
	bad[offLength+3] = 10 // length below a header's
	if err := WalkBatches(bad, func(BatchHeader, []byte) error { return nil }); !errors.Is(err, ErrCorruptMessage) {
		t.Fatalf("short length: %v", err)
	}
	bad = append([]byte(nil), one...)
	bad[offMagic] = 1
	if err := WalkBatches(bad, func(BatchHeader, []byte) error { return nil }); !errors.Is(err, ErrUnsupportedMagic) {
		t.Fatalf("magic 1: %v", err)
	}
}
