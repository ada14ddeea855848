package broker

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	commonv1 "go.opentelemetry.io/proto/otlp/common/v1"
	metricsv1 "go.opentelemetry.io/proto/otlp/metrics/v1"
	"google.golang.org/protobuf/proto"
)

// alterClientMetricsRaw sets (value non-nil) or deletes configs of the
// client-metrics subscription name with IncrementalAlterConfigs.
func alterClientMetricsRaw(t *testing.T, rc *rawConn, name string, kv ...string) (int16, string) {
	t.Helper()
	req := kmsg.NewPtrIncrementalAlterConfigsRequest()
	rr := kmsg.NewIncrementalAlterConfigsRequestResource()
	rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeClientMetrics, name
	for i := 0; i+1 < len(kv); i += 2 {
		c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
		c.Name = kv[i]
		if kv[i+1] == "<delete>" {
			c.Op = kmsg.IncrementalAlterConfigOpDelete
		} else {
			c.Value = kmsg.StringPtr(kv[i+1])
		}
		rr.Configs = append(rr.Configs, c)
	}
	req.Resources = append(req.Resources, rr)
	resp := rc.do(req).(*kmsg.IncrementalAlterConfigsResponse)
	var msg string
	if m := resp.Resources[0].ErrorMessage; m != nil {
		msg = *m
	}
	return resp.Resources[0].ErrorCode, msg
}

// otlpPayload encodes a gauge and a delta sum as zstd-compressed OTLP.
func otlpPayload(t testing.TB, gauge, delta float64) []byte {
	t.Helper()
	attr := []*commonv1.KeyValue{{Key: "node_id", Value: &commonv1.AnyValue{Value: &commonv1.AnyValue_StringValue{StringValue: "1"}}}}
	md := &metricsv1.MetricsData{ResourceMetrics: []*metricsv1.ResourceMetrics{{ScopeMetrics: []*metricsv1.ScopeMetrics{{Metrics: []*metricsv1.Metric{
		{Name: "org.apache.kafka.producer.record.queue.time.max", Data: &metricsv1.Metric_Gauge{Gauge: &metricsv1.Gauge{
			DataPoints: []*metricsv1.NumberDataPoint{{Attributes: attr, Value: &metricsv1.NumberDataPoint_AsDouble{AsDouble: gauge}}}}}},
		{Name: "org.apache.kafka.producer.record.bytes", Data: &metricsv1.Metric_Sum{Sum: &metricsv1.Sum{
			AggregationTemporality: metricsv1.AggregationTemporality_AGGREGATION_TEMPORALITY_DELTA, IsMonotonic: true,
			DataPoints: []*metricsv1.NumberDataPoint{{Value: &metricsv1.NumberDataPoint_AsInt{AsInt: int64(delta)}}}}}},
	}}}}}}
	raw, err := proto.Marshal(md)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	zw, _ := zstd.NewWriter(&buf)
	_, _ = zw.Write(raw)
	_ = zw.Close()
	return buf.Bytes()
}

// TestClientTelemetryRules walks KIP-714 through raw requests on a fake
// clock: subscription configs validated, described and listed; a
// client's subscription, throttled gets and pushes, unknown subscription
// ids, bad codecs and payloads, terminating pushes, and the pushed values
// kept (gauges replaced, delta sums summed).
func TestClientTelemetryRules(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	b := startBrokerOpts(t, []Option{WithClock(clock)})
	rc := b.raw(t)

	// Subscription configs, as Kafka validates them.
	for _, tc := range []struct {
		kv   []string
		code int16
	}{
		{[]string{"interval.ms", "50"}, kerr.InvalidRequest.Code},
		{[]string{"interval.ms", "x"}, kerr.InvalidConfig.Code},
		{[]string{"match", "client_color=red"}, kerr.InvalidConfig.Code},
		{[]string{"match", "client_id=("}, kerr.InvalidConfig.Code},
		{[]string{"colour", "red"}, kerr.InvalidRequest.Code},
		{[]string{"metrics", "org.apache.kafka.producer.", "interval.ms", "1000", "match", "client_id=tele.*"}, 0},
	} {
		if code, msg := alterClientMetricsRaw(t, rc, "prod", tc.kv...); code != tc.code {
			t.Fatalf("%v: error %d (%s), want %d", tc.kv, code, msg, tc.code)
		}
	}
	if code, _ := alterClientMetricsRaw(t, rc, "", "metrics", "*"); code != kerr.InvalidRequest.Code {
		t.Fatalf("empty name: error %d", code)
	}
	dreq := kmsg.NewPtrDescribeConfigsRequest()
	dreq.Version = 4
	dr := kmsg.NewDescribeConfigsRequestResource()
	dr.ResourceType, dr.ResourceName = kmsg.ConfigResourceTypeClientMetrics, "prod"
	dreq.Resources = append(dreq.Resources, dr)
	var described []string
	for _, c := range rc.do(dreq).(*kmsg.DescribeConfigsResponse).Resources[0].Configs {
		described = append(described, fmt.Sprintf("%s=%s/%d", c.Name, *c.Value, c.Source))
	}
	if got, want := strings.Join(described, " "), "metrics=org.apache.kafka.producer./7 interval.ms=1000/7 match=client_id=tele.*/7"; got != want {
		t.Fatalf("described %q, want %q", got, want)
	}
	lreq := kmsg.NewPtrListConfigResourcesRequest()
	lreq.Version = 0
	if l := rc.do(lreq).(*kmsg.ListConfigResourcesResponse).ConfigResources; len(l) != 1 || l[0].Name != "prod" {
		t.Fatalf("listed %+v", l)
	}

	conns := map[string]*rawConn{}
	as := func(clientID string) *rawConn {
		if conns[clientID] == nil {
			c, err := net.Dial("tcp", b.addr)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Close() })
			conns[clientID] = newRawConn(t, c, clientID)
		}
		return conns[clientID]
	}
	get := func(clientID string, id [16]byte) *kmsg.GetTelemetrySubscriptionsResponse {
		t.Helper()
		req := kmsg.NewPtrGetTelemetrySubscriptionsRequest()
		req.ClientInstanceID = id
		return as(clientID).do(req).(*kmsg.GetTelemetrySubscriptionsResponse)
	}
	push := func(id [16]byte, sub int32, codec int8, payload []byte, terminating bool) int16 {
		t.Helper()
		req := kmsg.NewPtrPushTelemetryRequest()
		req.ClientInstanceID, req.SubscriptionID, req.CompressionType, req.Metrics, req.Terminating = id, sub, codec, payload, terminating
		return as("telemetry-test").do(req).(*kmsg.PushTelemetryResponse).ErrorCode
	}

	// A client the match pattern leaves out: no metrics, the default interval.
	other := get("someone", [16]byte{})
	if other.ErrorCode != 0 || len(other.RequestedMetrics) != 0 || other.PushIntervalMillis != 300000 || other.ClientInstanceID == ([16]byte{}) {
		t.Fatalf("unmatched client: %+v", other)
	}
	// A matched one.
	g := get("telemetry-test", [16]byte{})
	id := g.ClientInstanceID
	if g.ErrorCode != 0 || strings.Join(g.RequestedMetrics, ",") != "org.apache.kafka.producer." || g.PushIntervalMillis != 1000 ||
		!g.DeltaTemporality || g.TelemetryMaxBytes != 1<<20 || id == other.ClientInstanceID {
		t.Fatalf("matched client: %+v", g)
	}
	if again := get("telemetry-test", id); again.ErrorCode != kerr.ThrottlingQuotaExceeded.Code {
		t.Fatalf("get inside the interval: error %d", again.ErrorCode)
	}
	if code := push(id, g.SubscriptionID+1, 4, otlpPayload(t, 1, 1), false); code != kerr.UnknownSubscriptionID.Code {
		t.Fatalf("wrong subscription id: error %d", code)
	}
	// After UNKNOWN_SUBSCRIPTION_ID the client may ask again at once.
	clock.Advance(10 * time.Millisecond)
	if again := get("telemetry-test", id); again.ErrorCode != 0 || again.SubscriptionID != g.SubscriptionID {
		t.Fatalf("get after an unknown subscription: %+v", again)
	}
	if code := push(id, g.SubscriptionID, 4, otlpPayload(t, 7, 100), false); code != 0 {
		t.Fatalf("first push: error %d", code)
	}
	if code := push(id, g.SubscriptionID, 4, otlpPayload(t, 8, 50), false); code != kerr.ThrottlingQuotaExceeded.Code {
		t.Fatalf("push inside the interval: error %d", code)
	}
	clock.Advance(1100 * time.Millisecond)
	for _, tc := range []struct {
		what    string
		codec   int8
		payload []byte
		code    int16
	}{
		{"codec 9", 9, otlpPayload(t, 1, 1), kerr.UnsupportedCompressionType.Code},
		{"not zstd", 4, []byte("not compressed"), kerr.InvalidRecord.Code},
		{"not OTLP", 0, []byte{0xff, 0xff, 0xff}, kerr.InvalidRecord.Code},
		{"too large", 0, make([]byte, 1<<20+1), kerr.TelemetryTooLarge.Code},
	} {
		if code := push(id, g.SubscriptionID, tc.codec, tc.payload, false); code != tc.code {
			t.Fatalf("%s: error %d, want %d", tc.what, code, tc.code)
		}
		clock.Advance(1100 * time.Millisecond)
	}
	if code := push(id, g.SubscriptionID, 4, otlpPayload(t, 9, 50), false); code != 0 {
		t.Fatalf("second push: error %d", code)
	}
	want := map[seriesKey]float64{
		{"org.apache.kafka.producer.record.queue.time.max", "node_id=1"}: 9,
		{"org.apache.kafka.producer.record.bytes", ""}:                   150,
	}
	if got := b.srv.deps.telemetry.seriesOf(id); len(got) != len(want) || got[seriesKey{"org.apache.kafka.producer.record.bytes", ""}] != 150 ||
		got[seriesKey{"org.apache.kafka.producer.record.queue.time.max", "node_id=1"}] != 9 {
		t.Fatalf("kept %v, want %v", got, want)
	}
	// A terminating push is accepted inside the interval; nothing after it.
	if code := push(id, g.SubscriptionID, 4, otlpPayload(t, 1, 1), true); code != 0 {
		t.Fatalf("terminating push: error %d", code)
	}
	clock.Advance(1100 * time.Millisecond)
	if code := push(id, g.SubscriptionID, 4, otlpPayload(t, 1, 1), false); code != kerr.InvalidRequest.Code {
		t.Fatalf("push after terminating: error %d", code)
	}
	if code := push([16]byte{}, 0, 0, nil, false); code != kerr.InvalidRequest.Code {
		t.Fatalf("zero instance id: error %d", code)
	}

	// The subscription removed (all configs deleted): nothing requested,
	// a new subscription id at once.
	if code, msg := alterClientMetricsRaw(t, rc, "prod", "metrics", "<delete>", "interval.ms", "<delete>", "match", "<delete>"); code != 0 {
		t.Fatalf("delete: %d %s", code, msg)
	}
	if l := rc.do(lreq).(*kmsg.ListConfigResourcesResponse).ConfigResources; len(l) != 0 {
		t.Fatalf("listed after delete %+v", l)
	}
	g2 := get("telemetry-test", id)
	if g2.ErrorCode != 0 || len(g2.RequestedMetrics) != 0 || g2.SubscriptionID == g.SubscriptionID {
		t.Fatalf("after delete: %+v", g2)
	}
}

// TestClientTelemetryFranz: a franz-go client (KIP-714 on by default)
// subscribed to all metrics pushes them; the broker keeps them and exports
// them on its registry as gregor_client_metric.
func TestClientTelemetryFranz(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	rc := b.raw(t)
	if code, msg := alterClientMetricsRaw(t, rc, "all", "metrics", "*", "interval.ms", "200"); code != 0 {
		t.Fatalf("subscribe: %d %s", code, msg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	createTopicN(t, ctx, b.client(), "tele", 1)
	cl := b.client(kgo.DefaultProduceTopic("tele"), kgo.ClientID("franz-telemetry"))
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("v")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	var found string
	waitFor(t, "pushed client metrics exported", 30*time.Second, func() bool {
		_ = cl.ProduceSync(ctx, &kgo.Record{Value: []byte("v")}).FirstErr()
		mfs, err := b.srv.deps.metrics.reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() != "gregor_client_metric" {
				continue
			}
			for _, m := range mf.Metric {
				labels := map[string]string{}
				for _, l := range m.Label {
					labels[l.GetName()] = l.GetValue()
				}
				if labels["client_id"] == "franz-telemetry" && labels["client_software_name"] != "" {
					found = labels["name"]
					return true
				}
			}
		}
		return false
	})
	t.Logf("a pushed metric: %s", found)
}
