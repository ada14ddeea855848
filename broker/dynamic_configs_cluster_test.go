package broker_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/gregortest"
)

// TestClusterDynamicRetention: log.retention.ms changed cluster-wide with
// kadm (IncrementalAlterConfigs on the default broker resource) reaches
// every broker of a 3-node cluster without a restart: each replica of a
// topic without its own retention.ms deletes its expired segments, and
// DescribeConfigs on each broker shows the value from
// DYNAMIC_DEFAULT_BROKER_CONFIG.
func TestClusterDynamicRetention(t *testing.T) {
	t.Parallel()
	c := gregortest.NewCluster(t, gregortest.Brokers(3),
		gregortest.Override("log.segment.bytes=1024", "log.retention.check.interval.ms=100"))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl := c.Client(kgo.RequiredAcks(kgo.AllISRAcks()), kgo.DefaultProduceTopic("ret"))
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, 1, 3, nil, "ret"); err != nil {
		t.Fatal(err)
	}
	const n = 100
	old := time.Now().Add(-time.Hour) // expired once retention is a minute
	for i := range n {
		r := &kgo.Record{Value: bytes.Repeat([]byte{'x'}, 100), Timestamp: old}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
	}
	c.WaitFor("every replica has every record", 20*time.Second, func() bool {
		for i := range c.Len() {
			if end, hw, ok := c.Broker(i).LogOffsets("ret", 0); !ok || end != n || hw != n {
				return false
			}
		}
		return true
	})
	for i := range c.Len() {
		if start, _ := c.Broker(i).LogStartOffset("ret", 0); start != 0 {
			t.Fatalf("broker %d deleted records under the default retention: log start %d", c.Broker(i).ID(), start)
		}
	}

	rs, err := adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Name: "log.retention.ms", Value: kmsg.StringPtr("60000")}})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		if r.Err != nil {
			t.Fatalf("alter %q: %v", r.Name, r.Err)
		}
	}
	c.WaitFor("expired segments deleted on every broker", 20*time.Second, func() bool {
		for i := range c.Len() {
			if start, ok := c.Broker(i).LogStartOffset("ret", 0); !ok || start == 0 {
				return false
			}
		}
		return true
	})
	for i := range c.Len() {
		b := c.Broker(i)
		start, _ := b.LogStartOffset("ret", 0)
		end, _, _ := b.LogOffsets("ret", 0)
		if start > end || start < n/2 {
			t.Fatalf("broker %d: log start %d of %d after retention", b.ID(), start, end)
		}
		bc, err := kadm.NewClient(b.Client()).DescribeBrokerConfigs(ctx, b.ID())
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, rc := range bc {
			for _, kv := range rc.Configs {
				if kv.Key != "log.retention.ms" {
					continue
				}
				found = true
				if kv.Value == nil || *kv.Value != "60000" || kv.Source != kmsg.ConfigSourceDynamicDefaultBrokerConfig {
					t.Fatalf("broker %d: log.retention.ms = %v from %v", b.ID(), kv.Value, kv.Source)
				}
			}
		}
		if !found {
			t.Fatalf("broker %d: log.retention.ms not described", b.ID())
		}
		tc, err := kadm.NewClient(b.Client()).DescribeTopicConfigs(ctx, "ret")
		if err != nil {
			t.Fatal(err)
		}
		for _, kv := range tc[0].Configs {
			if kv.Key == "retention.ms" && (kv.Value == nil || *kv.Value != "60000" || kv.Source != kmsg.ConfigSourceDynamicDefaultBrokerConfig) {
				t.Fatalf("broker %d: topic retention.ms = %v from %v", b.ID(), kv.Value, kv.Source)
			}
		}
	}
}
