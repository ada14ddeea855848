package broker

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"fmt"

	"gregor/storage"
)

// Fetch responses are encoded by kmsg like every other response, with a
// 16-byte marker standing in for each partition's records. spliceRegions
// then cuts the encoded response at each marker and puts the segment file
// region there, fixing the length prefix in front of it and the frame size,
// so record bytes go from the page cache to the socket with sendfile and
// never through our buffers.

const markerLen = 16

// markerPrefix is random per process, so a client cannot forge a marker
// (say, in a topic name) to confuse the splice.
var markerPrefix = func() (p [12]byte) {
	rand.Read(p[:])
	return p
}()

func recordsMarker(i int) []byte {
	m := make([]byte, markerLen)
	copy(m, markerPrefix[:])
	binary.BigEndian.PutUint32(m[12:], uint32(i))
	return m
}

// spliceRegions splits an encoded response frame b (size prefix included)
// at the markers of regions, in order. flexible says whether the records
// field is a compact (uvarint length + 1) or classic (int32 length) bytes.
func spliceRegions(b []byte, regions []storage.Region, flexible bool) ([]outPart, error) {
	parts := make([]outPart, 0, 3*len(regions)+1)
	start := 0
	size := int64(len(b) - 4)
	for i, r := range regions {
		j := bytes.Index(b[start:], recordsMarker(i))
		if j < 0 {
			return nil, fmt.Errorf("fetch: records marker %d not found", i)
		}
		j += start
		var prefix []byte
		var plen int
		if flexible {
			plen = 1
			if j < plen || b[j-1] != markerLen+1 {
				return nil, fmt.Errorf("fetch: unexpected compact length before marker %d", i)
			}
			prefix = binary.AppendUvarint(nil, uint64(r.Len)+1)
		} else {
			plen = 4
			if j < plen || binary.BigEndian.Uint32(b[j-4:]) != markerLen {
				return nil, fmt.Errorf("fetch: unexpected length before marker %d", i)
			}
			prefix = binary.BigEndian.AppendUint32(nil, uint32(r.Len))
		}
		parts = append(parts, outPart{b: b[start : j-plen]}, outPart{b: prefix}, outPart{region: r})
		size += int64(len(prefix)-plen) + r.Len - markerLen
		start = j + markerLen
	}
	parts = append(parts, outPart{b: b[start:]})
	if size > 1<<31-1 {
		return nil, fmt.Errorf("fetch: response of %d bytes", size)
	}
	binary.BigEndian.PutUint32(b, uint32(size))
	return parts, nil
}
