package broker

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// scrape fetches and parses the broker's /metrics.
func scrape(t *testing.T, b *testBroker) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get("http://" + b.srv.HTTPAddr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return fams
}

// metricValue is the sum of the series of name carrying the given labels
// (a subset match); ok false when there is none.
func metricValue(fams map[string]*dto.MetricFamily, name string, labels map[string]string) (float64, bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
	sum, found := 0.0, false
next:
	for _, m := range f.Metric {
		for k, v := range labels {
			found := false
			for _, lp := range m.Label {
				if lp.GetName() == k && lp.GetValue() == v {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		found = true
		switch {
		case m.Counter != nil:
			sum += m.Counter.GetValue()
		case m.Gauge != nil:
			sum += m.Gauge.GetValue()
		case m.Histogram != nil:
			sum += float64(m.Histogram.GetSampleCount())
		}
	}
	return sum, found
}

// TestMetricsLagAndTraffic produces 100 records to 2 partitions, has a
// group commit offsets 30 and 20 records short of the ends, and checks the
// scrape shows the exact lag, produce and fetch request counts, bytes and
// records in and out, and the log offsets.
func TestMetricsLagAndTraffic(t *testing.T) {
	t.Parallel()
	b := startBroker(t, "http.listeners=http://127.0.0.1:0")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	adm := b.admin()
	if _, err := adm.CreateTopic(ctx, 2, 1, nil, "m"); err != nil {
		t.Fatal(err)
	}
	cl := b.client(kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for i := range 100 {
		r := &kgo.Record{Topic: "m", Partition: int32(i % 2), Value: fmt.Appendf(nil, "v%03d", i)}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	// Consume everything, then commit 20 and 30 short of the ends (50 each).
	cons := b.client(kgo.ConsumeTopics("m"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	got := 0
	for got < 100 {
		fs := cons.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of 100: %v", got, err)
		}
		got += fs.NumRecords()
	}
	cons.Close()
	offs := kadm.Offsets{}
	offs.Add(kadm.Offset{Topic: "m", Partition: 0, At: 30, LeaderEpoch: -1})
	offs.Add(kadm.Offset{Topic: "m", Partition: 1, At: 20, LeaderEpoch: -1})
	if _, err := adm.CommitOffsets(ctx, "g", offs); err != nil {
		t.Fatal(err)
	}

	fams := scrape(t, b)
	checks := []struct {
		name   string
		labels map[string]string
		want   float64 // -1: any positive value
	}{
		{"gregor_consumer_group_lag", map[string]string{"group": "g", "topic": "m", "partition": "0"}, 20},
		{"gregor_consumer_group_lag", map[string]string{"group": "g", "topic": "m", "partition": "1"}, 30},
		{"gregor_consumer_group_topic_lag", map[string]string{"group": "g", "topic": "m"}, 50},
		{"gregor_consumer_group_committed_offset", map[string]string{"group": "g", "topic": "m", "partition": "1"}, 20},
		{"gregor_log_end_offset", map[string]string{"topic": "m", "partition": "0"}, 50},
		{"gregor_log_high_watermark", map[string]string{"topic": "m", "partition": "1"}, 50},
		{"gregor_topic_records_in_total", map[string]string{"topic": "m"}, 100},
		{"gregor_topic_bytes_in_total", map[string]string{"topic": "m"}, -1},
		{"gregor_topic_bytes_out_total", map[string]string{"topic": "m"}, -1},
		{"gregor_log_size_bytes", map[string]string{"topic": "m", "partition": "0"}, -1},
		{"gregor_requests_total", map[string]string{"api": "Produce"}, -1},
		{"gregor_requests_total", map[string]string{"api": "Fetch"}, -1},
		{"gregor_request_duration_seconds", map[string]string{"api": "Produce"}, -1},
		{"gregor_partition_leaders", nil, -1},
		{"gregor_under_replicated_partitions", nil, 0},
		{"gregor_connections", map[string]string{"listener": "PLAINTEXT"}, -1},
		{"gregor_log_fsync_duration_seconds", nil, -1},
		{"go_goroutines", nil, -1},
	}
	for _, c := range checks {
		v, ok := metricValue(fams, c.name, c.labels)
		switch {
		case !ok:
			t.Errorf("%s%v: missing", c.name, c.labels)
		case c.want < 0 && v <= 0:
			t.Errorf("%s%v = %v, want > 0", c.name, c.labels, v)
		case c.want >= 0 && v != c.want:
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, v, c.want)
		}
	}
}

// TestHTTPHealthAndPerPartitionSwitch checks /healthz, /readyz, and that
// http.metrics.per.partition=false drops the partition label.
func TestHTTPHealthAndPerPartitionSwitch(t *testing.T) {
	t.Parallel()
	b := startBroker(t, "http.listeners=http://127.0.0.1:0", "http.metrics.per.partition=false")
	base := "http://" + b.srv.HTTPAddr().String()
	for _, path := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("%s: %d %s", path, resp.StatusCode, body)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := b.admin().CreateTopic(ctx, 1, 1, nil, "pp"); err != nil {
		t.Fatal(err)
	}
	if err := b.client().ProduceSync(ctx, &kgo.Record{Topic: "pp", Value: []byte("x")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	fams := scrape(t, b)
	if _, ok := fams["gregor_log_size_bytes"]; ok {
		t.Error("per-partition series exported with http.metrics.per.partition=false")
	}
	if v, ok := metricValue(fams, "gregor_topic_log_size_bytes", map[string]string{"topic": "pp"}); !ok || v <= 0 {
		t.Errorf("gregor_topic_log_size_bytes{topic=pp} = %v, %v; want > 0", v, ok)
	}
}

func TestHTTPListenerConfig(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in, want   string
		https, bad bool
	}{
		{in: "http://127.0.0.1:9644", want: "127.0.0.1:9644"},
		{in: "http://[::1]:80", want: "[::1]:80"},
		{in: "https://127.0.0.1:9644", want: "127.0.0.1:9644", https: true},
		{in: "ftp://127.0.0.1:9644", bad: true},
		{in: "127.0.0.1:9644", bad: true},
		{in: "http://host", bad: true},
	} {
		got, https, err := parseHTTPListener(tc.in)
		if (err != nil) != tc.bad || (!tc.bad && (got != tc.want || https != tc.https)) {
			t.Errorf("parseHTTPListener(%q) = %q, %v, %v", tc.in, got, https, err)
		}
	}
	if !strings.Contains(fmt.Sprint(DefaultConfig().HTTP.Listeners), "[]") {
		t.Errorf("http.listeners on by default: %v", DefaultConfig().HTTP.Listeners)
	}
}
