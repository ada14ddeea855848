package storage

import (
	"testing"
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
		off = (off + 16*61 + 7) % leo
	}
}
