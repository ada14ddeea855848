package coordinator

import (
	"math"
	"unicode/utf16"
)

// JavaStringHash is Java's String.hashCode: s[0]*31^(n-1) + ... + s[n-1]
// over UTF-16 code units with int32 wraparound.
func JavaStringHash(s string) int32 {
	var h int32
	for _, u := range utf16.Encode([]rune(s)) {
		h = 31*h + int32(u)
	}
	return h
}

// PartitionFor returns the __consumer_offsets partition of a group id (or
// the __transaction_state partition of a transactional id): Kafka's
// Utils.abs(hashCode) % n, where abs(MinInt32) is 0.
func PartitionFor(id string, n int32) int32 {
	h := JavaStringHash(id)
	if h == math.MinInt32 {
		h = 0
	} else if h < 0 {
		h = -h
	}
	return h % n
}
