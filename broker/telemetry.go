package broker

// Client telemetry (KIP-714): the client-metrics subscriptions of the
// controller's snapshot matched against client instances, the push rules
// of Kafka's ClientMetricsManager, and the pushed metrics kept for export
// on /metrics.
//
// A client instance is created on its first GetTelemetrySubscriptions or
// PushTelemetry to this broker and evaluated against the subscriptions; a
// change of the subscriptions re-evaluates it on its next request (a new
// subscription id, so its next push answers UNKNOWN_SUBSCRIPTION_ID and it
// asks again). The subscription id depends only on the instance id and
// what it is subscribed to, so any broker computes the same one. An
// instance without requests for max(60 s, 3 push intervals) is dropped
// with its series.

import (
	"crypto/rand"
	"errors"
	"fmt"
	"hash/crc32"
	"maps"
	"math"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	commonv1 "go.opentelemetry.io/proto/otlp/common/v1"
	metricsv1 "go.opentelemetry.io/proto/otlp/metrics/v1"
	"google.golang.org/protobuf/proto"

	"gregor/controller"
	"gregor/storage"
)

// Kafka's client-metrics subscription configs (ClientMetricsConfigs).
const (
	clientMetricsMetrics  = "metrics"
	clientMetricsInterval = "interval.ms"
	clientMetricsMatch    = "match"

	telemetryDefaultIntervalMs = 300_000
	telemetryMinIntervalMs     = 100
	telemetryMaxIntervalMs     = 3_600_000
	// telemetryInstanceExpiry is the least time an idle instance is kept.
	telemetryInstanceExpiry = 60 * time.Second
)

// clientMetricsMatchKeys are the client properties a subscription's match
// patterns may name.
var clientMetricsMatchKeys = []string{"client_instance_id", "client_id", "client_software_name",
	"client_software_version", "client_source_address", "client_source_port"}

// telemetryCompression is what GetTelemetrySubscriptions accepts, in
// Kafka's order of preference (zstd, lz4, gzip, snappy).
var telemetryCompression = []int8{4, 3, 1, 2}

// telemetrySub is one parsed client-metrics subscription.
type telemetrySub struct {
	name     string
	metrics  []string
	interval int32
	match    map[string]*regexp.Regexp
}

// parseClientMetrics parses and validates a subscription's configs as
// Kafka does: unknown names and push intervals outside [100, 3600000] are
// INVALID_REQUEST, malformed match patterns INVALID_CONFIG.
func parseClientMetrics(name string, cfg map[string]string) (telemetrySub, error) {
	sub := telemetrySub{name: name, interval: telemetryDefaultIntervalMs}
	if name == "" {
		return sub, fmt.Errorf("%w: subscription name can't be empty", controller.ErrInvalidRequest)
	}
	for k, v := range cfg {
		switch k {
		case clientMetricsMetrics:
			sub.metrics = splitList(v)
		case clientMetricsInterval:
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 32)
			if err != nil {
				return sub, fmt.Errorf("%w: invalid value %s for configuration %s: not a number of type INT", controller.ErrInvalidConfig, v, k)
			}
			if n < telemetryMinIntervalMs || n > telemetryMaxIntervalMs {
				return sub, fmt.Errorf("%w: invalid value %d for %s, interval must be between 100 and 3600000 (1 hour)", controller.ErrInvalidRequest, n, k)
			}
			sub.interval = int32(n)
		case clientMetricsMatch:
			sub.match = map[string]*regexp.Regexp{}
			for _, p := range splitList(v) {
				key, re, ok := strings.Cut(p, "=")
				key, re = strings.TrimSpace(key), strings.TrimSpace(re)
				if !ok || strings.Contains(re, "=") || !slices.Contains(clientMetricsMatchKeys, key) {
					return sub, fmt.Errorf("%w: illegal client matching pattern: %s", controller.ErrInvalidConfig, p)
				}
				rx, err := regexp.Compile("^(?:" + re + ")$")
				if err != nil {
					return sub, fmt.Errorf("%w: illegal client matching pattern: %s", controller.ErrInvalidConfig, p)
				}
				sub.match[key] = rx
			}
		default:
			return sub, fmt.Errorf("%w: unknown client metrics configuration: %s", controller.ErrInvalidRequest, k)
		}
	}
	return sub, nil
}

// clientProps are what a subscription's match patterns look at.
type clientProps map[string]string

func (p clientProps) matches(sub *telemetrySub) bool {
	for k, rx := range sub.match {
		if !rx.MatchString(p[k]) {
			return false
		}
	}
	return true
}

// clientInstance is one client instance's subscription and push state.
type clientInstance struct {
	id         [16]byte
	props      clientProps
	subVersion int64
	subID      int32
	metrics    []string
	interval   time.Duration
	// lastGet and lastPush are the times of the last accepted requests.
	lastGet, lastPush time.Time
	terminating       bool
	lastErr           int16
	seen              time.Time
	series            map[seriesKey]*seriesValue
}

type seriesKey struct{ name, attrs string }

type seriesValue struct {
	value float64
}

// telemetry is the broker's KIP-714 part.
type telemetry struct {
	cfg   TelemetryConfig
	clock Clock
	meta  func() *controller.Snapshot

	pushes  *prometheus.CounterVec
	dropped prometheus.Counter
	descVal *prometheus.Desc
	descN   *prometheus.Desc

	mu        sync.Mutex
	subsVer   int64 // ClientMetricsVersion subs were parsed at (-1: never)
	subs      []telemetrySub
	instances map[[16]byte]*clientInstance
	nseries   int
}

func newTelemetry(cfg TelemetryConfig, clock Clock, meta func() *controller.Snapshot) *telemetry {
	return &telemetry{
		cfg: cfg, clock: clock, meta: meta, subsVer: -1, instances: map[[16]byte]*clientInstance{},
		pushes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gregor_client_telemetry_pushes_total",
			Help: "PushTelemetry requests (KIP-714) by error (NONE when accepted)."}, []string{"error"}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "gregor_client_telemetry_dropped_series_total",
			Help: "Pushed client metric series not kept because telemetry.max.series was reached."}),
		descVal: prometheus.NewDesc("gregor_client_metric",
			"The latest value of a metric pushed by a client (KIP-714): gauges as pushed, delta sums summed up.",
			[]string{"client_instance_id", "client_id", "client_software_name", "client_software_version", "name", "attributes"}, nil),
		descN: prometheus.NewDesc("gregor_client_telemetry_instances", "Client instances (KIP-714) the broker keeps.", nil, nil),
	}
}

// refreshLocked re-parses the subscriptions when the snapshot's changed.
// Subscriptions the controller holds were validated when they were set;
// one that no longer parses is skipped.
func (t *telemetry) refreshLocked() int64 {
	snap := t.meta()
	v := snap.ClientMetricsVersion()
	if v == t.subsVer {
		return v
	}
	t.subsVer, t.subs = v, nil
	cm := snap.ClientMetrics()
	for _, name := range slices.Sorted(maps.Keys(cm)) {
		if sub, err := parseClientMetrics(name, cm[name]); err == nil {
			t.subs = append(t.subs, sub)
		}
	}
	return v
}

// expireLocked drops instances idle past their expiry.
func (t *telemetry) expireLocked(now time.Time) {
	for id, ci := range t.instances {
		if now.Sub(ci.seen) > max(telemetryInstanceExpiry, 3*ci.interval) {
			t.nseries -= len(ci.series)
			delete(t.instances, id)
		}
	}
}

// instanceLocked returns the instance id, created or re-evaluated when
// the subscriptions changed since it was evaluated.
func (t *telemetry) instanceLocked(id [16]byte, props clientProps, now time.Time) *clientInstance {
	ver := t.refreshLocked()
	t.expireLocked(now)
	ci := t.instances[id]
	if ci != nil && ci.subVersion == ver {
		ci.seen = now
		return ci
	}
	props["client_instance_id"] = uuidString(id)
	next := &clientInstance{id: id, props: props, subVersion: ver, seen: now}
	if ci != nil { // keep what was pushed, and what the client is
		next.series, next.props = ci.series, ci.props
	}
	interval := int32(telemetryDefaultIntervalMs)
	set := map[string]bool{}
	for i := range t.subs {
		sub := &t.subs[i]
		if !next.props.matches(sub) {
			continue
		}
		for _, m := range sub.metrics {
			set[m] = true
		}
		interval = min(interval, sub.interval)
	}
	next.metrics = slices.Sorted(maps.Keys(set))
	if set["*"] {
		// All metrics: Kafka's broker answers "*" (what the Java client and
		// librdkafka look for); KIP-714's text, and franz-go, use a lone
		// empty string. Both are sent: a client that reads the list as
		// prefixes matches every name with "".
		next.metrics = []string{"*", ""}
	}
	next.interval = time.Duration(interval) * time.Millisecond
	next.subID = telemetrySubscriptionID(next.metrics, interval, id)
	t.instances[id] = next
	return next
}

// telemetrySubscriptionID identifies an instance's subscription set: a
// CRC-32C of the metrics and push interval XORed with the instance id's
// hash, as Kafka computes it (over a sorted list here), so every broker
// agrees.
func telemetrySubscriptionID(metrics []string, intervalMs int32, id [16]byte) int32 {
	s := "[" + strings.Join(metrics, ", ") + "]" + strconv.Itoa(int(intervalMs))
	crc := crc32.Checksum([]byte(s), crc32.MakeTable(crc32.Castagnoli))
	var hi, lo uint64
	for i := 0; i < 8; i++ {
		hi = hi<<8 | uint64(id[i])
		lo = lo<<8 | uint64(id[8+i])
	}
	h := hi ^ lo
	return int32(crc) ^ (int32(h>>32) ^ int32(h))
}

func uuidString(id [16]byte) string {
	return fmt.Sprintf("%x-%x-%x-%x-%x", id[0:4], id[4:6], id[6:8], id[8:10], id[10:16])
}

// propsOf is what the request tells of its client.
func propsOf(r *request) clientProps {
	p := clientProps{"client_source_address": r.conn.remoteHost()}
	if r.ClientID != nil {
		p["client_id"] = *r.ClientID
	}
	if sw := r.conn.software.Load(); sw != nil {
		p["client_software_name"], p["client_software_version"] = sw[0], sw[1]
	}
	if _, port, err := net.SplitHostPort(r.conn.nc.RemoteAddr().String()); err == nil {
		p["client_source_port"] = port
	}
	return p
}

// getSubscriptions serves GetTelemetrySubscriptions.
func (t *telemetry) getSubscriptions(r *request, req *kmsg.GetTelemetrySubscriptionsRequest) *kmsg.GetTelemetrySubscriptionsResponse {
	resp := req.ResponseKind().(*kmsg.GetTelemetrySubscriptionsResponse)
	now := t.clock.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	id := req.ClientInstanceID
	for id == ([16]byte{}) || (req.ClientInstanceID == ([16]byte{}) && t.instances[id] != nil) {
		_, _ = rand.Read(id[:]) // crypto/rand never returns an error
	}
	ci := t.instanceLocked(id, propsOf(r), now)
	// A get inside the push interval is throttled, unless the last push
	// was refused for a reason that sends the client back here.
	last := ci.lastGet
	if ci.lastPush.After(last) {
		last = ci.lastPush
	}
	if !last.IsZero() && now.Sub(last) <= ci.interval &&
		ci.lastErr != kerr.UnknownSubscriptionID.Code && ci.lastErr != kerr.UnsupportedCompressionType.Code {
		resp.ErrorCode = kerr.ThrottlingQuotaExceeded.Code
		return resp
	}
	ci.lastGet, ci.lastErr = now, 0
	resp.ClientInstanceID = id
	resp.SubscriptionID = ci.subID
	resp.AcceptedCompressionTypes = telemetryCompression
	resp.PushIntervalMillis = int32(ci.interval / time.Millisecond)
	resp.TelemetryMaxBytes = int32(t.cfg.MaxBytes)
	resp.DeltaTemporality = true
	resp.RequestedMetrics = ci.metrics
	if resp.RequestedMetrics == nil {
		resp.RequestedMetrics = []string{}
	}
	return resp
}

// push serves PushTelemetry.
func (t *telemetry) push(r *request, req *kmsg.PushTelemetryRequest) *kmsg.PushTelemetryResponse {
	resp := req.ResponseKind().(*kmsg.PushTelemetryResponse)
	resp.ErrorCode = t.pushCode(r, req)
	t.pushes.WithLabelValues(errName(resp.ErrorCode)).Inc()
	return resp
}

func errName(code int16) string {
	if code == 0 {
		return "NONE"
	}
	if e := kerr.ErrorForCode(code); e != nil {
		var ke *kerr.Error
		if errors.As(e, &ke) {
			return ke.Message
		}
	}
	return strconv.Itoa(int(code))
}

func (t *telemetry) pushCode(r *request, req *kmsg.PushTelemetryRequest) int16 {
	if req.ClientInstanceID == ([16]byte{}) {
		return kerr.InvalidRequest.Code
	}
	now := t.clock.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	ci := t.instanceLocked(req.ClientInstanceID, propsOf(r), now)
	defer func() { ci.terminating = ci.terminating || req.Terminating }()
	fail := func(code int16) int16 {
		ci.lastErr = code
		return code
	}
	if ci.terminating {
		return fail(kerr.InvalidRequest.Code)
	}
	// The first push after a get may come early (clients add jitter).
	early := !ci.lastGet.After(ci.lastPush) && !ci.lastPush.IsZero() && now.Sub(ci.lastPush) < ci.interval
	if early && !req.Terminating {
		return fail(kerr.ThrottlingQuotaExceeded.Code)
	}
	ci.lastPush = now
	switch {
	case req.SubscriptionID != ci.subID:
		return fail(kerr.UnknownSubscriptionID.Code)
	case !slices.Contains(telemetryCompression, req.CompressionType) && req.CompressionType != 0:
		return fail(kerr.UnsupportedCompressionType.Code)
	case len(req.Metrics) > t.cfg.MaxBytes:
		return fail(kerr.TelemetryTooLarge.Code)
	}
	if len(req.Metrics) > 0 {
		points, err := decodeTelemetry(req.CompressionType, req.Metrics, t.cfg.MaxBytes)
		switch {
		case errors.Is(err, storage.ErrTooLarge):
			return fail(kerr.TelemetryTooLarge.Code)
		case err != nil:
			return fail(kerr.InvalidRecord.Code)
		}
		t.storeLocked(ci, points)
	}
	ci.lastErr = 0
	return 0
}

// telemetryPoint is one decoded data point.
type telemetryPoint struct {
	name, attrs string
	value       float64
	delta       bool // a delta sum: added to the kept value
}

// decodeTelemetry decompresses a push's payload (at most limit bytes) and
// decodes it as OTLP MetricsData, keeping gauges, sums, and histogram counts and sums.
func decodeTelemetry(codec int8, payload []byte, limit int) ([]telemetryPoint, error) {
	raw, err := storage.Decompress(codec, payload, limit)
	if err != nil {
		return nil, err
	}
	var md metricsv1.MetricsData
	if err := proto.Unmarshal(raw, &md); err != nil {
		return nil, err
	}
	var out []telemetryPoint
	for _, rm := range md.ResourceMetrics {
		for _, sm := range rm.ScopeMetrics {
			for _, m := range sm.Metrics {
				out = appendPoints(out, m)
			}
		}
	}
	return out, nil
}

func appendPoints(out []telemetryPoint, m *metricsv1.Metric) []telemetryPoint {
	num := func(dp *metricsv1.NumberDataPoint) float64 {
		switch v := dp.Value.(type) {
		case *metricsv1.NumberDataPoint_AsDouble:
			return v.AsDouble
		case *metricsv1.NumberDataPoint_AsInt:
			return float64(v.AsInt)
		}
		return math.NaN()
	}
	switch d := m.Data.(type) {
	case *metricsv1.Metric_Gauge:
		for _, dp := range d.Gauge.DataPoints {
			out = append(out, telemetryPoint{name: m.Name, attrs: attrString(dp.Attributes), value: num(dp)})
		}
	case *metricsv1.Metric_Sum:
		delta := d.Sum.AggregationTemporality == metricsv1.AggregationTemporality_AGGREGATION_TEMPORALITY_DELTA
		for _, dp := range d.Sum.DataPoints {
			out = append(out, telemetryPoint{name: m.Name, attrs: attrString(dp.Attributes), value: num(dp), delta: delta})
		}
	case *metricsv1.Metric_Histogram:
		delta := d.Histogram.AggregationTemporality == metricsv1.AggregationTemporality_AGGREGATION_TEMPORALITY_DELTA
		for _, dp := range d.Histogram.DataPoints {
			a := attrString(dp.Attributes)
			out = append(out, telemetryPoint{name: m.Name + ".count", attrs: a, value: float64(dp.Count), delta: delta},
				telemetryPoint{name: m.Name + ".sum", attrs: a, value: dp.GetSum(), delta: delta})
		}
	}
	return out
}

// attrString renders data-point attributes as sorted k=v pairs.
func attrString(kvs []*commonv1.KeyValue) string {
	if len(kvs) == 0 {
		return ""
	}
	parts := make([]string, 0, len(kvs))
	for _, kv := range kvs {
		parts = append(parts, kv.Key+"="+anyValueString(kv.Value))
	}
	slices.Sort(parts)
	return strings.Join(parts, ",")
}

// anyValueString renders an attribute value.
func anyValueString(v *commonv1.AnyValue) string {
	switch x := v.GetValue().(type) {
	case *commonv1.AnyValue_StringValue:
		return x.StringValue
	case *commonv1.AnyValue_BoolValue:
		return strconv.FormatBool(x.BoolValue)
	case *commonv1.AnyValue_IntValue:
		return strconv.FormatInt(x.IntValue, 10)
	case *commonv1.AnyValue_DoubleValue:
		return strconv.FormatFloat(x.DoubleValue, 'g', -1, 64)
	}
	return ""
}

// storeLocked keeps ci's pushed points, within telemetry.max.series.
func (t *telemetry) storeLocked(ci *clientInstance, points []telemetryPoint) {
	if ci.series == nil {
		ci.series = map[seriesKey]*seriesValue{}
	}
	for _, p := range points {
		k := seriesKey{p.name, p.attrs}
		v := ci.series[k]
		if v == nil {
			if t.nseries >= t.cfg.MaxSeries {
				t.dropped.Inc()
				continue
			}
			v = &seriesValue{}
			ci.series[k] = v
			t.nseries++
			v.value = p.value
			continue
		}
		if p.delta {
			v.value += p.value
		} else {
			v.value = p.value
		}
	}
}

// Describe sends the descriptors of every series Collect exports.
func (t *telemetry) Describe(ch chan<- *prometheus.Desc) {
	t.pushes.Describe(ch)
	t.dropped.Describe(ch)
	ch <- t.descN
	ch <- t.descVal
}

// Collect exports the kept series.
func (t *telemetry) Collect(ch chan<- prometheus.Metric) {
	t.pushes.Collect(ch)
	t.dropped.Collect(ch)
	t.mu.Lock()
	defer t.mu.Unlock()
	t.expireLocked(t.clock.Now())
	ch <- prometheus.MustNewConstMetric(t.descN, prometheus.GaugeValue, float64(len(t.instances)))
	for _, ci := range t.instances {
		id := uuidString(ci.id)
		for k, v := range ci.series {
			ch <- prometheus.MustNewConstMetric(t.descVal, prometheus.GaugeValue, v.value,
				id, ci.props["client_id"], ci.props["client_software_name"], ci.props["client_software_version"], k.name, k.attrs)
		}
	}
}

// seriesOf returns a copy of the kept series of instance id (tests).
func (t *telemetry) seriesOf(id [16]byte) map[seriesKey]float64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := map[seriesKey]float64{}
	if ci := t.instances[id]; ci != nil {
		for k, v := range ci.series {
			out[k] = v.value
		}
	}
	return out
}
