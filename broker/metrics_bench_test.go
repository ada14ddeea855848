package broker

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// BenchmarkMetricsRequest is what every request pays for its metrics
// whether or not anything scrapes them: the in-flight gauge, the
// per-version counter, the latency histogram and the error check.
func BenchmarkMetricsRequest(b *testing.B) {
	m := newMetrics(newHandlerTable(handlers))
	resp := kmsg.NewPtrProduceResponse()
	now := time.Now()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			start := m.begin(now)
			m.end(0, 11, start, now.Add(150*time.Microsecond), resp, nil)
		}
	})
}
