package storage

import (
	"encoding/binary"
	"testing"
)

// TestOffsetForTimestampCompressed: Kafka answers ListOffsets by timestamp
// with the exact record, also inside compressed batches.
func TestOffsetForTimestampCompressed(t *testing.T) {
	t.Parallel()
	for codec := int8(1); codec <= 4; codec++ {
		l := openLog(t, t.TempDir(), DefaultConfig())
		const base = 1_000_000
		var raw []byte
		for i := 0; i < 10; i++ {
			body := []byte{0}
			body = binary.AppendVarint(body, int64(i*1000)) // timestamp delta
			body = binary.AppendVarint(body, int64(i))      // offset delta
			body = binary.AppendVarint(body, -1)
			body = binary.AppendVarint(body, 1)
			body = append(body, byte(i))
			body = binary.AppendVarint(body, 0)
			raw = binary.AppendVarint(raw, int64(len(body)))
			raw = append(raw, body...)
		}
		payload, err := compress(codec, raw)
		if err != nil {
			t.Fatal(err)
		}
		h := BatchHeader{PartitionLeaderEpoch: -1, Attributes: int16(codec), LastOffsetDelta: 9,
			BaseTimestamp: base, MaxTimestamp: base + 9000, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}
		mustAppend(t, l, encodeBatch(h, 10, payload))
		for _, tc := range []struct{ ts, off, got int64 }{
			{base, 0, base},
			{base + 4500, 5, base + 5000},
			{base + 9000, 9, base + 9000},
			{base + 9001, -1, -1},
		} {
			off, got, err := l.OffsetForTimestamp(tc.ts)
			if err != nil || off != tc.off || got != tc.got {
				t.Fatalf("codec %d: OffsetForTimestamp(+%d) = %d, %d, %v; want %d, %d", codec, tc.ts-base, off, got, err, tc.off, tc.got)
			}
		}
		if off, ts := l.MaxTimestamp(); off != 9 || ts != base+9000 {
			t.Fatalf("codec %d: MaxTimestamp = %d, %d", codec, off, ts)
		}
	}
}
