package wire

import (
	"errors"
	"math/rand"
	"reflect"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// fill sets every exported field of v (recursively) to a random value:
// numbers, strings of 0-6 bytes or null, arrays of 0-3 elements, nullable
// structs present or not. Tagged fields get non-default values often
// enough that kmsg writes them.
func fill(rng *rand.Rand, v reflect.Value, depth int) {
	switch v.Kind() {
	case reflect.Bool:
		v.SetBool(rng.Intn(2) == 0)
	case reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		switch rng.Intn(3) {
		case 0:
			v.SetInt(0)
		case 1:
			v.SetInt(-1)
		default:
			v.SetInt(rng.Int63())
		}
	case reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(rng.Uint64())
	case reflect.Float32, reflect.Float64:
		v.SetFloat(rng.Float64())
	case reflect.Array:
		for i := 0; i < v.Len(); i++ {
			fill(rng, v.Index(i), depth)
		}
	case reflect.String:
		v.SetString(strings.Repeat("s", rng.Intn(7)))
	case reflect.Pointer:
		if rng.Intn(3) == 0 {
			v.Set(reflect.Zero(v.Type()))
			return
		}
		p := reflect.New(v.Type().Elem())
		fill(rng, p.Elem(), depth)
		v.Set(p)
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			b := make([]byte, rng.Intn(200))
			rng.Read(b)
			v.SetBytes(b)
			return
		}
		n := rng.Intn(4)
		if depth > 6 {
			n = 0
		}
		s := reflect.MakeSlice(v.Type(), n, n)
		for i := 0; i < n; i++ {
			fill(rng, s.Index(i), depth+1)
		}
		v.Set(s)
	case reflect.Struct:
		if v.Type() == reflect.TypeOf(kmsg.Tags{}) {
			return
		}
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() && v.Type().Field(i).Name != "Version" {
				fill(rng, v.Field(i), depth)
			}
		}
	}
}

// TestTagCheckMatchesKmsg requires checkTags to accept, consuming exactly,
// what kmsg encodes for randomly filled requests of every key and flexible
// version kmsg knows. A stale taggedFields list or a wrong layout fails
// here: the walk would end early, run over, or see a bad count.
func TestTagCheckMatchesKmsg(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewSource(1))
	checked := 0
	for key := int16(0); key < 200; key++ {
		proto := kmsg.RequestForKey(key)
		if proto == nil {
			continue
		}
		for v := int16(0); v <= proto.MaxVersion(); v++ {
			proto.SetVersion(v)
			if !proto.IsFlexible() {
				continue
			}
			l, err := layoutFor(key, v)
			if err != nil {
				t.Fatalf("%s v%d: %v", kmsg.NameForKey(key), v, err)
			}
			for i := 0; i < 40; i++ {
				r := kmsg.RequestForKey(key)
				fill(rng, reflect.ValueOf(r).Elem(), 0)
				r.SetVersion(v)
				body := r.AppendTo(nil)
				back := kmsg.RequestForKey(key)
				back.SetVersion(v)
				if err := back.ReadFrom(body); err != nil {
					t.Fatalf("%s v%d: kmsg cannot read its own encoding: %v", kmsg.NameForKey(key), v, err)
				}
				rest, err := l.walk(body)
				if err != nil {
					t.Fatalf("%s v%d: walk of a kmsg encoding (%d bytes): %v", kmsg.NameForKey(key), v, len(body), err)
				}
				if len(rest) != 0 {
					t.Fatalf("%s v%d: walk left %d of %d bytes", kmsg.NameForKey(key), v, len(rest), len(body))
				}
				checked++
			}
		}
	}
	t.Logf("%d encodings walked", checked)
}

// TestTaggedFieldsExist keeps taggedFields honest: every entry must name a
// field of a kmsg request struct.
func TestTaggedFieldsExist(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	var visit func(reflect.Type)
	visit = func(t reflect.Type) {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || seen[t.Name()] {
			return
		}
		seen[t.Name()] = true
		for i := 0; i < t.NumField(); i++ {
			seen[t.Name()+"."+t.Field(i).Name] = true
			visit(t.Field(i).Type)
		}
	}
	for key := int16(0); key < 200; key++ {
		if r := kmsg.RequestForKey(key); r != nil {
			visit(reflect.TypeOf(r))
		}
	}
	for name := range taggedFields {
		if !seen[name] {
			t.Errorf("taggedFields lists %s, which no kmsg request has", name)
		}
	}
}

// TestTagCheckRefusesHugeCounts: bodies whose tagged field count or array
// length cannot fit are refused by the walk, before kmsg would loop.
func TestTagCheckRefusesHugeCounts(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		frame []byte
		want  string
	}{
		// A valid ApiVersions v5 whose closing tag count is replaced by
		// one near 2^31, as FuzzParseFrame found; kmsg alone spends
		// seconds on it.
		{"apiversions-v5", hugeTagCount(&kmsg.ApiVersionsRequest{Version: 5, ClientSoftwareName: "a", ClientSoftwareVersion: "1"}), "tagged field count"},
		{"fetch-v16", hugeTagCount(func() kmsg.Request {
			r := kmsg.NewPtrFetchRequest() // defaults: no ReplicaState tag written
			r.Version = 16
			r.Topics = []kmsg.FetchRequestTopic{{Partitions: []kmsg.FetchRequestTopicPartition{{}}}}
			return r
		}()), "tagged field count"},
		// UnregisterController v0 with a count of about 2^27 (kmsg: ~1 minute).
		{"unregister-controller", []byte("\x00^\x00\x00\x80\x00\x000\x00\x00\x00\xab\xab\xab\xab\xab\xab\xab000000000000"), "tagged field count"},
		// A Fetch v12 topic array claiming 2^20 elements in a few bytes.
		{"fetch-array", append([]byte("\x00\x01\x00\x0c\x00\x00\x00\x01\x00\x00\x00"), 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x80, 0x80, 0x40), "array length"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseRequest(tc.frame, nil)
			if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want ErrMalformed about %q", err, tc.want)
			}
		})
	}
}

// hugeTagCount encodes r as a frame (without size) whose final tagged
// field count, 0 in a valid encoding, is replaced by a five-byte count.
func hugeTagCount(r kmsg.Request) []byte {
	fr := kmsg.NewRequestFormatter(kmsg.FormatterClientID("c")).AppendRequest(nil, r, 1)[4:]
	return append(fr[:len(fr)-1], 0xab, 0xab, 0xab, 0xab, 0x0a)
}
