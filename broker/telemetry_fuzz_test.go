package broker

import "testing"

// FuzzDecodeTelemetry: a PushTelemetry payload in any codec decodes or
// fails with an error, within its limit, never panics.
func FuzzDecodeTelemetry(f *testing.F) {
	f.Add(int8(4), otlpPayload(f, 1, 2))
	f.Add(int8(0), []byte{0x0a, 0x02, 0x12, 0x00})
	f.Add(int8(1), []byte{0x1f, 0x8b, 0x08})
	f.Add(int8(2), []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0})
	f.Add(int8(3), []byte{0x04, 0x22, 0x4d, 0x18})
	f.Fuzz(func(t *testing.T, codec int8, payload []byte) {
		points, err := decodeTelemetry(codec, payload, 1<<16)
		if err != nil && len(points) > 0 {
			t.Fatalf("points with error %v", err)
		}
	})
}
