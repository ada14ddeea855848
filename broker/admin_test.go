package broker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/storage/vfs"
)

func TestCreateTopicsValidation(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	adm := b.admin()
	ctx := context.Background()
	if _, err := adm.CreateTopic(ctx, 3, 1, map[string]*string{"retention.ms": kmsg.StringPtr("1000")}, "exists"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		topic   string
		parts   int32
		rf      int16
		configs map[string]*string
		want    *kerr.Error
	}{
		{"ok", "fresh", 2, 1, nil, nil},
		{"exists", "exists", 1, 1, nil, kerr.TopicAlreadyExists},
		{"bad name", "bad/name", 1, 1, nil, kerr.InvalidTopicException},
		{"too long", strings.Repeat("x", 250), 1, 1, nil, kerr.InvalidTopicException},
		{"collision", "ex_ists", 1, 1, nil, nil}, // no '.' in "exists": no collision
		{"zero partitions", "zp", 0, 1, nil, kerr.InvalidPartitions},
		{"rf too big", "rf", 1, 3, nil, kerr.InvalidReplicationFactor},
		{"unknown config", "uc", 1, 1, map[string]*string{"no.such.key": kmsg.StringPtr("1")}, kerr.InvalidConfig},
		{"bad config value", "bc", 1, 1, map[string]*string{"cleanup.policy": kmsg.StringPtr("shred")}, kerr.InvalidConfig},
	} {
		resp, err := adm.CreateTopic(ctx, tc.parts, tc.rf, tc.configs, tc.topic)
		if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v (%s), want %v", tc.name, err, resp.ErrMessage, tc.want)
		}
	}
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "dot.ted"); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "dot_ted"); !errors.Is(err, kerr.InvalidTopicException) {
		t.Errorf("colliding name: %v", err)
	}
	// validate_only creates nothing.
	if _, err := adm.ValidateCreateTopics(ctx, 4, 1, nil, "dry"); err != nil {
		t.Fatal(err)
	}
	td, err := adm.ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if td.Has("dry") || !td.Has("fresh") || len(td["exists"].Partitions) != 3 {
		t.Fatalf("topics after creates: %v", td.Names())
	}
}

func TestDeleteTopicAndPartitions(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	adm := b.admin()
	ctx := context.Background()
	if _, err := adm.CreateTopic(ctx, 2, 1, nil, "grow"); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.CreatePartitions(ctx, 3, "grow"); err != nil {
		t.Fatal(err)
	}
	if r, _ := adm.UpdatePartitions(ctx, 2, "grow"); !errors.Is(r["grow"].Err, kerr.InvalidPartitions) {
		t.Fatalf("shrink: %v", r["grow"].Err)
	}
	p := b.client(kgo.DefaultProduceTopic("grow"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err := p.ProduceSync(ctx, &kgo.Record{Partition: 4, Value: []byte("new partition")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.DeleteTopic(ctx, "grow"); err != nil {
		t.Fatal(err)
	}
	if r, _ := adm.DeleteTopics(ctx, "grow"); !errors.Is(r["grow"].Err, kerr.UnknownTopicOrPartition) {
		t.Fatalf("second delete: %v", r["grow"].Err)
	}
	// Recreated under the same name, the topic starts empty with a new id.
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "grow"); err != nil {
		t.Fatal(err)
	}
	ends, err := adm.ListEndOffsets(ctx, "grow")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := ends.Lookup("grow", 0); o.Offset != 0 {
		t.Fatalf("recreated topic ends at %d", o.Offset)
	}
}

func TestDescribeConfigs(t *testing.T) {
	t.Parallel()
	b := startBroker(t, "log.retention.hours=48")
	adm := b.admin()
	ctx := context.Background()
	if _, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{"cleanup.policy": kmsg.StringPtr("compact")}, "cfg"); err != nil {
		t.Fatal(err)
	}
	rcs, err := adm.DescribeTopicConfigs(ctx, "cfg")
	if err != nil {
		t.Fatal(err)
	}
	rc, err := rcs.On("cfg", nil)
	if err != nil || rc.Err != nil {
		t.Fatal(err, rc.Err)
	}
	want := map[string]struct {
		value  string
		source kmsg.ConfigSource
	}{
		"cleanup.policy":    {"compact", kmsg.ConfigSourceDynamicTopicConfig},
		"retention.ms":      {"172800000", kmsg.ConfigSourceStaticBrokerConfig},
		"max.message.bytes": {"1048588", kmsg.ConfigSourceDefaultConfig},
	}
	for _, c := range rc.Configs {
		if w, ok := want[c.Key]; ok {
			if c.MaybeValue() != w.value || c.Source != w.source {
				t.Errorf("%s = %q (source %v), want %q (%v)", c.Key, c.MaybeValue(), c.Source, w.value, w.source)
			}
			delete(want, c.Key)
		}
	}
	if len(want) > 0 {
		t.Errorf("missing configs: %v", want)
	}
	brcs, err := adm.DescribeBrokerConfigs(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, c := range brcs[0].Configs {
		if c.Key == "log.retention.hours" {
			found = c.MaybeValue() == "48" && c.Source == kmsg.ConfigSourceStaticBrokerConfig
		}
	}
	if !found {
		t.Error("broker config log.retention.hours=48 not described as static")
	}
	if rcs, err := adm.DescribeTopicConfigs(ctx, "nope"); err != nil || !errors.Is(rcs[0].Err, kerr.UnknownTopicOrPartition) {
		t.Errorf("unknown topic: %v %v", err, rcs)
	}
}

func TestListOffsetsByTimestamp(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	ctx := context.Background()
	p := b.client(kgo.DefaultProduceTopic("ts"), kgo.ProducerLinger(0), kgo.AllowAutoTopicCreation())
	base := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	for i := 0; i < 10; i++ {
		if err := p.ProduceSync(ctx, &kgo.Record{Value: []byte{byte(i)}, Timestamp: base.Add(time.Duration(i) * time.Minute)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	adm := b.admin()
	for _, tc := range []struct {
		ts   time.Time
		want int64
	}{
		{base, 0},
		{base.Add(3*time.Minute - time.Millisecond), 3},
		{base.Add(3 * time.Minute), 3},
		{base.Add(9 * time.Minute), 9},
		{base.Add(time.Hour), -1},
	} {
		lo, err := adm.ListOffsetsAfterMilli(ctx, tc.ts.UnixMilli(), "ts")
		if err != nil {
			t.Fatal(err)
		}
		o, _ := lo.Lookup("ts", 0)
		if o.Err != nil || o.Offset != tc.want && !(tc.want == -1 && o.Offset == 10) {
			t.Errorf("after %v: offset %d (%v), want %d", tc.ts.Sub(base), o.Offset, o.Err, tc.want)
		}
	}
	lo, err := adm.ListMaxTimestampOffsets(ctx, "ts")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := lo.Lookup("ts", 0); o.Offset != 9 || o.Timestamp != base.Add(9*time.Minute).UnixMilli() {
		t.Errorf("max timestamp: %+v", o)
	}
}

func TestRecreatedTopicGetsFreshLog(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	adm := b.admin()
	ctx := context.Background()
	for round := 0; round < 5; round++ {
		if _, err := adm.CreateTopic(ctx, 1, 1, nil, "again"); err != nil {
			t.Fatal(err)
		}
		// A fresh client each round: a client caches the old topic id.
		p := b.client(kgo.DefaultProduceTopic("again"))
		if err := p.ProduceSync(ctx, &kgo.Record{Value: []byte(fmt.Sprint(round))}).FirstErr(); err != nil {
			t.Fatal(err)
		}
		ends, err := adm.ListEndOffsets(ctx, "again")
		if err != nil {
			t.Fatal(err)
		}
		if o, _ := ends.Lookup("again", 0); o.Err != nil || o.Offset != 1 {
			t.Fatalf("round %d: end offset %d (%v), want 1: the recreated topic must not see old records", round, o.Offset, o.Err)
		}
		if _, err := adm.DeleteTopic(ctx, "again"); err != nil {
			t.Fatal(err)
		}
	}
	// After a restart, a directory left by a deleted incarnation is not
	// reused for a new topic of the same name.
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "kept"); err != nil {
		t.Fatal(err)
	}
	if err := b.client().ProduceSync(ctx, &kgo.Record{Topic: "kept", Value: []byte("x")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	part, err := b.srv.parts.get("kept", 0)
	if err != nil {
		t.Fatal(err)
	}
	id, ok := readPartitionMetadata(vfs.Default, part.log.Dir())
	if !ok || id != b.srv.ctrl.Snapshot().Topic("kept").ID {
		t.Fatalf("partition.metadata: %x %v", id, ok)
	}
}
