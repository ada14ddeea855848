package broker

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func produceRecs(t *testing.T, cl *kgo.Client, topic string, n, size int, key func(i int) []byte) {
	t.Helper()
	ctx := context.Background()
	var recs []*kgo.Record
	for i := 0; i < n; i++ {
		r := &kgo.Record{Topic: topic, Value: make([]byte, size)}
		rand.Read(r.Value) // incompressible: sizes on disk are predictable
		if key != nil {
			r.Key = key(i)
		}
		recs = append(recs, r)
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

func startOffset(t *testing.T, adm *kadm.Client, topic string) int64 {
	t.Helper()
	lo, err := adm.ListStartOffsets(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	o, _ := lo.Lookup(topic, 0)
	return o.Offset
}

func TestDeleteRecordsKadm(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	adm := b.admin()
	ctx := context.Background()
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "dr"); err != nil {
		t.Fatal(err)
	}
	produceRecs(t, b.client(), "dr", 100, 100, nil)
	del := func(at int64) kadm.DeleteRecordsResponse {
		var os kadm.Offsets
		os.Add(kadm.Offset{Topic: "dr", Partition: 0, At: at})
		resp, err := adm.DeleteRecords(ctx, os)
		if err != nil {
			t.Fatal(err)
		}
		r, _ := resp.Lookup("dr", 0)
		return r
	}
	if r := del(40); r.Err != nil || r.LowWatermark != 40 {
		t.Fatalf("delete to 40: %+v", r)
	}
	if got := startOffset(t, adm, "dr"); got != 40 {
		t.Fatalf("start offset %d", got)
	}
	if r := del(101); !errors.Is(r.Err, kerr.OffsetOutOfRange) {
		t.Fatalf("beyond HW: %+v", r)
	}
	cl := b.client(kgo.ConsumeTopics("dr"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	fs := cl.PollFetches(ctx)
	if recs := fs.Records(); len(recs) == 0 || recs[0].Offset != 40 {
		t.Fatalf("consumed from start: %d records, err %v", len(recs), fs.Err0())
	}
	if r := del(-1); r.Err != nil || r.LowWatermark != 100 {
		t.Fatalf("delete to HW: %+v", r)
	}
	b = b.restart()
	if got := startOffset(t, b.admin(), "dr"); got != 100 {
		t.Fatalf("start offset after restart %d", got)
	}
}

func TestAlterTopicConfigs(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	adm := b.admin()
	ctx := context.Background()
	if _, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{"segment.ms": kmsg.StringPtr("100000")}, "alt"); err != nil {
		t.Fatal(err)
	}
	describe := func() map[string]kadm.Config {
		rcs, err := adm.DescribeTopicConfigs(ctx, "alt")
		if err != nil {
			t.Fatal(err)
		}
		rc, err := rcs.On("alt", nil)
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]kadm.Config{}
		for _, c := range rc.Configs {
			m[c.Key] = c
		}
		return m
	}
	resp, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{
		{Op: kadm.SetConfig, Name: "retention.ms", Value: kmsg.StringPtr("12345")},
		{Op: kadm.AppendConfig, Name: "cleanup.policy", Value: kmsg.StringPtr("compact")},
	}, "alt")
	if err != nil || resp[0].Err != nil {
		t.Fatalf("incremental alter: %v %+v", err, resp)
	}
	m := describe()
	if v := m["retention.ms"]; *v.Value != "12345" || v.Source != kmsg.ConfigSourceDynamicTopicConfig {
		t.Fatalf("retention.ms %+v", v)
	}
	if v := m["cleanup.policy"]; *v.Value != "delete,compact" || *m["segment.ms"].Value != "100000" {
		t.Fatalf("cleanup.policy %q segment.ms %q", *v.Value, *m["segment.ms"].Value)
	}
	// Open logs got the new storage config.
	p, err := b.srv.parts.get("alt", 0)
	if err != nil {
		t.Fatal(err)
	}
	if c := p.log.Config(); c.RetentionMs != 12345 || !c.Compacts() || !c.Deletes() {
		t.Fatalf("log config %+v", c)
	}
	// Non-incremental replaces the whole set.
	resp, err = adm.AlterTopicConfigsState(ctx, []kadm.AlterConfig{{Name: "retention.bytes", Value: kmsg.StringPtr("2000000")}}, "alt")
	if err != nil || resp[0].Err != nil {
		t.Fatalf("alter: %v %+v", err, resp)
	}
	m = describe()
	if *m["retention.bytes"].Value != "2000000" || m["retention.ms"].Source != kmsg.ConfigSourceDefaultConfig || *m["segment.ms"].Value != "604800000" {
		t.Fatalf("after AlterConfigs: %q %v %q", *m["retention.bytes"].Value, m["retention.ms"].Source, *m["segment.ms"].Value)
	}
	if c := p.log.Config(); c.RetentionBytes != 2000000 || c.Compacts() {
		t.Fatalf("log config after AlterConfigs %+v", c)
	}
	for _, c := range []struct {
		name string
		do   func() (kadm.AlterConfigsResponses, error)
		want *kerr.Error
	}{
		{"bad value", func() (kadm.AlterConfigsResponses, error) {
			return adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: "retention.ms", Value: kmsg.StringPtr("soon")}}, "alt")
		}, kerr.InvalidConfig},
		{"unknown topic", func() (kadm.AlterConfigsResponses, error) {
			return adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: "retention.ms", Value: kmsg.StringPtr("1")}}, "nope")
		}, kerr.UnknownTopicOrPartition},
		{"broker read-only key", func() (kadm.AlterConfigsResponses, error) {
			return adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Name: "num.partitions", Value: kmsg.StringPtr("1")}}, 1)
		}, kerr.InvalidRequest},
		{"broker state read-only key", func() (kadm.AlterConfigsResponses, error) {
			return adm.AlterBrokerConfigsState(ctx, []kadm.AlterConfig{{Name: "log.dirs", Value: kmsg.StringPtr("/x")}}, 1)
		}, kerr.InvalidRequest},
	} {
		resp, err := c.do()
		if err == nil && len(resp) > 0 {
			err = resp[0].Err
		}
		if !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	// validate_only stores nothing.
	if _, err := adm.ValidateAlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: "retention.ms", Value: kmsg.StringPtr("5")}}, "alt"); err != nil {
		t.Fatal(err)
	}
	if v := describe()["retention.ms"]; *v.Value == "5" {
		t.Fatalf("validate_only stored the config")
	}
}

func segmentFiles(t *testing.T, b *testBroker, topic string) int {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(b.cfg.Log.Dir, topic+"-0", "*.log"))
	if err != nil {
		t.Fatal(err)
	}
	return len(m)
}

func TestRetentionBySizeEndToEnd(t *testing.T) {
	t.Parallel()
	b := startBroker(t, "log.retention.check.interval.ms=50")
	adm := b.admin()
	ctx := context.Background()
	if _, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{
		"segment.bytes":   kmsg.StringPtr("1048576"),
		"retention.bytes": kmsg.StringPtr("1048576"),
	}, "ret"); err != nil {
		t.Fatal(err)
	}
	cl := b.client(kgo.ProducerBatchMaxBytes(256<<10), kgo.ProducerBatchCompression(kgo.NoCompression()))
	// Fetch while producing, so regions of soon deleted segments are sent
	// (and must be released).
	reader := b.client(kgo.ConsumeTopics("ret"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	for range 5 { // 5 MiB in 32 KiB records
		produceRecs(t, cl, "ret", 32, 32<<10, nil)
		reader.PollFetches(ctx)
	}
	waitFor(t, "retention to delete segments", 10*time.Second, func() bool {
		return startOffset(t, adm, "ret") > 0 && segmentFiles(t, b, "ret") <= 3
	})
	// Every region was released: no descriptor of a deleted segment is left.
	// (Counted by storage: the os.File finalizer would hide a leak from /proc.)
	p, err := b.srv.parts.get("ret", 0)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "deleted segment files to be closed", 5*time.Second, func() bool { return p.log.RetainedSegments() == 0 })
	start := startOffset(t, adm, "ret")
	cons := b.client(kgo.ConsumeTopics("ret"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	fs := cons.PollFetches(ctx)
	if recs := fs.Records(); len(recs) == 0 || recs[0].Offset < start {
		t.Fatalf("consumed from %v (start %d): %v", recs, start, fs.Err0())
	}
}

func TestCompactionEndToEnd(t *testing.T) {
	t.Parallel()
	b := startBroker(t, "log.cleaner.backoff.ms=50")
	adm := b.admin()
	ctx := context.Background()
	if _, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{
		"cleanup.policy": kmsg.StringPtr("compact"),
		"segment.bytes":  kmsg.StringPtr("1048576"),
	}, "cmp"); err != nil {
		t.Fatal(err)
	}
	cl := b.client(kgo.ProducerBatchMaxBytes(256<<10), kgo.ProducerBatchCompression(kgo.ZstdCompression()))
	key := func(i int) []byte { return fmt.Appendf(nil, "key-%d", i%10) }
	for range 4 { // 4 MiB of 10 keys, compressible
		produceRecs(t, cl, "cmp", 256, 16<<10, key)
	}
	// Keyless records are refused.
	err := cl.ProduceSync(ctx, &kgo.Record{Topic: "cmp", Value: []byte("no key")}).FirstErr()
	if !errors.Is(err, kerr.InvalidRecord) {
		t.Fatalf("keyless record: %v", err)
	}
	p, err := b.srv.parts.get("cmp", 0)
	if err != nil {
		t.Fatal(err)
	}
	var size int64
	waitFor(t, "compaction", 20*time.Second, func() bool {
		size = 0
		ents, _ := os.ReadDir(p.log.Dir())
		for _, e := range ents {
			if fi, err := e.Info(); err == nil && filepath.Ext(e.Name()) == ".log" {
				size += fi.Size()
			}
		}
		return size < 2<<20
	})
	// The latest value of every key is still there, at its offset.
	cons := b.client(kgo.ConsumeTopics("cmp"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	latest := map[string]int64{}
	end := p.log.HighWatermark()
	for last := int64(-1); last < end-1; {
		fs := cons.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatal(err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			latest[string(r.Key)] = r.Offset
			last = r.Offset
		})
	}
	want := map[string]int64{}
	for off := range end {
		want[string(key(int(off%256)))] = off // records went in offset order, 256 per call
	}
	for k, off := range want {
		if latest[k] != off {
			t.Fatalf("%s latest at %d, want %d", k, latest[k], off)
		}
	}
}
