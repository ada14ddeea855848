package wire

import "errors"

// Sentinel errors returned by the decoders. Callers test them with errors.Is.
var (
	// ErrFrameSize means a frame's size prefix is negative, zero, or larger
	// than the configured maximum. The connection must be closed.
	ErrFrameSize = errors.New("wire: invalid frame size")
	// ErrShortHeader means the frame ended inside the request header.
	ErrShortHeader = errors.New("wire: truncated request header")
	// ErrUnknownKey means the API key is not one kmsg knows.
	ErrUnknownKey = errors.New("wire: unknown api key")
	// ErrUnsupportedVersion means the API version is outside what kmsg can
	// decode. The header is still returned so an ApiVersions request can be
	// answered with UNSUPPORTED_VERSION.
	ErrUnsupportedVersion = errors.New("wire: unsupported api version")
	// ErrMalformed means the request body could not be decoded.
	ErrMalformed = errors.New("wire: malformed request body")
)
