// Package kafkago runs the compatibility scenarios with segmentio/kafka-go
// against a running gregor. kafka-go opens connections with Metadata v1 and
// has no idempotent producer, so it has no idempotent scenario.
package kafkago

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/compress"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/compat-tests/internal/compat"
)

const client = "kafka-go"

func run(t *testing.T, name string, fn func(t *compat.T)) { compat.Run(t, client, name, fn) }

func ctxT(t *compat.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func kclient(seed string) *kafka.Client {
	// A transport per client: kafka-go transports cache metadata, and a
	// shared cache would hide what the broker answers now.
	return &kafka.Client{Addr: kafka.TCP(seed), Timeout: 15 * time.Second, Transport: &kafka.Transport{}}
}

func createTopic(t *compat.T, topic string, partitions int, configs ...kafka.ConfigEntry) {
	t.Helper()
	resp, err := kclient(compat.Bootstrap()).CreateTopics(ctxT(t, 15*time.Second), &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{Topic: topic, NumPartitions: partitions, ReplicationFactor: 1, ConfigEntries: configs}}})
	t.Check(err, "create topics")
	t.Check(resp.Errors[topic], "create topic")
}

func writer(topic string) *kafka.Writer {
	return &kafka.Writer{Addr: kafka.TCP(compat.Bootstrap()), Transport: &kafka.Transport{}, Topic: topic, Balancer: &kafka.LeastBytes{}, RequiredAcks: kafka.RequireAll, BatchTimeout: 20 * time.Millisecond, BatchSize: 1000, MaxAttempts: 3}
}

func write(t *compat.T, w *kafka.Writer, msgs ...kafka.Message) {
	t.Helper()
	defer w.Close()
	t.Check(w.WriteMessages(ctxT(t, 30*time.Second), msgs...), "write messages")
}

func reader(topic string, partition int) *kafka.Reader {
	return kafka.NewReader(kafka.ReaderConfig{Brokers: []string{compat.Bootstrap()}, Topic: topic, Partition: partition, MinBytes: 1, MaxBytes: 10 << 20, MaxWait: 200 * time.Millisecond})
}

func read(t *compat.T, r *kafka.Reader, n int) []kafka.Message {
	t.Helper()
	ctx := ctxT(t, 20*time.Second)
	var out []kafka.Message
	for len(out) < n {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("read %d of %d: %v", len(out), n, err)
		}
		out = append(out, m)
	}
	return out
}

func readFrom(t *compat.T, topic string, offset int64, n int) []kafka.Message {
	t.Helper()
	r := reader(topic, 0)
	defer r.Close()
	t.Check(r.SetOffset(offset), "set offset")
	return read(t, r, n)
}

func seqMsgs(n int) []kafka.Message {
	out := make([]kafka.Message, n)
	for i := range out {
		out[i] = kafka.Message{Key: []byte(fmt.Sprintf("k%d", i)), Value: []byte(fmt.Sprintf("value-%06d-%s", i, bytes.Repeat([]byte("z"), i%50)))}
	}
	return out
}

func checkSeq(t *compat.T, got, want []kafka.Message, first int64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d messages, want %d", len(got), len(want))
	}
	for i, m := range got {
		if m.Offset != first+int64(i) || !bytes.Equal(m.Key, want[i].Key) || !bytes.Equal(m.Value, want[i].Value) {
			t.Fatalf("message %d: offset %d key %q value %q, want offset %d key %q value %q", i, m.Offset, m.Key, m.Value, first+int64(i), want[i].Key, want[i].Value)
		}
	}
}

func TestMetadata(t *testing.T) {
	run(t, "metadata", func(t *compat.T) {
		topic := compat.Topic(client, "metadata")
		createTopic(t, topic, 3)
		// kafka.Dial speaks Metadata v1, as every kafka-go connection does.
		conn, err := kafka.Dial("tcp", compat.Bootstrap())
		t.Check(err, "dial")
		defer conn.Close()
		brokers, err := conn.Brokers()
		t.Check(err, "brokers")
		host, port, _ := net.SplitHostPort(compat.Bootstrap())
		if len(brokers) != 1 || brokers[0].Host != host || strconv.Itoa(brokers[0].Port) != port {
			t.Fatalf("brokers %+v, want one at %s", brokers, compat.Bootstrap())
		}
		ctl, err := conn.Controller()
		t.Check(err, "controller")
		parts, err := conn.ReadPartitions(topic)
		t.Check(err, "read partitions")
		if len(parts) != 3 {
			t.Fatalf("%d partitions, want 3", len(parts))
		}
		for _, p := range parts {
			if p.Leader.ID != brokers[0].ID || p.Leader.Host != host {
				t.Fatalf("partition %d leader %+v", p.ID, p.Leader)
			}
		}
		md, err := kclient(compat.Bootstrap()).Metadata(ctxT(t, 10*time.Second), &kafka.MetadataRequest{Topics: []string{topic}})
		t.Check(err, "metadata (kafka.Client)")
		if len(md.Topics) != 1 || len(md.Topics[0].Partitions) != 3 || md.Topics[0].Error != nil {
			t.Fatalf("kafka.Client metadata %+v", md.Topics)
		}
		t.Detail("Metadata v1 via Conn: 1 broker %s:%d (controller %d), 3 partitions", brokers[0].Host, brokers[0].Port, ctl.ID)
	})
}

func TestProduceConsume(t *testing.T) {
	run(t, "produce_consume", func(t *compat.T) {
		topic := compat.Topic(client, "produce_consume")
		createTopic(t, topic, 1)
		bin := make([]byte, 256)
		for i := range bin {
			bin[i] = byte(i)
		}
		ts := time.UnixMilli(time.Now().UnixMilli() - 3600_000)
		want := []kafka.Message{
			{Key: []byte("key-1"), Value: []byte("value-1"), Headers: []kafka.Header{{Key: "h1", Value: []byte("v1")}, {Key: "h1", Value: []byte("dup")}}},
			{Key: nil, Value: []byte("null key")},
			{Key: []byte("tombstone"), Value: nil},
			{Key: bin, Value: bytes.Repeat(bin, 40), Headers: []kafka.Header{{Key: "bin", Value: bin}}},
		}
		for i := range want {
			want[i].Time = ts
		}
		write(t, writer(topic), want...)
		got := readFrom(t, topic, kafka.FirstOffset, len(want))
		for i, g := range got {
			w := want[i]
			if g.Offset != int64(i) || !same(g.Key, w.Key) || !same(g.Value, w.Value) {
				t.Fatalf("message %d: offset %d key %q (nil=%v) value %q (nil=%v)", i, g.Offset, g.Key, g.Key == nil, g.Value, g.Value == nil)
			}
			if len(g.Headers) != len(w.Headers) {
				t.Fatalf("message %d: %d headers, want %d", i, len(g.Headers), len(w.Headers))
			}
			for j, h := range g.Headers {
				if h.Key != w.Headers[j].Key || !bytes.Equal(h.Value, w.Headers[j].Value) {
					t.Fatalf("message %d header %d: %q=%q", i, j, h.Key, h.Value)
				}
			}
			if !g.Time.Equal(ts) {
				t.Fatalf("message %d: time %v, want %v", i, g.Time, ts)
			}
		}
		t.Detail("4 messages byte-exact (null key, null value, binary, headers, timestamps)")
	})
}

func same(a, b []byte) bool { return (a == nil) == (b == nil) && bytes.Equal(a, b) }

func TestCodecs(t *testing.T) {
	for _, c := range []struct {
		name  string
		codec compress.Compression
		id    int16
	}{{"none", 0, 0}, {"gzip", kafka.Gzip, 1}, {"snappy", kafka.Snappy, 2}, {"lz4", kafka.Lz4, 3}, {"zstd", kafka.Zstd, 4}} {
		run(t, "codec_"+c.name, func(t *compat.T) {
			topic := compat.Topic(client, "codec_"+c.name)
			createTopic(t, topic, 1)
			w := writer(topic)
			w.Compression = c.codec
			want := seqMsgs(500)
			write(t, w, want...)
			checkSeq(t, readFrom(t, topic, kafka.FirstOffset, 500), want, 0)
			n, err := compat.CheckCodec(topic, 0, c.id)
			t.Check(err, "stored batches")
			t.Detail("500 messages in %d %s batches, read back in order", n, c.name)
		})
	}
}

func TestAcks(t *testing.T) {
	for _, a := range []struct {
		name string
		acks kafka.RequiredAcks
	}{{"0", kafka.RequireNone}, {"1", kafka.RequireOne}, {"all", kafka.RequireAll}} {
		run(t, "acks_"+a.name, func(t *compat.T) {
			topic := compat.Topic(client, "acks_"+a.name)
			createTopic(t, topic, 1)
			w := writer(topic)
			w.RequiredAcks = a.acks
			want := seqMsgs(200)
			write(t, w, want...)
			checkSeq(t, readFrom(t, topic, kafka.FirstOffset, 200), want, 0)
			t.Detail("200 messages acks=%s read back in order", a.name)
		})
	}
}

func TestConsumeFrom(t *testing.T) {
	setup := func(t *compat.T, name string) (string, []kafka.Message, time.Time) {
		topic := compat.Topic(client, name)
		createTopic(t, topic, 1)
		base := time.UnixMilli(time.Now().UnixMilli() - 100_000)
		want := seqMsgs(10)
		for i := range want {
			want[i].Time = base.Add(time.Duration(i) * time.Second)
		}
		write(t, writer(topic), want...)
		return topic, want, base
	}
	run(t, "consume_earliest", func(t *compat.T) {
		topic, want, _ := setup(t, "consume_earliest")
		checkSeq(t, readFrom(t, topic, kafka.FirstOffset, 10), want, 0)
		t.Detail("10 messages from offset 0")
	})
	run(t, "consume_latest", func(t *compat.T) {
		topic, _, _ := setup(t, "consume_latest")
		r := reader(topic, 0)
		defer r.Close()
		t.Check(r.SetOffset(kafka.LastOffset), "set offset")
		// The reader resolves "last" when it first fetches; start it.
		type res struct {
			msgs []kafka.Message
			err  error
		}
		ch := make(chan res, 1)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			var out []kafka.Message
			for len(out) < 3 {
				m, err := r.ReadMessage(ctx)
				if err != nil {
					ch <- res{out, err}
					return
				}
				out = append(out, m)
			}
			ch <- res{out, nil}
		}()
		time.Sleep(2 * time.Second)
		more := seqMsgs(13)[10:]
		write(t, writer(topic), more...)
		got := <-ch
		t.Check(got.err, "read")
		checkSeq(t, got.msgs, more, 10)
		t.Detail("only the 3 messages produced after joining at offset 10")
	})
	run(t, "consume_timestamp", func(t *compat.T) {
		topic, want, base := setup(t, "consume_timestamp")
		r := reader(topic, 0)
		defer r.Close()
		t.Check(r.SetOffsetAt(ctxT(t, 10*time.Second), base.Add(4500*time.Millisecond)), "set offset at time")
		checkSeq(t, read(t, r, 5), want[5:], 5)
		t.Detail("timestamp resolved to offset 5, read 5..9")
	})
}

func TestListOffsets(t *testing.T) {
	run(t, "list_offsets", func(t *compat.T) {
		topic := compat.Topic(client, "list_offsets")
		createTopic(t, topic, 2)
		base := time.UnixMilli(time.Now().UnixMilli() - 100_000)
		msgs := seqMsgs(7)
		for i := range msgs {
			msgs[i].Time = base.Add(time.Duration(i) * time.Second)
			msgs[i].Partition = 0
		}
		w := writer(topic)
		w.Balancer = kafka.BalancerFunc(func(kafka.Message, ...int) int { return 0 })
		write(t, w, msgs...)
		resp, err := kclient(compat.Bootstrap()).ListOffsets(ctxT(t, 10*time.Second), &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{
			topic: {kafka.FirstOffsetOf(0), kafka.LastOffsetOf(0), kafka.LastOffsetOf(1)},
		}})
		t.Check(err, "list offsets")
		got := map[int]kafka.PartitionOffsets{}
		for _, po := range resp.Topics[topic] {
			t.Check(po.Error, "list offsets partition")
			got[po.Partition] = po
		}
		if got[0].FirstOffset != 0 || got[0].LastOffset != 7 || got[1].LastOffset != 0 {
			t.Fatalf("offsets: %+v", got)
		}
		conn, err := kafka.DialLeader(ctxT(t, 10*time.Second), "tcp", compat.Bootstrap(), topic, 0)
		t.Check(err, "dial leader")
		defer conn.Close()
		off, err := conn.ReadOffset(base.Add(1500 * time.Millisecond))
		t.Check(err, "read offset by time")
		if off != 2 {
			t.Fatalf("offset by timestamp = %d, want 2", off)
		}
		first, last, err := conn.ReadOffsets()
		t.Check(err, "read offsets")
		if first != 0 || last != 7 {
			t.Fatalf("Conn.ReadOffsets = %d, %d, want 0, 7", first, last)
		}
		t.Detail("first 0, last 7/0, by-timestamp 2 (Client and Conn)")
	})
}

func TestAdmin(t *testing.T) {
	run(t, "admin_topics", func(t *compat.T) {
		cl := kclient(compat.Bootstrap())
		topic := compat.Topic(client, "admin_topics")
		createTopic(t, topic, 3, kafka.ConfigEntry{ConfigName: "retention.ms", ConfigValue: "12345678"})
		resp, err := cl.CreateTopics(ctxT(t, 10*time.Second), &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{Topic: topic, NumPartitions: 3, ReplicationFactor: 1}}})
		t.Check(err, "create again")
		if !errors.Is(resp.Errors[topic], kafka.TopicAlreadyExists) {
			t.Fatalf("second create: %v, want TOPIC_ALREADY_EXISTS", resp.Errors[topic])
		}
		md, err := cl.Metadata(ctxT(t, 10*time.Second), &kafka.MetadataRequest{Topics: []string{topic}})
		t.Check(err, "metadata")
		if len(md.Topics) != 1 || len(md.Topics[0].Partitions) != 3 {
			t.Fatalf("described %+v", md.Topics)
		}
		del, err := cl.DeleteTopics(ctxT(t, 10*time.Second), &kafka.DeleteTopicsRequest{Topics: []string{topic}})
		t.Check(err, "delete topics")
		t.Check(del.Errors[topic], "delete topic")
		md, err = kclient(compat.Bootstrap()).Metadata(ctxT(t, 10*time.Second), &kafka.MetadataRequest{})
		t.Check(err, "metadata")
		for _, tp := range md.Topics {
			if tp.Name == topic {
				t.Fatalf("topic listed after delete")
			}
		}
		t.Detail("create, duplicate refused, describe, delete")
	})
	run(t, "admin_create_partitions", func(t *compat.T) {
		cl := kclient(compat.Bootstrap())
		topic := compat.Topic(client, "admin_create_partitions")
		createTopic(t, topic, 2)
		resp, err := cl.CreatePartitions(ctxT(t, 10*time.Second), &kafka.CreatePartitionsRequest{Topics: []kafka.TopicPartitionsConfig{{Name: topic, Count: 5}}})
		t.Check(err, "create partitions")
		t.Check(resp.Errors[topic], "create partitions")
		md, err := kclient(compat.Bootstrap()).Metadata(ctxT(t, 10*time.Second), &kafka.MetadataRequest{Topics: []string{topic}})
		t.Check(err, "metadata")
		if len(md.Topics[0].Partitions) != 5 {
			t.Fatalf("%d partitions after growing to 5", len(md.Topics[0].Partitions))
		}
		w := writer(topic)
		w.Balancer = kafka.BalancerFunc(func(kafka.Message, ...int) int { return 4 })
		write(t, w, kafka.Message{Value: []byte("in new partition")})
		r := reader(topic, 4)
		defer r.Close()
		got := read(t, r, 1)
		if string(got[0].Value) != "in new partition" || got[0].Partition != 4 {
			t.Fatalf("read %q from partition %d", got[0].Value, got[0].Partition)
		}
		t.Detail("2 -> 5 partitions, produce/consume on partition 4")
	})
	run(t, "admin_describe_configs", func(t *compat.T) {
		cl := kclient(compat.Bootstrap())
		topic := compat.Topic(client, "admin_describe_configs")
		createTopic(t, topic, 1, kafka.ConfigEntry{ConfigName: "retention.ms", ConfigValue: "12345678"})
		resp, err := cl.DescribeConfigs(ctxT(t, 10*time.Second), &kafka.DescribeConfigsRequest{Resources: []kafka.DescribeConfigRequestResource{{ResourceType: kafka.ResourceTypeTopic, ResourceName: topic}}})
		t.Check(err, "describe configs")
		if len(resp.Resources) != 1 {
			t.Fatalf("%d resources", len(resp.Resources))
		}
		t.Check(resp.Resources[0].Error, "describe configs resource")
		vals := map[string]kafka.DescribeConfigResponseConfigEntry{}
		for _, e := range resp.Resources[0].ConfigEntries {
			vals[e.ConfigName] = e
		}
		if e := vals["retention.ms"]; e.ConfigValue != "12345678" || e.IsDefault {
			t.Fatalf("retention.ms = %q default=%v", e.ConfigValue, e.IsDefault)
		}
		if e := vals["cleanup.policy"]; e.ConfigValue != "delete" {
			t.Fatalf("cleanup.policy = %q", e.ConfigValue)
		}
		t.Detail("retention.ms 12345678 (non-default), cleanup.policy delete")
	})
	run(t, "admin_alter_configs", func(t *compat.T) {
		compat.RequireAPIs(t, kmsg.IncrementalAlterConfigs)
		cl := kclient(compat.Bootstrap())
		topic := compat.Topic(client, "admin_alter_configs")
		createTopic(t, topic, 1)
		resp, err := cl.IncrementalAlterConfigs(ctxT(t, 10*time.Second), &kafka.IncrementalAlterConfigsRequest{Resources: []kafka.IncrementalAlterConfigsRequestResource{{
			ResourceType: kafka.ResourceTypeTopic, ResourceName: topic,
			Configs: []kafka.IncrementalAlterConfigsRequestConfig{{Name: "retention.ms", Value: "7654321", ConfigOperation: kafka.ConfigOperationSet}},
		}}})
		t.Check(err, "incremental alter configs")
		for _, r := range resp.Resources {
			t.Check(r.Error, "alter resource")
		}
		d, err := cl.DescribeConfigs(ctxT(t, 10*time.Second), &kafka.DescribeConfigsRequest{Resources: []kafka.DescribeConfigRequestResource{{ResourceType: kafka.ResourceTypeTopic, ResourceName: topic, ConfigNames: []string{"retention.ms"}}}})
		t.Check(err, "describe")
		if len(d.Resources) != 1 || len(d.Resources[0].ConfigEntries) == 0 || d.Resources[0].ConfigEntries[0].ConfigValue != "7654321" {
			t.Fatalf("after alter: %+v", d.Resources)
		}
		t.Detail("IncrementalAlterConfigs retention.ms, described back")
	})
}

func TestGroups(t *testing.T) {
	run(t, "group_join", func(t *compat.T) {
		compat.RequireAPIs(t, compat.GroupAPIs...)
		topic := compat.Topic(client, "group_join")
		createTopic(t, topic, 1)
		want := seqMsgs(30)
		write(t, writer(topic), want...)
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{compat.Bootstrap()}, GroupID: "g-" + topic, Topic: topic, StartOffset: kafka.FirstOffset, MaxWait: 200 * time.Millisecond})
		defer r.Close()
		checkSeq(t, read(t, r, 30), want, 0)
		t.Detail("group reader read 30 messages in order")
	})
	run(t, "group_commit_resume", func(t *compat.T) {
		compat.RequireAPIs(t, compat.GroupAPIs...)
		topic := compat.Topic(client, "group_commit_resume")
		createTopic(t, topic, 1)
		want := seqMsgs(20)
		write(t, writer(topic), want...)
		g := "g-" + topic
		r1 := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{compat.Bootstrap()}, GroupID: g, Topic: topic, StartOffset: kafka.FirstOffset, MaxWait: 200 * time.Millisecond})
		ctx := ctxT(t, 30*time.Second)
		var first []kafka.Message
		for len(first) < 10 {
			m, err := r1.FetchMessage(ctx)
			t.Check(err, "fetch")
			first = append(first, m)
		}
		t.Check(r1.CommitMessages(ctx, first[9]), "commit")
		t.Check(r1.Close(), "close")
		r2 := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{compat.Bootstrap()}, GroupID: g, Topic: topic, StartOffset: kafka.FirstOffset, MaxWait: 200 * time.Millisecond})
		defer r2.Close()
		checkSeq(t, read(t, r2, 10), want[10:], 10)
		t.Detail("committed offset 10, second reader resumed at 10..19")
	})
}

func TestErrors(t *testing.T) {
	run(t, "err_unknown_topic", func(t *compat.T) {
		seed := compat.BootstrapNoAuto()
		if seed == "" {
			t.Fatalf("COMPAT_BOOTSTRAP_NOAUTO not set")
		}
		topic := compat.Topic(client, "err_unknown_topic")
		w := &kafka.Writer{Addr: kafka.TCP(seed), Transport: &kafka.Transport{}, Topic: topic, AllowAutoTopicCreation: true, MaxAttempts: 2, BatchTimeout: 10 * time.Millisecond}
		err := w.WriteMessages(ctxT(t, 30*time.Second), kafka.Message{Value: []byte("x")})
		w.Close()
		if !errors.Is(err, kafka.UnknownTopicOrPartition) {
			t.Fatalf("write to unknown topic: %v, want UNKNOWN_TOPIC_OR_PARTITION", err)
		}
		md, err := kclient(seed).Metadata(ctxT(t, 10*time.Second), &kafka.MetadataRequest{})
		t.Check(err, "metadata")
		for _, tp := range md.Topics {
			if tp.Name == topic {
				t.Fatalf("topic was created although auto-create is off")
			}
		}
		t.Detail("UNKNOWN_TOPIC_OR_PARTITION, topic not created")
	})
	run(t, "err_message_too_large", func(t *compat.T) {
		topic := compat.Topic(client, "err_message_too_large")
		createTopic(t, topic, 1)
		big := make([]byte, 1100*1024)
		compat.RandomFill(big)
		w := writer(topic)
		w.BatchBytes = 4 << 20
		w.MaxAttempts = 1
		err := w.WriteMessages(ctxT(t, 20*time.Second), kafka.Message{Value: big})
		w.Close()
		var we kafka.WriteErrors
		if errors.As(err, &we) && len(we) == 1 {
			err = we[0]
		}
		if !errors.Is(err, kafka.MessageSizeTooLarge) {
			t.Fatalf("writing %d bytes: %v, want MESSAGE_TOO_LARGE", len(big), err)
		}
		write(t, writer(topic), kafka.Message{Value: []byte("fits")})
		got := readFrom(t, topic, kafka.FirstOffset, 1)
		if got[0].Offset != 0 || string(got[0].Value) != "fits" {
			t.Fatalf("log holds offset %d %q", got[0].Offset, got[0].Value)
		}
		t.Detail("1.1 MB message refused with MESSAGE_TOO_LARGE; log unchanged")
	})
	run(t, "err_offset_out_of_range", func(t *compat.T) {
		topic := compat.Topic(client, "err_offset_out_of_range")
		createTopic(t, topic, 1)
		want := seqMsgs(5)
		write(t, writer(topic), want...)
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{compat.Bootstrap()}, Topic: topic, Partition: 0, MaxWait: 200 * time.Millisecond, OffsetOutOfRangeError: true})
		defer r.Close()
		t.Check(r.SetOffset(100), "set offset")
		_, err := r.ReadMessage(ctxT(t, 15*time.Second))
		if !errors.Is(err, kafka.OffsetOutOfRange) {
			t.Fatalf("reading at 100 of 5: %v, want OFFSET_OUT_OF_RANGE", err)
		}
		checkSeq(t, readFrom(t, topic, kafka.FirstOffset, 5), want, 0)
		t.Detail("OFFSET_OUT_OF_RANGE at 100, reset to first read 0..4")
	})
}
