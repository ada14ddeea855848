package storage

import (
	"context"
	"strconv"
	"testing"
	"time"
)

// 16 KiB batches of 1 KiB records.
func benchBatch() []byte {
	o := noPID()
	o.n, o.valueSize = 16, 1000
	return buildBatch(o)
}

func BenchmarkAppend(b *testing.B) {
	l, err := Open(b.TempDir(), DefaultConfig(), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	batch := benchBatch()
	buf := make([]byte, len(batch))
	b.SetBytes(int64(len(batch)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		copy(buf, batch)
		if _, err := l.Append(buf, 0); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRead(b *testing.B) {
	l, err := Open(b.TempDir(), DefaultConfig(), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	batch := benchBatch()
	const n = 4096 // 64 MiB
	for i := 0; i < n; i++ {
		if _, err := l.Append(append([]byte(nil), batch...), 0); err != nil {
			b.Fatal(err)
		}
	}
	leo := l.LogEndOffset()
	buf := make([]byte, 1<<20)
	b.SetBytes(1 << 20)
	b.ResetTimer()
	off := int64(0)
	for i := 0; i < b.N; i++ {
		reg, err := l.Read(off, leo, 1<<20, true)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := reg.File.ReadAt(buf[:reg.Len], reg.Pos); err != nil {
			b.Fatal(err)
		}
		reg.Release()
		off = (off + 16*61 + 7) % leo
	}
}

// BenchmarkCompact measures a compaction pass over 32 MiB of 1 KiB records
// (16 per batch, uncompressed) with 1000 distinct keys: the whole prefix is
// dirty and shrinks ~30x. Throughput is input bytes per second.
func BenchmarkCompact(b *testing.B) {
	const batches = 2048
	var input int64
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		cfg := compactConfig()
		cfg.SegmentBytes = 8 << 20
		cfg.IndexIntervalBytes = 4096
		l, err := Open(b.TempDir(), cfg, nil)
		if err != nil {
			b.Fatal(err)
		}
		recs := make([]kv, 16)
		val := make([]byte, 1000)
		for j := 0; j < batches; j++ {
			for k := range recs {
				recs[k] = kv{key: []byte(strconv.Itoa((j*16 + k) % 1000)), value: val}
			}
			if _, err := l.Append(buildKeyed(b, recs, 0, 1000, -1, -1), 0); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		st, err := l.Compact(context.Background(), time.UnixMilli(2000))
		if err != nil || st.Segments == 0 {
			b.Fatal(st, err)
		}
		input = st.BytesRead
		b.StopTimer()
		l.Close()
		b.StartTimer()
	}
	b.SetBytes(input)
}
