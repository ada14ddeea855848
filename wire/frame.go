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
	var sz [4]byte
	if _, err := io.ReadFull(r, sz[:]); err != nil {
		return nil, err
	}
	n := int32(binary.BigEndian.Uint32(sz[:]))
	if n <= 0 || n > max {
		return nil, fmt.Errorf("%w: %d (max %d)", ErrFrameSize, n, max)
	}
	if cap(buf) >= int(n) {
		buf = buf[:n]
	} else {
		buf = make([]byte, n)
	}
	if _, err := io.ReadFull(r, buf); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return buf, nil
}

// AppendSize writes the big-endian int32 size of b[start+4:] into b[start:].
// Use it after appending a frame behind a four-byte placeholder.
func AppendSize(b []byte, start int) {
	binary.BigEndian.PutUint32(b[start:], uint32(len(b)-start-4))
}
