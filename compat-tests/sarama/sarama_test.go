// Package sarama runs the compatibility scenarios with IBM/sarama against a
// running gregor. The protocol version is sarama's default (DefaultVersion)
// unless COMPAT_SARAMA_VERSION says otherwise.
package sarama

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/compat-tests/internal/compat"
)

const client = "sarama"

func run(t *testing.T, name string, fn func(t *compat.T)) { compat.Run(t, client, name, fn) }

func config() *sarama.Config {
	c := sarama.NewConfig()
	c.ClientID = "gregor-compat"
	if v := os.Getenv("COMPAT_SARAMA_VERSION"); v != "" {
		if pv, err := sarama.ParseKafkaVersion(v); err == nil {
			c.Version = pv
		}
	}
	c.Producer.Return.Successes = true
	c.Producer.Return.Errors = true
	c.Producer.RequiredAcks = sarama.WaitForAll
	c.Producer.Retry.Max = 3
	c.Producer.Retry.Backoff = 200 * time.Millisecond
	c.Producer.Partitioner = sarama.NewManualPartitioner
	c.Consumer.Return.Errors = true
	c.Metadata.Retry.Backoff = 200 * time.Millisecond
	return c
}

func newClient(t *compat.T, seed string, c *sarama.Config) sarama.Client {
	t.Helper()
	if c == nil {
		c = config()
	}
	cl, err := sarama.NewClient([]string{seed}, c)
	t.Check(err, "new client")
	t.Cleanup(func() { _ = cl.Close() })
	return cl
}

func admin(t *compat.T) sarama.ClusterAdmin {
	t.Helper()
	a, err := sarama.NewClusterAdmin([]string{compat.Bootstrap()}, config())
	t.Check(err, "new cluster admin")
	t.Cleanup(func() { _ = a.Close() })
	return a
}

func createTopic(t *compat.T, topic string, partitions int32, configs map[string]*string) {
	t.Helper()
	t.Check(admin(t).CreateTopic(topic, &sarama.TopicDetail{NumPartitions: partitions, ReplicationFactor: 1, ConfigEntries: configs}, false), "create topic")
}

func produce(t *compat.T, c *sarama.Config, msgs ...*sarama.ProducerMessage) {
	t.Helper()
	if c == nil {
		c = config()
	}
	p, err := sarama.NewSyncProducer([]string{compat.Bootstrap()}, c)
	t.Check(err, "new producer")
	defer p.Close()
	t.Check(p.SendMessages(msgs), "send messages")
}

// consume reads n messages of one partition from offset.
func consume(t *compat.T, topic string, partition int32, offset int64, n int) []*sarama.ConsumerMessage {
	t.Helper()
	return consumeWith(t, config(), topic, partition, offset, n)
}

// consumeWith reads n messages of one partition from offset with a
// consumer of config c.
func consumeWith(t *compat.T, c *sarama.Config, topic string, partition int32, offset int64, n int) []*sarama.ConsumerMessage {
	t.Helper()
	cons, err := sarama.NewConsumer([]string{compat.Bootstrap()}, c)
	t.Check(err, "new consumer")
	defer cons.Close()
	pc, err := cons.ConsumePartition(topic, partition, offset)
	t.Check(err, "consume partition")
	defer pc.Close()
	var out []*sarama.ConsumerMessage
	timeout := time.After(20 * time.Second)
	for len(out) < n {
		select {
		case m := <-pc.Messages():
			out = append(out, m)
		case e := <-pc.Errors():
			t.Fatalf("consume: %v", e)
		case <-timeout:
			t.Fatalf("timed out with %d of %d messages", len(out), n)
		}
	}
	return out
}

func seqMsgs(topic string, n int) []*sarama.ProducerMessage {
	out := make([]*sarama.ProducerMessage, n)
	for i := range out {
		out[i] = &sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(fmt.Sprintf("k%d", i)), Value: sarama.StringEncoder(fmt.Sprintf("value-%06d-%s", i, bytes.Repeat([]byte("y"), i%50)))}
	}
	return out
}

func checkSeq(t *compat.T, got []*sarama.ConsumerMessage, want []*sarama.ProducerMessage, first int64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d messages, want %d", len(got), len(want))
	}
	for i, m := range got {
		wk, _ := want[i].Key.Encode()
		wv, _ := want[i].Value.Encode()
		if m.Offset != first+int64(i) || !bytes.Equal(m.Key, wk) || !bytes.Equal(m.Value, wv) {
			t.Fatalf("message %d: offset %d key %q value %q, want offset %d key %q value %q", i, m.Offset, m.Key, m.Value, first+int64(i), wk, wv)
		}
	}
}

func TestMetadata(t *testing.T) {
	run(t, "metadata", func(t *compat.T) {
		topic := compat.Topic(client, "metadata")
		createTopic(t, topic, 3, nil)
		cl := newClient(t, compat.Bootstrap(), nil)
		bs := cl.Brokers()
		if len(bs) != 1 || bs[0].Addr() != compat.Bootstrap() {
			t.Fatalf("brokers: %d, first %v; want one at %s", len(bs), bs, compat.Bootstrap())
		}
		t.Check(cl.RefreshMetadata(topic), "refresh metadata")
		ps, err := cl.Partitions(topic)
		t.Check(err, "partitions")
		if len(ps) != 3 {
			t.Fatalf("%d partitions, want 3", len(ps))
		}
		for _, p := range ps {
			l, err := cl.Leader(topic, p)
			t.Check(err, "leader")
			if l.ID() != bs[0].ID() {
				t.Fatalf("partition %d led by %d", p, l.ID())
			}
		}
		ctl, err := cl.Controller()
		t.Check(err, "controller")
		t.Detail("1 broker %s (id %d, controller %d), 3 partitions, protocol %s", bs[0].Addr(), bs[0].ID(), ctl.ID(), config().Version)
	})
}

func TestProduceConsume(t *testing.T) {
	run(t, "produce_consume", func(t *compat.T) {
		topic := compat.Topic(client, "produce_consume")
		createTopic(t, topic, 1, nil)
		bin := make([]byte, 256)
		for i := range bin {
			bin[i] = byte(i)
		}
		ts := time.UnixMilli(time.Now().UnixMilli() - 3600_000)
		type rec struct {
			k, v []byte
			h    []sarama.RecordHeader
		}
		want := []rec{
			{[]byte("key-1"), []byte("value-1"), []sarama.RecordHeader{{Key: []byte("h1"), Value: []byte("v1")}, {Key: []byte("h1"), Value: []byte("dup")}}},
			{nil, []byte("null key"), nil},
			{[]byte("tombstone"), nil, nil},
			{bin, bytes.Repeat(bin, 40), []sarama.RecordHeader{{Key: []byte("bin"), Value: bin}}},
		}
		var msgs []*sarama.ProducerMessage
		for _, r := range want {
			m := &sarama.ProducerMessage{Topic: topic, Headers: r.h, Timestamp: ts}
			if r.k != nil {
				m.Key = sarama.ByteEncoder(r.k)
			}
			if r.v != nil {
				m.Value = sarama.ByteEncoder(r.v)
			}
			msgs = append(msgs, m)
		}
		produce(t, nil, msgs...)
		got := consume(t, topic, 0, sarama.OffsetOldest, len(want))
		for i, g := range got {
			w := want[i]
			if g.Offset != int64(i) || !same(g.Key, w.k) || !same(g.Value, w.v) {
				t.Fatalf("message %d: offset %d key %q (nil=%v) value %q (nil=%v)", i, g.Offset, g.Key, g.Key == nil, g.Value, g.Value == nil)
			}
			if len(g.Headers) != len(w.h) {
				t.Fatalf("message %d: %d headers, want %d", i, len(g.Headers), len(w.h))
			}
			for j, h := range g.Headers {
				if !bytes.Equal(h.Key, w.h[j].Key) || !bytes.Equal(h.Value, w.h[j].Value) {
					t.Fatalf("message %d header %d: %q=%q", i, j, h.Key, h.Value)
				}
			}
			if !g.Timestamp.Equal(ts) {
				t.Fatalf("message %d: timestamp %v, want %v", i, g.Timestamp, ts)
			}
		}
		t.Detail("4 messages byte-exact (null key, null value, binary, headers, timestamps)")
	})
}

func same(a, b []byte) bool { return (a == nil) == (b == nil) && bytes.Equal(a, b) }

func TestCodecs(t *testing.T) {
	for _, c := range []struct {
		name  string
		codec sarama.CompressionCodec
		id    int16
	}{{"none", sarama.CompressionNone, 0}, {"gzip", sarama.CompressionGZIP, 1}, {"snappy", sarama.CompressionSnappy, 2}, {"lz4", sarama.CompressionLZ4, 3}, {"zstd", sarama.CompressionZSTD, 4}} {
		run(t, "codec_"+c.name, func(t *compat.T) {
			topic := compat.Topic(client, "codec_"+c.name)
			createTopic(t, topic, 1, nil)
			conf := config()
			conf.Producer.Compression = c.codec
			conf.Producer.Flush.Messages = 500
			conf.Producer.Flush.Frequency = 200 * time.Millisecond
			want := seqMsgs(topic, 500)
			produce(t, conf, want...)
			checkSeq(t, consume(t, topic, 0, sarama.OffsetOldest, 500), want, 0)
			n, err := compat.CheckCodec(topic, 0, c.id)
			t.Check(err, "stored batches")
			t.Detail("500 messages in %d %s batches, read back in order", n, c.name)
		})
	}
}

func TestIdempotent(t *testing.T) {
	run(t, "idempotent", func(t *compat.T) {
		topic := compat.Topic(client, "idempotent")
		createTopic(t, topic, 1, nil)
		conf := config()
		conf.Producer.Idempotent = true
		conf.Net.MaxOpenRequests = 1
		want := seqMsgs(topic, 300)
		produce(t, conf, want...)
		checkSeq(t, consume(t, topic, 0, sarama.OffsetOldest, 300), want, 0)
		bs, err := compat.FetchBatches(topic, 0)
		t.Check(err, "stored batches")
		seq := int32(0)
		for _, b := range bs {
			if b.ProducerID < 0 || b.Sequence != seq {
				t.Fatalf("batch at %d: producer id %d sequence %d, want id >= 0 and sequence %d", b.BaseOffset, b.ProducerID, b.Sequence, seq)
			}
			seq += b.Records
		}
		t.Detail("300 messages in %d batches, producer id %d, contiguous sequences", len(bs), bs[0].ProducerID)
	})
}

func TestAcks(t *testing.T) {
	for _, a := range []struct {
		name string
		acks sarama.RequiredAcks
	}{{"0", sarama.NoResponse}, {"1", sarama.WaitForLocal}, {"all", sarama.WaitForAll}} {
		run(t, "acks_"+a.name, func(t *compat.T) {
			topic := compat.Topic(client, "acks_"+a.name)
			createTopic(t, topic, 1, nil)
			conf := config()
			conf.Producer.RequiredAcks = a.acks
			want := seqMsgs(topic, 200)
			produce(t, conf, want...)
			checkSeq(t, consume(t, topic, 0, sarama.OffsetOldest, 200), want, 0)
			t.Detail("200 messages acks=%s read back in order", a.name)
		})
	}
}

func TestConsumeFrom(t *testing.T) {
	setup := func(t *compat.T, name string) (string, []*sarama.ProducerMessage, time.Time) {
		topic := compat.Topic(client, name)
		createTopic(t, topic, 1, nil)
		base := time.UnixMilli(time.Now().UnixMilli() - 100_000)
		want := seqMsgs(topic, 10)
		for i, m := range want {
			m.Timestamp = base.Add(time.Duration(i) * time.Second)
		}
		produce(t, nil, want...)
		return topic, want, base
	}
	run(t, "consume_earliest", func(t *compat.T) {
		topic, want, _ := setup(t, "consume_earliest")
		checkSeq(t, consume(t, topic, 0, sarama.OffsetOldest, 10), want, 0)
		t.Detail("10 messages from offset 0")
	})
	run(t, "consume_latest", func(t *compat.T) {
		topic, _, _ := setup(t, "consume_latest")
		cons, err := sarama.NewConsumer([]string{compat.Bootstrap()}, config())
		t.Check(err, "consumer")
		defer cons.Close()
		pc, err := cons.ConsumePartition(topic, 0, sarama.OffsetNewest) // resolves "latest" now
		t.Check(err, "consume partition")
		defer pc.Close()
		more := seqMsgs(topic, 13)[10:]
		produce(t, nil, more...)
		var got []*sarama.ConsumerMessage
		for len(got) < 3 {
			select {
			case m := <-pc.Messages():
				got = append(got, m)
			case <-time.After(15 * time.Second):
				t.Fatalf("got %d of 3 messages", len(got))
			}
		}
		checkSeq(t, got, more, 10)
		t.Detail("only the 3 messages produced after joining at offset 10")
	})
	run(t, "consume_timestamp", func(t *compat.T) {
		topic, want, base := setup(t, "consume_timestamp")
		cl := newClient(t, compat.Bootstrap(), nil)
		off, err := cl.GetOffset(topic, 0, base.Add(4500*time.Millisecond).UnixMilli())
		t.Check(err, "offset for timestamp")
		if off != 5 {
			t.Fatalf("offset for timestamp of message 4 + 0.5s = %d, want 5", off)
		}
		checkSeq(t, consume(t, topic, 0, off, 5), want[5:], 5)
		t.Detail("timestamp resolved to offset 5, read 5..9")
	})
}

func TestListOffsets(t *testing.T) {
	run(t, "list_offsets", func(t *compat.T) {
		topic := compat.Topic(client, "list_offsets")
		createTopic(t, topic, 2, nil)
		base := time.UnixMilli(time.Now().UnixMilli() - 100_000)
		msgs := seqMsgs(topic, 7)
		for i, m := range msgs {
			m.Timestamp = base.Add(time.Duration(i) * time.Second)
		}
		produce(t, nil, msgs...)
		cl := newClient(t, compat.Bootstrap(), nil)
		check := func(what string, p int32, at, want int64) {
			t.Helper()
			o, err := cl.GetOffset(topic, p, at)
			t.Check(err, what)
			if o != want {
				t.Fatalf("%s partition %d: %d, want %d", what, p, o, want)
			}
		}
		check("oldest", 0, sarama.OffsetOldest, 0)
		check("newest", 0, sarama.OffsetNewest, 7)
		check("newest", 1, sarama.OffsetNewest, 0)
		check("by timestamp", 0, base.Add(1500*time.Millisecond).UnixMilli(), 2)
		check("after all", 0, base.Add(time.Hour).UnixMilli(), -1)
		t.Detail("oldest 0, newest 7/0, by-timestamp 2, after-all -1")
	})
}

func TestAdmin(t *testing.T) {
	run(t, "admin_topics", func(t *compat.T) {
		adm := admin(t)
		topic := compat.Topic(client, "admin_topics")
		ret := "12345678"
		t.Check(adm.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: 3, ReplicationFactor: 1, ConfigEntries: map[string]*string{"retention.ms": &ret}}, false), "create topic")
		err := adm.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: 3, ReplicationFactor: 1}, false)
		var te *sarama.TopicError
		if !errors.As(err, &te) || te.Err != sarama.ErrTopicAlreadyExists {
			t.Fatalf("second create: %v, want TOPIC_ALREADY_EXISTS", err)
		}
		md, err := adm.DescribeTopics([]string{topic})
		t.Check(err, "describe topics")
		if len(md) != 1 || md[0].Err != sarama.ErrNoError || len(md[0].Partitions) != 3 {
			t.Fatalf("describe: %+v", md)
		}
		list, err := adm.ListTopics()
		t.Check(err, "list topics")
		d, ok := list[topic]
		if !ok || d.NumPartitions != 3 || d.ConfigEntries["retention.ms"] == nil || *d.ConfigEntries["retention.ms"] != ret {
			t.Fatalf("list topics entry %+v (present %v)", d, ok)
		}
		t.Check(adm.DeleteTopic(topic), "delete topic")
		list, err = adm.ListTopics()
		t.Check(err, "list topics")
		if _, ok := list[topic]; ok {
			t.Fatalf("topic listed after delete")
		}
		if err := adm.DeleteTopic(topic); !errors.Is(err, sarama.ErrUnknownTopicOrPartition) {
			t.Fatalf("delete again: %v, want UNKNOWN_TOPIC_OR_PARTITION", err)
		}
		t.Detail("create with config, duplicate refused, describe, list with configs, delete, delete again refused")
	})
	run(t, "admin_create_partitions", func(t *compat.T) {
		adm := admin(t)
		topic := compat.Topic(client, "admin_create_partitions")
		createTopic(t, topic, 2, nil)
		t.Check(adm.CreatePartitions(topic, 5, nil, false), "create partitions")
		md, err := adm.DescribeTopics([]string{topic})
		t.Check(err, "describe")
		if len(md[0].Partitions) != 5 {
			t.Fatalf("%d partitions after growing to 5", len(md[0].Partitions))
		}
		produce(t, nil, &sarama.ProducerMessage{Topic: topic, Partition: 4, Value: sarama.StringEncoder("in new partition")})
		got := consume(t, topic, 4, sarama.OffsetOldest, 1)
		if string(got[0].Value) != "in new partition" {
			t.Fatalf("read %q", got[0].Value)
		}
		if err := adm.CreatePartitions(topic, 3, nil, false); err == nil {
			t.Fatalf("shrinking to 3 partitions succeeded")
		}
		t.Detail("2 -> 5 partitions, produce/consume on partition 4, shrink refused")
	})
	run(t, "admin_describe_configs", func(t *compat.T) {
		adm := admin(t)
		topic := compat.Topic(client, "admin_describe_configs")
		ret := "12345678"
		createTopic(t, topic, 1, map[string]*string{"retention.ms": &ret})
		entries, err := adm.DescribeConfig(sarama.ConfigResource{Type: sarama.TopicResource, Name: topic})
		t.Check(err, "describe config")
		vals := map[string]sarama.ConfigEntry{}
		for _, e := range entries {
			vals[e.Name] = e
		}
		if e := vals["retention.ms"]; e.Value != ret || e.Default {
			t.Fatalf("retention.ms = %q default=%v source=%v, want %s non-default", e.Value, e.Default, e.Source, ret)
		}
		if e := vals["cleanup.policy"]; e.Value != "delete" {
			t.Fatalf("cleanup.policy = %q", e.Value)
		}
		bentries, err := adm.DescribeConfig(sarama.ConfigResource{Type: sarama.BrokerResource, Name: "1"})
		t.Check(err, "describe broker config")
		found := ""
		for _, e := range bentries {
			if e.Name == "message.max.bytes" {
				found = e.Value
			}
		}
		if found != "1048588" {
			t.Fatalf("broker message.max.bytes = %q", found)
		}
		t.Detail("topic retention.ms, cleanup.policy; broker message.max.bytes")
	})
	run(t, "admin_alter_configs", func(t *compat.T) {
		compat.RequireAPIs(t, kmsg.AlterConfigs)
		adm := admin(t)
		topic := compat.Topic(client, "admin_alter_configs")
		createTopic(t, topic, 1, nil)
		v := "7654321"
		t.Check(adm.AlterConfig(sarama.TopicResource, topic, map[string]*string{"retention.ms": &v}, false), "alter config")
		entries, err := adm.DescribeConfig(sarama.ConfigResource{Type: sarama.TopicResource, Name: topic})
		t.Check(err, "describe config")
		for _, e := range entries {
			if e.Name == "retention.ms" && e.Value != v {
				t.Fatalf("retention.ms after AlterConfigs = %q, want %q", e.Value, v)
			}
		}
		t.Detail("AlterConfigs retention.ms, described back")
	})
	// The next two follow sarama's own functional tests
	// TestFuncAdminIncrementalAlterConfigs and TestFuncAdminDescribeLogDirs
	// (newest versions, negotiated), against one broker of node id 1.
	newest := func() *sarama.Config {
		c := config()
		c.Version, c.ApiVersionsRequest = sarama.MaxVersion, true
		return c
	}
	run(t, "admin_incremental_alter_broker_configs", func(t *compat.T) {
		compat.RequireAPIs(t, kmsg.IncrementalAlterConfigs)
		adm, err := sarama.NewClusterAdmin([]string{compat.Bootstrap()}, newest())
		t.Check(err, "new cluster admin")
		t.Cleanup(func() { _ = adm.Close() })
		get := func() int {
			res, err := adm.DescribeConfig(sarama.ConfigResource{Type: sarama.BrokerResource, Name: "1", ConfigNames: []string{"log.cleaner.backoff.ms"}})
			t.Check(err, "describe broker config")
			if len(res) != 1 || res[0].Name != "log.cleaner.backoff.ms" {
				t.Fatalf("described %+v", res)
			}
			n, err := strconv.Atoi(res[0].Value)
			t.Check(err, "parse value")
			return n
		}
		n := get() + 1
		v := strconv.Itoa(n)
		t.Check(adm.IncrementalAlterConfig(sarama.BrokerResource, "1", map[string]sarama.IncrementalAlterConfigsEntry{
			"log.cleaner.backoff.ms": {Operation: sarama.IncrementalAlterConfigsOperationSet, Value: &v},
		}, false), "incremental alter broker config")
		if got := get(); got != n {
			t.Fatalf("log.cleaner.backoff.ms after the alter = %d, want %d", got, n)
		}
		t.Detail("log.cleaner.backoff.ms set on broker 1, described back")
	})
	run(t, "admin_describe_log_dirs", func(t *compat.T) {
		compat.RequireAPIs(t, kmsg.DescribeLogDirs)
		adm, err := sarama.NewClusterAdmin([]string{compat.Bootstrap()}, newest())
		t.Check(err, "new cluster admin")
		t.Cleanup(func() { _ = adm.Close() })
		res, err := adm.DescribeLogDirs([]int32{1})
		t.Check(err, "describe log dirs")
		if len(res) != 1 {
			t.Fatalf("%d broker replies, want 1", len(res))
		}
		for _, dirs := range res {
			for _, d := range dirs {
				if d.ErrorCode != sarama.ErrNoError || d.TotalBytes == 0 || d.UsableBytes == 0 {
					t.Fatalf("log dir %s: error %v total %d usable %d", d.Path, d.ErrorCode, d.TotalBytes, d.UsableBytes)
				}
			}
		}
		t.Detail("one log dir with total and usable bytes")
	})
}

type groupHandler struct {
	mu       sync.Mutex
	msgs     []*sarama.ConsumerMessage
	claims   chan map[int32]bool
	stopAt   int
	markUpTo int64
}

func (h *groupHandler) Setup(s sarama.ConsumerGroupSession) error {
	c := map[int32]bool{}
	for _, ps := range s.Claims() {
		for _, p := range ps {
			c[p] = true
		}
	}
	select {
	case h.claims <- c:
	default:
	}
	return nil
}
func (h *groupHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }
func (h *groupHandler) ConsumeClaim(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	for m := range c.Messages() {
		h.mu.Lock()
		h.msgs = append(h.msgs, m)
		if h.markUpTo < 0 || m.Offset < h.markUpTo {
			s.MarkMessage(m, "")
		}
		h.mu.Unlock()
	}
	return nil
}

func (h *groupHandler) count() int { h.mu.Lock(); defer h.mu.Unlock(); return len(h.msgs) }

func startGroup(t *compat.T, group, topic string, h *groupHandler) (sarama.ConsumerGroup, context.CancelFunc) {
	t.Helper()
	conf := config()
	conf.Consumer.Offsets.Initial = sarama.OffsetOldest
	conf.Consumer.Offsets.AutoCommit.Interval = 100 * time.Millisecond
	cg, err := sarama.NewConsumerGroup([]string{compat.Bootstrap()}, group, conf)
	t.Check(err, "new consumer group")
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for ctx.Err() == nil {
			if err := cg.Consume(ctx, []string{topic}, h); err != nil {
				return
			}
		}
	}()
	return cg, cancel
}

func newHandler() *groupHandler {
	return &groupHandler{claims: make(chan map[int32]bool, 16), markUpTo: -1}
}

func waitClaims(t *compat.T, h *groupHandler, n int) map[int32]bool {
	t.Helper()
	deadline := time.After(60 * time.Second)
	for {
		select {
		case c := <-h.claims:
			if len(c) == n {
				return c
			}
		case <-deadline:
			t.Fatalf("member never claimed %d partitions", n)
		}
	}
}

func waitCount(t *compat.T, h *groupHandler, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for h.count() < n {
		if time.Now().After(deadline) {
			t.Fatalf("group consumed %d of %d messages", h.count(), n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestGroups(t *testing.T) {
	run(t, "group_join", func(t *compat.T) {
		compat.RequireAPIs(t, compat.GroupAPIs...)
		topic := compat.Topic(client, "group_join")
		createTopic(t, topic, 1, nil)
		want := seqMsgs(topic, 30)
		produce(t, nil, want...)
		h := newHandler()
		cg, cancel := startGroup(t, "g-"+topic, topic, h)
		defer func() { cancel(); cg.Close() }()
		waitCount(t, h, 30)
		h.mu.Lock()
		got := append([]*sarama.ConsumerMessage(nil), h.msgs...)
		h.mu.Unlock()
		checkSeq(t, got, want, 0)
		t.Detail("1 member read 30 messages in order")
	})
	run(t, "group_rebalance", func(t *compat.T) {
		compat.RequireAPIs(t, compat.GroupAPIs...)
		topic := compat.Topic(client, "group_rebalance")
		createTopic(t, topic, 4, nil)
		g := "g-" + topic
		ha := newHandler()
		cga, cancelA := startGroup(t, g, topic, ha)
		defer func() { cancelA(); cga.Close() }()
		waitClaims(t, ha, 4)
		hb := newHandler()
		cgb, cancelB := startGroup(t, g, topic, hb)
		cb := waitClaims(t, hb, 2)
		ca := waitClaims(t, ha, 2)
		for p := range ca {
			if cb[p] {
				t.Fatalf("partition %d claimed by both members", p)
			}
		}
		cancelB()
		t.Check(cgb.Close(), "close member b")
		waitClaims(t, ha, 4)
		t.Detail("4 partitions: 4 -> 2+2 (disjoint) -> 4 after a member left")
	})
	run(t, "group_commit_resume", func(t *compat.T) {
		compat.RequireAPIs(t, compat.GroupAPIs...)
		topic := compat.Topic(client, "group_commit_resume")
		createTopic(t, topic, 1, nil)
		want := seqMsgs(topic, 20)
		produce(t, nil, want[:10]...)
		g := "g-" + topic
		h1 := newHandler()
		cg1, cancel1 := startGroup(t, g, topic, h1)
		waitCount(t, h1, 10)
		cancel1()
		t.Check(cg1.Close(), "close first member") // commits marked offsets
		produce(t, nil, want[10:]...)
		h2 := newHandler()
		cg2, cancel2 := startGroup(t, g, topic, h2)
		defer func() { cancel2(); cg2.Close() }()
		waitCount(t, h2, 10)
		time.Sleep(300 * time.Millisecond)
		h2.mu.Lock()
		got := append([]*sarama.ConsumerMessage(nil), h2.msgs...)
		h2.mu.Unlock()
		checkSeq(t, got, want[10:], 10)
		t.Detail("first member committed 10, second resumed at 10..19")
	})
}

func TestErrors(t *testing.T) {
	run(t, "err_unknown_topic", func(t *compat.T) {
		seed := compat.BootstrapNoAuto()
		if seed == "" {
			t.Fatalf("COMPAT_BOOTSTRAP_NOAUTO not set")
		}
		topic := compat.Topic(client, "err_unknown_topic")
		conf := config()
		conf.Metadata.Retry.Max = 1
		conf.Producer.Retry.Max = 1
		p, err := sarama.NewSyncProducer([]string{seed}, conf)
		t.Check(err, "producer")
		defer p.Close()
		_, _, err = p.SendMessage(&sarama.ProducerMessage{Topic: topic, Value: sarama.StringEncoder("x")})
		if !errors.Is(err, sarama.ErrUnknownTopicOrPartition) {
			t.Fatalf("produce to unknown topic: %v, want UNKNOWN_TOPIC_OR_PARTITION", err)
		}
		cl := newClient(t, seed, nil)
		topics, err := cl.Topics()
		t.Check(err, "topics")
		for _, tp := range topics {
			if tp == topic {
				t.Fatalf("topic was created although auto-create is off")
			}
		}
		t.Detail("UNKNOWN_TOPIC_OR_PARTITION, topic not created")
	})
	run(t, "err_message_too_large", func(t *compat.T) {
		topic := compat.Topic(client, "err_message_too_large")
		createTopic(t, topic, 1, nil)
		conf := config()
		conf.Producer.MaxMessageBytes = 4 << 20
		conf.Producer.Retry.Max = 0
		big := make([]byte, 1100*1024)
		compat.RandomFill(big)
		p, err := sarama.NewSyncProducer([]string{compat.Bootstrap()}, conf)
		t.Check(err, "producer")
		defer p.Close()
		_, _, err = p.SendMessage(&sarama.ProducerMessage{Topic: topic, Value: sarama.ByteEncoder(big)})
		if !errors.Is(err, sarama.ErrMessageSizeTooLarge) {
			t.Fatalf("producing %d bytes: %v, want MESSAGE_TOO_LARGE", len(big), err)
		}
		produce(t, nil, &sarama.ProducerMessage{Topic: topic, Value: sarama.StringEncoder("fits")})
		got := consume(t, topic, 0, sarama.OffsetOldest, 1)
		if got[0].Offset != 0 || string(got[0].Value) != "fits" {
			t.Fatalf("log holds offset %d %q", got[0].Offset, got[0].Value)
		}
		t.Detail("1.1 MB message refused with MESSAGE_TOO_LARGE; log unchanged")
	})
	run(t, "err_offset_out_of_range", func(t *compat.T) {
		topic := compat.Topic(client, "err_offset_out_of_range")
		createTopic(t, topic, 1, nil)
		want := seqMsgs(topic, 5)
		produce(t, nil, want...)
		cons, err := sarama.NewConsumer([]string{compat.Bootstrap()}, config())
		t.Check(err, "consumer")
		defer cons.Close()
		if _, err := cons.ConsumePartition(topic, 0, 100); !errors.Is(err, sarama.ErrOffsetOutOfRange) {
			t.Fatalf("consuming at 100 of 5: %v, want OFFSET_OUT_OF_RANGE", err)
		}
		// sarama leaves the reset to the application: start at oldest.
		checkSeq(t, consume(t, topic, 0, sarama.OffsetOldest, 5), want, 0)
		t.Detail("OFFSET_OUT_OF_RANGE at 100, reset to oldest read 0..4")
	})
}
