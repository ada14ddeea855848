package broker

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/storage"
	"gregor/wire"
)

// BenchmarkFetchAssembly measures building a Fetch response for N
// partitions that each have a 1 MiB file region: the response struct with
// a records marker per partition, kmsg encoding into a pooled buffer, and
// spliceRegions cutting it at the markers, as conn.send does. The region
// bytes themselves go out with sendfile and are not touched here.
func BenchmarkFetchAssembly(b *testing.B) {
	f, err := os.Create(filepath.Join(b.TempDir(), "segment.log"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	for _, version := range []int16{11, 12} { // 12 is flexible
		for _, n := range []int{1, 8, 64} {
			b.Run(fmt.Sprintf("v%d/partitions=%d", version, n), func(b *testing.B) {
				regions := make([]storage.Region, n)
				for i := range regions {
					regions[i] = storage.Region{File: f, Pos: int64(i) << 20, Len: 1 << 20}
				}
				b.ReportAllocs()
				for b.Loop() {
					resp := kmsg.NewPtrFetchResponse()
					resp.Version = version
					st := kmsg.NewFetchResponseTopic()
					st.Topic = "bench-topic"
					for i := 0; i < n; i++ {
						sp := kmsg.NewFetchResponseTopicPartition()
						sp.Partition = int32(i)
						sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = 1<<20, 1<<20, 0
						sp.RecordBatches = recordsMarker(i)
						st.Partitions = append(st.Partitions, sp)
					}
					resp.Topics = append(resp.Topics, st)

					bp := bufPool.Get().(*[]byte)
					out := wire.AppendResponse((*bp)[:0], 1, resp)
					*bp = out
					parts, err := spliceRegions(out, regions, resp.IsFlexible())
					if err != nil {
						b.Fatal(err)
					}
					if len(parts) != 3*n+1 {
						b.Fatalf("%d parts", len(parts))
					}
					bufPool.Put(bp)
				}
			})
		}
	}
}
