package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"runtime"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// frame returns a request frame (without size prefix) as a real client sends it.
func frame(t testing.TB, r kmsg.Request, corr int32) []byte {
	t.Helper()
	f := kmsg.NewRequestFormatter(kmsg.FormatterClientID("wire-test"))
	return f.AppendRequest(nil, r, corr)[4:]
}

func TestParseRequestRoundTrip(t *testing.T) {
	t.Parallel()
	for _, key := range []int16{0, 1, 3, 18, 19, 22, 60} {
		proto := kmsg.RequestForKey(key)
		for v := int16(0); v <= proto.MaxVersion(); v++ {
			r := kmsg.RequestForKey(key)
			r.SetVersion(v)
			if md, ok := r.(*kmsg.MetadataRequest); ok {
				md.Topics = append(md.Topics, kmsg.MetadataRequestTopic{Topic: kmsg.StringPtr("t")})
			}
			got, err := ParseRequest(frame(t, r, 7), nil)
			if err != nil {
				t.Fatalf("%s v%d: %v", kmsg.NameForKey(key), v, err)
			}
			if got.Key != key || got.Version != v || got.CorrelationID != 7 || got.ClientID == nil || *got.ClientID != "wire-test" {
				t.Fatalf("%s v%d: bad header %+v", kmsg.NameForKey(key), v, got.Header)
			}
			if !bytes.Equal(got.Body.AppendTo(nil), r.AppendTo(nil)) {
				t.Fatalf("%s v%d: body does not round-trip", kmsg.NameForKey(key), v)
			}
		}
	}
}

func TestParseRequestErrors(t *testing.T) {
	t.Parallel()
	good := frame(t, &kmsg.MetadataRequest{Version: 12}, 1)
	unknown := append([]byte(nil), good...)
	binary.BigEndian.PutUint16(unknown, 999)
	badVersion := append([]byte(nil), good...)
	binary.BigEndian.PutUint16(badVersion[2:], 999)
	negVersion := append([]byte(nil), good...)
	binary.BigEndian.PutUint16(negVersion[2:], 0xffff)
	for _, tc := range []struct {
		name  string
		frame []byte
		want  error
	}{
		{"empty", nil, ErrShortHeader},
		{"short header", good[:9], ErrShortHeader},
		{"client id overruns", good[:12], ErrShortHeader},
		{"unknown key", unknown, ErrUnknownKey},
		{"version too high", badVersion, ErrUnsupportedVersion},
		{"negative version", negVersion, ErrUnsupportedVersion},
		{"truncated body", good[:len(good)-3], ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := ParseRequest(tc.frame, nil)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

func TestReadFrame(t *testing.T) {
	t.Parallel()
	size := func(n int32) []byte { return binary.BigEndian.AppendUint32(nil, uint32(n)) }
	for _, tc := range []struct {
		name string
		in   []byte
		want error
	}{
		{"ok", append(size(3), 1, 2, 3), nil},
		{"zero", size(0), ErrFrameSize},
		{"negative", size(-5), ErrFrameSize},
		{"too large", size(1<<31 - 1), ErrFrameSize},
		{"over max", size(1025), ErrFrameSize},
		{"truncated", append(size(10), 1, 2), io.ErrUnexpectedEOF},
		{"eof", nil, io.EOF},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b, err := ReadFrame(bytes.NewReader(tc.in), nil, 1024)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if err == nil && !bytes.Equal(b, tc.in[4:]) {
				t.Fatalf("got %x", b)
			}
		})
	}
}

func TestAppendResponseHeaders(t *testing.T) {
	t.Parallel()
	av := &kmsg.ApiVersionsResponse{Version: 4}
	b := AppendResponse(nil, 9, av)
	// ApiVersions is flexible at v4 but keeps header v0: body starts at 8.
	if got := int32(binary.BigEndian.Uint32(b)); int(got) != len(b)-4 {
		t.Fatalf("size %d, frame %d", got, len(b)-4)
	}
	if !bytes.Equal(b[8:], av.AppendTo(nil)) {
		t.Fatal("ApiVersions response must use header v0")
	}
	md := &kmsg.MetadataResponse{Version: 12}
	b = AppendResponse(nil, 9, md)
	if b[8] != 0 || !bytes.Equal(b[9:], md.AppendTo(nil)) {
		t.Fatal("flexible Metadata response must use header v1")
	}
	md.Version = 8
	if b = AppendResponse(nil, 9, md); !bytes.Equal(b[8:], md.AppendTo(nil)) {
		t.Fatal("non-flexible Metadata response must use header v0")
	}
}

func FuzzParseFrame(f *testing.F) {
	for _, r := range []kmsg.Request{
		&kmsg.ApiVersionsRequest{Version: 3, ClientSoftwareName: "kgo", ClientSoftwareVersion: "1"},
		&kmsg.MetadataRequest{Version: 1},
		&kmsg.MetadataRequest{Version: 12},
		&kmsg.ProduceRequest{Version: 9, Acks: -1, TimeoutMillis: 1000, Topics: []kmsg.ProduceRequestTopic{{Topic: "t", Partitions: []kmsg.ProduceRequestTopicPartition{{Records: []byte{1, 2, 3}}}}}},
		&kmsg.FetchRequest{Version: 11, Topics: []kmsg.FetchRequestTopic{{Topic: "t", Partitions: []kmsg.FetchRequestTopicPartition{{}}}}},
		&kmsg.CreateTopicsRequest{Version: 5, Topics: []kmsg.CreateTopicsRequestTopic{{Topic: "x", NumPartitions: 3}}},
	} {
		f.Add(kmsg.NewRequestFormatter(kmsg.FormatterClientID("c")).AppendRequest(nil, r, 1))
	}
	f.Add([]byte{0x7f, 0xff, 0xff, 0xff})
	f.Add([]byte{0xff, 0xff, 0xff, 0xfe, 0, 0})
	f.Fuzz(func(t *testing.T, in []byte) {
		fr, err := ReadFrame(bytes.NewReader(in), nil, 1<<20)
		if err != nil {
			return
		}
		req, err := ParseRequest(fr, nil)
		if err != nil {
			return
		}
		// Whatever decoded must encode again, and decode to the same bytes.
		body := req.Body.AppendTo(nil)
		again := kmsg.RequestForKey(req.Key)
		again.SetVersion(req.Version)
		if err := again.ReadFrom(body); err != nil {
			t.Fatalf("re-decode of %s v%d: %v", kmsg.NameForKey(req.Key), req.Version, err)
		}
		if !bytes.Equal(again.AppendTo(nil), body) {
			t.Fatalf("%s v%d does not round-trip", kmsg.NameForKey(req.Key), req.Version)
		}
	})
}

func TestReadFrameLarge(t *testing.T) {
	// Not parallel: it measures allocated bytes.
	body := make([]byte, 3<<20+17)
	for i := range body {
		body[i] = byte(i * 7)
	}
	in := append(binary.BigEndian.AppendUint32(nil, uint32(len(body))), body...)
	got, err := ReadFrame(bytes.NewReader(in), make([]byte, 0, 100), 4<<20)
	if err != nil || !bytes.Equal(got, body) {
		t.Fatalf("large frame: %v", err)
	}
	// A size prefix alone allocates at most the first growth step.
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err = ReadFrame(bytes.NewReader(binary.BigEndian.AppendUint32(nil, 100<<20)), nil, 100<<20)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("bare size prefix: %v", err)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
		t.Fatalf("%d bytes allocated for a bare size prefix", n)
	}
}

// TestUnservedNotDecoded: a server that does not serve a key never runs
// kmsg's decoder on it; the header alone decides.
func TestUnservedNotDecoded(t *testing.T) {
	t.Parallel()
	frame := []byte("\x00^\x00\x00\x80\x00\x000\x00\x00\x00\xab\xab\xab\xab\xab\xab\xab000000000000")
	if _, err := ParseRequest(frame, func(int16, int16) bool { return false }); !errors.Is(err, ErrUnsupportedVersion) {
		t.Fatalf("unserved key: %v", err)
	}
}
