package sarama

import (
	"testing"
	"time"

	"github.com/IBM/sarama"

	"gregor/compat-tests/internal/compat"
)

// TestOldClient: sarama speaking Kafka 0.10.2 (Produce v2 with magic-1
// message sets, Fetch v3 reading magic-1 sets down-converted by the
// broker) produces, uncompressed and compressed, and reads back the same
// keys, values and timestamps.
func TestOldClient(t *testing.T) {
	for _, c := range []struct {
		name  string
		codec sarama.CompressionCodec
	}{{"none", sarama.CompressionNone}, {"gzip", sarama.CompressionGZIP}, {"snappy", sarama.CompressionSnappy}, {"lz4", sarama.CompressionLZ4}} {
		run(t, "old_client_0_10_2_"+c.name, func(t *compat.T) {
			topic := compat.Topic(client, "old_client_"+c.name)
			createTopic(t, topic, 1, nil)
			conf := config()
			conf.Version = sarama.V0_10_2_0
			conf.Producer.Compression = c.codec
			conf.Producer.Flush.Messages = 10 // several messages per wrapper
			conf.Producer.Flush.Frequency = 50 * time.Millisecond
			ts := time.UnixMilli(time.Now().UnixMilli() - 60_000)
			msgs := seqMsgs(topic, 30)
			for i, m := range msgs {
				m.Timestamp = ts.Add(time.Duration(i) * time.Millisecond)
			}
			produce(t, conf, msgs...)
			cons, err := sarama.NewConsumer([]string{compat.Bootstrap()}, conf)
			t.Check(err, "new consumer")
			defer cons.Close()
			pc, err := cons.ConsumePartition(topic, 0, sarama.OffsetOldest)
			t.Check(err, "consume partition")
			defer pc.Close()
			var got []*sarama.ConsumerMessage
			timeout := time.After(20 * time.Second)
			for len(got) < len(msgs) {
				select {
				case m := <-pc.Messages():
					got = append(got, m)
				case e := <-pc.Errors():
					t.Fatalf("consume: %v", e)
				case <-timeout:
					t.Fatalf("timed out with %d of %d messages", len(got), len(msgs))
				}
			}
			checkSeq(t, got, msgs, 0)
			for i, m := range got {
				if !m.Timestamp.Equal(msgs[i].Timestamp) {
					t.Fatalf("message %d: timestamp %v, want %v", i, m.Timestamp, msgs[i].Timestamp)
				}
			}
			t.Detail("30 messages, Kafka 0.10.2 protocol, %s", c.name)
		})
	}
}
