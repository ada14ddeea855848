package wire

import (
	"encoding/binary"
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Header is a decoded request header (v1, or v2 for flexible requests; v0
// only for ControlledShutdown v0, which kmsg does not decode either).
type Header struct {
	Key           int16
	Version       int16
	CorrelationID int32
	ClientID      *string
}

// Request is a decoded request: its header and its kmsg body.
type Request struct {
	Header
	Body kmsg.Request
}

// ParseHeader decodes a request header from the start of frame and returns
// the remaining body bytes. It does not look at the API key's schema beyond
// deciding whether the header carries tagged fields, so callers that only
// need the correlation id (to answer an error) can use it on its own.
func ParseHeader(frame []byte) (Header, []byte, error) {
	var h Header
	if len(frame) < 10 {
		return h, nil, ErrShortHeader
	}
	h.Key = int16(binary.BigEndian.Uint16(frame[0:]))
	h.Version = int16(binary.BigEndian.Uint16(frame[2:]))
	h.CorrelationID = int32(binary.BigEndian.Uint32(frame[4:]))
	idLen := int16(binary.BigEndian.Uint16(frame[8:]))
	rest := frame[10:]
	switch {
	case idLen == -1:
	case idLen < -1:
		return h, nil, fmt.Errorf("%w: client id length %d", ErrShortHeader, idLen)
	default:
		if len(rest) < int(idLen) {
			return h, nil, ErrShortHeader
		}
		id := string(rest[:idLen])
		h.ClientID = &id
		rest = rest[idLen:]
	}
	return h, rest, nil
}

// ParseRequest decodes a whole request frame (without its size prefix).
//
// Unknown keys return ErrUnknownKey and versions kmsg cannot decode return
// ErrUnsupportedVersion; both come with the decoded header. serves, when
// not nil, narrows what is decoded: a key and version it refuses returns
// ErrUnsupportedVersion before the body is looked at, so a server only
// runs decoders for the requests it serves. A body kmsg rejects returns
// ErrMalformed. It never panics, whatever the input.
//
// Flexible bodies are walked by checkTags before kmsg decodes them: kmsg
// v1.15.0 loops over a tagged field count even after its input has run
// out, so an unchecked count near 2^32 would cost up to a minute of CPU.
func ParseRequest(frame []byte, serves func(key, version int16) bool) (req Request, err error) {
	h, rest, err := ParseHeader(frame)
	if err != nil {
		return Request{Header: h}, err
	}
	req.Header = h
	body := kmsg.RequestForKey(h.Key)
	if body == nil {
		return req, fmt.Errorf("%w: %d", ErrUnknownKey, h.Key)
	}
	if h.Version < 0 || h.Version > body.MaxVersion() || (serves != nil && !serves(h.Key, h.Version)) {
		return req, fmt.Errorf("%w: %s v%d", ErrUnsupportedVersion, kmsg.NameForKey(h.Key), h.Version)
	}
	body.SetVersion(h.Version)
	if body.IsFlexible() {
		if rest, err = skipTags(rest); err != nil {
			return req, err
		}
		if err := checkTags(h.Key, h.Version, rest); err != nil {
			return req, err
		}
	}
	defer func() {
		// kmsg's readers are bounds-checked; this is a last line of defence
		// so that no byte sequence a client sends can crash the broker.
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %s v%d: decoder panic: %v", ErrMalformed, kmsg.NameForKey(h.Key), h.Version, r)
		}
	}()
	if err := body.ReadFrom(rest); err != nil {
		return req, fmt.Errorf("%w: %s v%d: %v", ErrMalformed, kmsg.NameForKey(h.Key), h.Version, err)
	}
	req.Body = body
	return req, nil
}

// skipTags skips a tagged-field section: a uvarint count of fields, each a
// uvarint tag, a uvarint size and that many bytes.
func skipTags(b []byte) ([]byte, error) {
	n, b, err := uvarint(b)
	if err != nil {
		return nil, err
	}
	for i := uint64(0); i < n; i++ {
		if _, b, err = uvarint(b); err != nil {
			return nil, err
		}
		var size uint64
		if size, b, err = uvarint(b); err != nil {
			return nil, err
		}
		if size > uint64(len(b)) {
			return nil, fmt.Errorf("%w: tagged field overruns header", ErrShortHeader)
		}
		b = b[size:]
	}
	return b, nil
}

func uvarint(b []byte) (uint64, []byte, error) {
	v, n := binary.Uvarint(b)
	if n <= 0 {
		return 0, nil, fmt.Errorf("%w: bad uvarint in header", ErrShortHeader)
	}
	return v, b[n:], nil
}
