package broker

import (
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/storage/vfs"
)

// metrics is the broker's Prometheus registry (one per broker, never the
// global default, so several in-process brokers each export their own).
// Request counters and histograms are built up front for every served API
// and version, so the hot path does no label lookups; everything else is
// read from the parts' state when Prometheus scrapes (stateCollector).
type metrics struct {
	reg *prometheus.Registry

	byKey     map[int16]*apiMetrics
	inFlight  prometheus.Gauge
	acksWaits prometheus.Gauge
	fsync     prometheus.Histogram
}

// apiMetrics are one API key's series.
type apiMetrics struct {
	requests []prometheus.Counter // by version - min
	min      int16
	errors   prometheus.Counter
	closed   prometheus.Counter
	latency  prometheus.Observer
}

// newMetrics returns the request metrics of the APIs in table, and a
// registry holding them and the Go runtime and process collectors.
func newMetrics(table *handlerTable) *metrics {
	m := &metrics{reg: prometheus.NewRegistry(), byKey: map[int16]*apiMetrics{}}
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gregor_requests_total",
		Help: "Requests handled, by API and version."}, []string{"api", "version"})
	errs := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gregor_request_errors_total",
		Help: "Responses with a non-zero top-level error code, by API."}, []string{"api"})
	closed := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gregor_request_failures_total",
		Help: "Requests whose handling closed the connection, by API."}, []string{"api"})
	latency := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "gregor_request_duration_seconds",
		Help:    "Time from a decoded request to its queued response (acks=all waits excluded), by API.",
		Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}}, []string{"api"})
	m.inFlight = prometheus.NewGauge(prometheus.GaugeOpts{Name: "gregor_requests_in_flight", Help: "Requests being handled."})
	m.acksWaits = prometheus.NewGauge(prometheus.GaugeOpts{Name: "gregor_produce_acks_all_waiting",
		Help: "Produce responses waiting for the ISR (acks=all)."})
	m.fsync = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "gregor_log_fsync_duration_seconds",
		Help:    "Duration of fsyncs of partition log files.",
		Buckets: []float64{.0001, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 5}})
	for key, h := range table.byKey {
		name := kmsg.NameForKey(key)
		am := &apiMetrics{min: h.min, errors: errs.WithLabelValues(name), closed: closed.WithLabelValues(name),
			latency: latency.WithLabelValues(name)}
		for v := h.min; v <= h.max; v++ {
			am.requests = append(am.requests, requests.WithLabelValues(name, strconv.Itoa(int(v))))
		}
		m.byKey[key] = am
	}
	m.reg.MustRegister(requests, errs, closed, latency, m.inFlight, m.acksWaits, m.fsync,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// begin counts a request in flight and returns its start.
func (m *metrics) begin(now time.Time) time.Time {
	if m != nil {
		m.inFlight.Inc()
	}
	return now
}

// end counts a handled request: resp is its response (nil for none), err
// the error that closes the connection.
func (m *metrics) end(key, version int16, start, now time.Time, resp kmsg.Response, err error) {
	if m == nil {
		return
	}
	m.inFlight.Dec()
	am := m.byKey[key]
	if am == nil {
		return
	}
	if i := int(version - am.min); i >= 0 && i < len(am.requests) {
		am.requests[i].Inc()
	}
	am.latency.Observe(now.Sub(start).Seconds())
	switch {
	case err != nil:
		am.closed.Inc()
	case resp != nil && topErrorCode(resp) != 0:
		am.errors.Inc()
	}
}

// awaiting wraps an acks=all wait so the time it spends is counted.
func (m *metrics) awaiting(wait func()) func() {
	if m == nil {
		return wait
	}
	m.acksWaits.Inc()
	return func() {
		defer m.acksWaits.Dec()
		wait()
	}
}

// topErrorCode is a response's top-level error code, for the responses
// that have one.
func topErrorCode(resp kmsg.Response) int16 {
	switch r := resp.(type) {
	case *kmsg.ApiVersionsResponse:
		return r.ErrorCode
	case *kmsg.FetchResponse:
		return r.ErrorCode
	case *kmsg.FindCoordinatorResponse:
		return r.ErrorCode
	case *kmsg.JoinGroupResponse:
		return r.ErrorCode
	case *kmsg.SyncGroupResponse:
		return r.ErrorCode
	case *kmsg.HeartbeatResponse:
		return r.ErrorCode
	case *kmsg.LeaveGroupResponse:
		return r.ErrorCode
	case *kmsg.ListGroupsResponse:
		return r.ErrorCode
	case *kmsg.InitProducerIDResponse:
		return r.ErrorCode
	case *kmsg.DescribeClusterResponse:
		return r.ErrorCode
	case *kmsg.OffsetFetchResponse:
		return r.ErrorCode
	case *kmsg.OffsetDeleteResponse:
		return r.ErrorCode
	case *kmsg.ElectLeadersResponse:
		return r.ErrorCode
	case *kmsg.AlterPartitionResponse:
		return r.ErrorCode
	case *kmsg.BrokerRegistrationResponse:
		return r.ErrorCode
	case *kmsg.BrokerHeartbeatResponse:
		return r.ErrorCode
	case *kmsg.AllocateProducerIDsResponse:
		return r.ErrorCode
	}
	return 0
}

// partitionTraffic counts a partition's client traffic: produced bytes
// and records, and bytes fetched by consumers (not followers). The
// collector sums them per topic at scrape time.
type partitionTraffic struct {
	bytesIn, recordsIn, bytesOut atomic.Int64
}

func (t *partitionTraffic) in(bytes int, records int64) {
	t.bytesIn.Add(int64(bytes))
	t.recordsIn.Add(records)
}

func (t *partitionTraffic) out(bytes int64) { t.bytesOut.Add(bytes) }

// timedFS times the fsyncs of the files opened through it.
type timedFS struct {
	vfs.FS
	clock Clock
	obs   prometheus.Observer
}

func (fs timedFS) OpenFile(name string, flag int, perm os.FileMode) (vfs.File, error) {
	f, err := fs.FS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return timedFile{f, fs.clock, fs.obs}, nil
}

type timedFile struct {
	vfs.File
	clock Clock
	obs   prometheus.Observer
}

func (f timedFile) Sync() error {
	start := f.clock.Now()
	err := f.File.Sync()
	f.obs.Observe(f.clock.Now().Sub(start).Seconds())
	return err
}
