package sarama

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/IBM/sarama"
	fsasl "github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"gregor/compat-tests/internal/compat"
)

// scramClient is sarama's SCRAMClient over franz-go's SCRAM client session
// (sarama ships no SCRAM implementation of its own).
type scramClient struct {
	sha512  bool
	session fsasl.Session
	first   []byte
	done    bool
}

func (s *scramClient) Begin(user, pass, _ string) error {
	a := scram.Auth{User: user, Pass: pass}
	m := a.AsSha256Mechanism()
	if s.sha512 {
		m = a.AsSha512Mechanism()
	}
	var err error
	s.session, s.first, err = m.Authenticate(context.Background(), "")
	return err
}

func (s *scramClient) Step(challenge string) (string, error) {
	if s.first != nil {
		out := string(s.first)
		s.first = nil
		return out, nil
	}
	done, out, err := s.session.Challenge([]byte(challenge))
	s.done = done
	return string(out), err
}

func (s *scramClient) Done() bool { return s.done }

// saslConfig is config() logging in to the SASL listener with SCRAM-SHA-256
// and the given SaslHandshake version.
func saslConfig(t *compat.T, user, pass string, version int16) *sarama.Config {
	c := config()
	c.Net.SASL.Enable = true
	c.Net.SASL.Mechanism = sarama.SASLTypeSCRAMSHA256
	c.Net.SASL.Version = version
	c.ApiVersionsRequest = version != sarama.SASLHandshakeV0 // sarama refuses ApiVersions with SASL v0
	c.Net.SASL.User, c.Net.SASL.Password = user, pass
	c.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &scramClient{} }
	tc, err := compat.SASLTLSConfig()
	t.Check(err, "tls config")
	if tc != nil {
		c.Net.TLS.Enable, c.Net.TLS.Config = true, tc
	}
	c.Metadata.AllowAutoTopicCreation = true
	return c
}

// TestSASL: sarama over the SASL listener with SCRAM-SHA-256 (SaslHandshake
// v1, and v0 with bare tokens) produces and consumes byte-identical
// records; a wrong password fails with SASL_AUTHENTICATION_FAILED (v1) and
// its request never runs.
func TestSASL(t *testing.T) {
	compat.RequireSASL(t)
	seed := compat.SASLBootstrap()
	for _, v := range []struct {
		name    string
		version int16
	}{{"sasl_scram_sha256", sarama.SASLHandshakeV1}, {"sasl_scram_sha256_v0", sarama.SASLHandshakeV0}} {
		run(t, v.name, func(t *compat.T) {
			topic := compat.Topic(client, v.name)
			conf := saslConfig(t, compat.SASLAlice, compat.SASLAlicePassword, v.version)
			msgs := make([]*sarama.ProducerMessage, 50)
			for i := range msgs {
				msgs[i] = &sarama.ProducerMessage{Topic: topic, Partition: 0,
					Key:     sarama.ByteEncoder(fmt.Appendf(nil, "k\x00%d", i)),
					Value:   sarama.ByteEncoder(append(bytes.Repeat([]byte{0xff, 0x00}, i), byte(i))),
					Headers: []sarama.RecordHeader{{Key: []byte("h"), Value: []byte{byte(i), 0}}}}
			}
			p, err := sarama.NewSyncProducer([]string{seed}, conf)
			t.Check(err, "new producer")
			t.Check(p.SendMessages(msgs), "send")
			_ = p.Close()
			cons, err := sarama.NewConsumer([]string{seed}, conf)
			t.Check(err, "new consumer")
			defer cons.Close()
			pc, err := cons.ConsumePartition(topic, 0, sarama.OffsetOldest)
			t.Check(err, "consume partition")
			defer pc.Close()
			for i := range msgs {
				var m *sarama.ConsumerMessage
				select {
				case m = <-pc.Messages():
				case err := <-pc.Errors():
					t.Fatalf("consume: %v", err)
				case <-time.After(20 * time.Second):
					t.Fatalf("timed out at record %d", i)
				}
				wk, _ := msgs[i].Key.Encode()
				wv, _ := msgs[i].Value.Encode()
				if m.Offset != int64(i) || !bytes.Equal(m.Key, wk) || !bytes.Equal(m.Value, wv) || len(m.Headers) != 1 || !bytes.Equal(m.Headers[0].Value, []byte{byte(i), 0}) {
					t.Fatalf("record %d: offset %d key %q value %x", i, m.Offset, m.Key, m.Value)
				}
			}
			t.Detail("50 records byte-identical over %s", compat.SASLProtocol())
		})
	}
	run(t, "sasl_wrong_password", func(t *compat.T) {
		topic := compat.Topic(client, "sasl-denied")
		conf := saslConfig(t, compat.SASLAlice, "wrong", sarama.SASLHandshakeV1)
		conf.Metadata.Retry.Max = 0
		p, err := sarama.NewSyncProducer([]string{seed}, conf)
		if err == nil {
			_, _, err = p.SendMessage(&sarama.ProducerMessage{Topic: topic, Value: sarama.StringEncoder("x")})
			_ = p.Close()
		}
		if !errors.Is(err, sarama.ErrSASLAuthenticationFailed) {
			t.Fatalf("err %v, want SASL_AUTHENTICATION_FAILED", err)
		}
		exists, err := compat.SASLTopicExists(topic)
		t.Check(err, "check topic")
		if exists {
			t.Fatal("the failed login's request ran: its topic was created")
		}
	})
}
