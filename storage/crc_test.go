package storage

import (
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"testing"
)

func TestCRC32CMatchesStdlib(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 1, 7, 503, 504, crcPiece - 1, crcPiece, crcPiece + 1, 2 * crcPiece, 3*crcPiece + 17, 1 << 20} {
		p := make([]byte, n)
		for i := range p {
			p[i] = byte(r.Uint32())
		}
		if got, want := crc32c(p), crc32.Checksum(p, castagnoli); got != want {
			t.Errorf("len %d: crc32c %08x, hash/crc32 %08x", n, got, want)
		}
	}
}

// BenchmarkCRC32C compares crc32c with one hash/crc32 call over 64 KiB
// batches, in cache (1 MiB, one request) and out of it (64 MiB).
func BenchmarkCRC32C(b *testing.B) {
	for _, total := range []int{1 << 20, 64 << 20} {
		buf := make([]byte, total)
		for i := range buf {
			buf[i] = byte(i * 7)
		}
		for _, impl := range []struct {
			name string
			fn   func([]byte) uint32
		}{
			{"pieces", crc32c},
			{"stdlib", func(p []byte) uint32 { return crc32.Checksum(p, castagnoli) }},
		} {
			b.Run(fmt.Sprintf("%s/%dMiB", impl.name, total>>20), func(b *testing.B) {
				b.SetBytes(int64(total))
				for b.Loop() {
					for off := 0; off < total; off += 64 << 10 {
						impl.fn(buf[off:min(off+64<<10, total)])
					}
				}
			})
		}
	}
}
