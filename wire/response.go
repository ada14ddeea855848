package wire

import "github.com/twmb/franz-go/pkg/kmsg"

// ResponseHeaderFlexible reports whether a response to key at version uses
// response header v1 (with tagged fields). ApiVersions always uses v0 so
// that a client that does not know the broker's versions can read it.
func ResponseHeaderFlexible(resp kmsg.Response) bool {
	return resp.IsFlexible() && resp.Key() != int16(kmsg.ApiVersions)
}

// AppendResponse appends a whole response frame (size, header, body) to dst.
// The response's version must already be set (req.ResponseKind() does).
func AppendResponse(dst []byte, corr int32, resp kmsg.Response) []byte {
	start := len(dst)
	dst = AppendResponseHeader(dst, corr, resp)
	dst = resp.AppendTo(dst)
	AppendSize(dst, start)
	return dst
}

// AppendResponseHeader appends a four-byte size placeholder and the response
// header. The caller appends the body and then calls AppendSize(dst, start)
// (or writes the size itself when the body is not contiguous).
func AppendResponseHeader(dst []byte, corr int32, resp kmsg.Response) []byte {
	dst = append(dst, 0, 0, 0, 0, byte(corr>>24), byte(corr>>16), byte(corr>>8), byte(corr))
	if ResponseHeaderFlexible(resp) {
		dst = append(dst, 0) // no tagged fields
	}
	return dst
}
