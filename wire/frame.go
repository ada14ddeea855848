// Package wire implements Kafka's framing and request/response headers on top
// of kmsg. It is pure: no logging, no goroutines, nothing of ours imported.
package wire

import (
	"encoding/binary"
	"fmt"
	"io"
)

// DefaultMaxFrameSize is Kafka's socket.request.max.bytes default (100 MiB).
const DefaultMaxFrameSize = 100 << 20

// ReadFrame reads one size-prefixed frame from r. The returned slice reuses
// buf when it is large enough. A size that is not in (0, max] returns
// ErrFrameSize before any body byte is read, so a hostile size prefix never
// makes us allocate.
func ReadFrame(r io.Reader, buf []byte, max int32) ([]byte, error) {
	n, err := ReadSize(r, max)
	if err != nil {
		return nil, err
	}
	return ReadBody(r, buf, n)
}

// ReadSize reads a frame's size prefix and checks it is in (0, max].
func ReadSize(r io.Reader, max int32) (int32, error) {
	var sz [4]byte
	if _, err := io.ReadFull(r, sz[:]); err != nil {
		return 0, err
	}
	n := int32(binary.BigEndian.Uint32(sz[:]))
	if n <= 0 || n > max {
		return 0, fmt.Errorf("%w: %d (max %d)", ErrFrameSize, n, max)
	}
	return n, nil
}

// ReadBody reads a frame body of n bytes (from ReadSize), reusing buf when
// it is large enough.
func ReadBody(r io.Reader, buf []byte, n int32) ([]byte, error) {
	if cap(buf) >= int(n) {
		buf = buf[:n]
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, unexpected(err)
		}
		return buf, nil
	}
	// Grow the buffer as the body arrives, doubling, so that a size prefix
	// alone (a slow or lying sender) cannot make us allocate up to max.
	size := int(n)
	buf = make([]byte, 0, min(size, growStart))
	for len(buf) < size {
		if len(buf) == cap(buf) {
			buf = append(buf, make([]byte, min(size-len(buf), len(buf)))...)[:len(buf)]
		}
		m, err := io.ReadFull(r, buf[len(buf):min(size, cap(buf))])
		buf = buf[:len(buf)+m]
		if err != nil {
			return nil, unexpected(err)
		}
	}
	return buf, nil
}

// growStart is the first allocation for a body larger than buf.
const growStart = 64 << 10

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// AppendSize writes the big-endian int32 size of b[start+4:] into b[start:].
// Use it after appending a frame behind a four-byte placeholder.
func AppendSize(b []byte, start int) {
	binary.BigEndian.PutUint32(b[start:], uint32(len(b)-start-4))
}
