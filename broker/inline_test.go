package broker

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/storage"
	"gregor/wire"
)

// TestInlineSmallRegions: a Fetch response whose file regions are small is
// sent as one buffer holding exactly what kmsg would encode with the bytes
// in place; one with a large region keeps its regions for sendfile.
func TestInlineSmallRegions(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789abcdef"), 16<<10) // 256 KiB
	f, err := os.Create(filepath.Join(t.TempDir(), "segment.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		lens   []int64
		inline bool
	}{
		{"small", []int64{100, 3000}, true},
		{"at-limit", []int64{inlineRegionMax / 2, inlineRegionMax / 2}, true},
		{"one-large", []int64{100, inlineRegionMax + 1}, false},
		{"sum-large", []int64{inlineRegionMax/2 + 1, inlineRegionMax / 2}, false},
	} {
		for _, version := range []int16{11, 12} {
			resp := func(withBytes bool) *kmsg.FetchResponse {
				r := kmsg.NewPtrFetchResponse()
				r.Version = version
				st := kmsg.NewFetchResponseTopic()
				st.Topic = "t"
				pos := int64(0)
				for i, n := range tc.lens {
					sp := kmsg.NewFetchResponseTopicPartition()
					sp.Partition = int32(i)
					sp.RecordBatches = recordsMarker(i)
					if withBytes {
						sp.RecordBatches = data[pos : pos+n]
					}
					pos += n
					st.Partitions = append(st.Partitions, sp)
				}
				r.Topics = append(r.Topics, st)
				return r
			}
			var regions []storage.Region
			pos := int64(0)
			for _, n := range tc.lens {
				regions = append(regions, storage.Region{File: f, Pos: pos, Len: n})
				pos += n
			}
			ob := encodeOutbound(7, resp(false))
			if ob.parts, err = spliceRegions(*ob.buf, regions, version >= 12); err != nil {
				t.Fatal(err)
			}
			if err := ob.inlineSmall(); err != nil {
				t.Fatal(err)
			}
			want := wire.AppendResponse(nil, 7, resp(true))
			if !tc.inline {
				if len(ob.parts) == 1 {
					t.Fatalf("%s v%d: inlined %d file bytes", tc.name, version, pos)
				}
				continue
			}
			if len(ob.parts) != 1 || ob.parts[0].region.Len != 0 {
				t.Fatalf("%s v%d: %d parts, want one buffer", tc.name, version, len(ob.parts))
			}
			if !bytes.Equal(ob.parts[0].b, want) {
				t.Fatalf("%s v%d: inlined response differs from kmsg's encoding", tc.name, version)
			}
			ob.release()
		}
	}
}
