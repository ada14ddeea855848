package storage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// Record-batch codecs, used only where records must be looked at: the
// compactor (decompress, filter, recompress with the batch's own codec) and
// the null-key check of compacted topics. Ordinary appends and reads keep
// batches as the producer compressed them. The codec libraries are the ones
// franz-go already brings into the module graph; writing our own would add
// risk and nothing else.
//
// Snappy is written with the xerial framing the Java producer uses (Java
// consumers require it; franz-go, librdkafka and sarama read both framings)
// and read in either form. LZ4 is the LZ4 frame format Kafka uses.

// maxDecompressed bounds a batch's decompressed records: the compactor and
// the key check never inflate more (a compression bomb is ErrCorruptMessage).
const maxDecompressed = 256 << 20

var xerialMagic = []byte{130, 'S', 'N', 'A', 'P', 'P', 'Y', 0}

const xerialBlock = 32 << 10

var (
	zstdDec, _ = zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(maxDecompressed))
	zstdEnc, _ = zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
	gzipPool   sync.Pool
)

// decompress returns the decompressed records section of a batch.
func decompress(codec int8, src []byte) ([]byte, error) {
	var out []byte
	var err error
	switch codec {
	case 0:
		return src, nil
	case 1:
		var zr *gzip.Reader
		if zr, err = gzip.NewReader(bytes.NewReader(src)); err == nil {
			out, err = readBounded(zr)
		}
	case 2:
		out, err = snappyDecode(src)
	case 3:
		out, err = readBounded(lz4.NewReader(bytes.NewReader(src)))
	case 4:
		out, err = zstdDec.DecodeAll(src, nil)
	default:
		err = fmt.Errorf("unknown codec %d", codec)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: decompress (codec %d): %v", ErrCorruptMessage, codec, err)
	}
	return out, nil
}

func readBounded(r io.Reader) ([]byte, error) { return readLimit(r, maxDecompressed) }

func readLimit(r io.Reader, limit int) ([]byte, error) {
	out, err := io.ReadAll(io.LimitReader(r, int64(limit)+1))
	if err == nil && len(out) > limit {
		err = fmt.Errorf("%w: more than %d bytes", ErrTooLarge, limit)
	}
	return out, err
}

// ErrTooLarge is Decompress's error for output past its limit.
var ErrTooLarge = errors.New("decompressed data too large")

// Decompress decompresses src, compressed with one of Kafka's codecs (0
// none, 1 gzip, 2 snappy raw or xerial-framed, 3 LZ4 frame, 4 zstd) but
// outside a record batch (KIP-714 telemetry payloads), into at most limit
// bytes: longer output is an error wrapping ErrTooLarge, found without
// inflating more than limit+1 bytes.
func Decompress(codec int8, src []byte, limit int) ([]byte, error) {
	var out []byte
	var err error
	switch codec {
	case 0:
		out = src
	case 1:
		var zr *gzip.Reader
		if zr, err = gzip.NewReader(bytes.NewReader(src)); err == nil {
			out, err = readLimit(zr, limit)
		}
	case 2:
		out, err = snappyDecode(src)
	case 3:
		out, err = readLimit(lz4.NewReader(bytes.NewReader(src)), limit)
	case 4:
		var zr *zstd.Decoder
		if zr, err = zstd.NewReader(bytes.NewReader(src), zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true)); err == nil {
			out, err = readLimit(zr, limit)
			zr.Close()
		}
	default:
		err = fmt.Errorf("unknown codec %d", codec)
	}
	if err == nil && len(out) > limit {
		err = fmt.Errorf("%w: more than %d bytes", ErrTooLarge, limit)
	}
	return out, err
}

func snappyDecode(src []byte) ([]byte, error) {
	if !bytes.HasPrefix(src, xerialMagic) {
		if n, err := s2.DecodedLen(src); err != nil || n > maxDecompressed {
			return nil, fmt.Errorf("bad snappy length")
		}
		return s2.Decode(nil, src)
	}
	if len(src) < 16 {
		return nil, fmt.Errorf("short xerial header")
	}
	var out []byte
	for p := src[16:]; len(p) > 0; {
		if len(p) < 4 {
			return nil, fmt.Errorf("truncated xerial block")
		}
		n := int(binary.BigEndian.Uint32(p))
		p = p[4:]
		if n < 0 || n > len(p) {
			return nil, fmt.Errorf("truncated xerial block")
		}
		dl, err := s2.DecodedLen(p[:n])
		if err != nil || len(out)+dl > maxDecompressed {
			return nil, fmt.Errorf("bad snappy block")
		}
		if out, err = appendSnappy(out, p[:n], dl); err != nil {
			return nil, err
		}
		p = p[n:]
	}
	return out, nil
}

func appendSnappy(dst, block []byte, n int) ([]byte, error) {
	at := len(dst)
	dst = append(dst, make([]byte, n)...)
	d, err := s2.Decode(dst[at:], block)
	if err != nil {
		return nil, err
	}
	return dst[:at+len(d)], nil
}

// compress compresses a records section with codec.
func compress(codec int8, src []byte) ([]byte, error) {
	var buf bytes.Buffer
	switch codec {
	case 0:
		return src, nil
	case 1:
		zw, _ := gzipPool.Get().(*gzip.Writer)
		if zw == nil {
			zw = gzip.NewWriter(&buf)
		} else {
			zw.Reset(&buf)
		}
		defer gzipPool.Put(zw)
		if _, err := zw.Write(src); err != nil {
			return nil, err
		}
		if err := zw.Close(); err != nil {
			return nil, err
		}
	case 2:
		out := append([]byte(nil), xerialMagic...)
		out = append(out, 0, 0, 0, 1, 0, 0, 0, 1) // version 1, min compatible 1
		for p := src; len(p) > 0; {
			n := min(len(p), xerialBlock)
			block := s2.EncodeSnappy(nil, p[:n])
			out = binary.BigEndian.AppendUint32(out, uint32(len(block)))
			out = append(out, block...)
			p = p[n:]
		}
		return out, nil
	case 3:
		zw := lz4.NewWriter(&buf)
		if _, err := zw.Write(src); err != nil {
			return nil, err
		}
		if err := zw.Close(); err != nil {
			return nil, err
		}
	case 4:
		return zstdEnc.EncodeAll(src, nil), nil
	default:
		return nil, fmt.Errorf("%w: unknown codec %d", ErrCorruptMessage, codec)
	}
	return buf.Bytes(), nil
}
