package broker

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/plain"

	"gregor/auth"
)

func plainAuth(user, pass string) kgo.Opt {
	return kgo.SASL(plain.Auth{User: user, Pass: pass}.AsMechanism())
}

// principals returns the principals of the broker's open connections.
func (b *testBroker) principals() []auth.Principal {
	b.srv.mu.Lock()
	defer b.srv.mu.Unlock()
	var ps []auth.Principal
	for c := range b.srv.conns {
		ps = append(ps, c.Principal())
	}
	return ps
}

// TestSASLPlainEndToEnd: kgo over SASL_PLAINTEXT with PLAIN produces and
// consumes, and its connections carry User:alice.
func TestSASLPlainEndToEnd(t *testing.T) {
	t.Parallel()
	b := startBroker(t, saslOverrides()...)
	cl := b.client(plainAuth("alice", "alice-secret"), kgo.ConsumeTopics("sasl-e2e"), kgo.AllowAutoTopicCreation())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "sasl-e2e", Value: []byte("hello")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	var got []string
	for len(got) == 0 {
		fs := cl.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatal(err)
		}
		fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	if got[0] != "hello" {
		t.Fatalf("consumed %q", got)
	}
	alice := 0
	for _, p := range b.principals() {
		if p == auth.User("alice") {
			alice++
		}
	}
	if alice == 0 {
		t.Fatalf("no connection authenticated as User:alice: %v", b.principals())
	}
}

// TestSASLPlainWrongPassword: a wrong password fails with
// SASL_AUTHENTICATION_FAILED after the configured delay, and the request
// that followed never ran (no topic was auto-created).
func TestSASLPlainWrongPassword(t *testing.T) {
	t.Parallel()
	b := startBroker(t, append(saslOverrides(), "connection.failed.authentication.delay.ms=300")...)
	for _, tc := range []struct{ user, pass string }{{"alice", "wrong"}, {"nobody", "alice-secret"}} {
		cl := b.client(plainAuth(tc.user, tc.pass), kgo.AllowAutoTopicCreation(), kgo.RequestRetries(0))
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		start := time.Now()
		md := kmsg.NewPtrMetadataRequest()
		md.AllowAutoTopicCreation = true
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr("sasl-denied")
		md.Topics = append(md.Topics, rt)
		_, err := md.RequestWith(ctx, cl)
		took := time.Since(start)
		cancel()
		if !errors.Is(err, kerr.SaslAuthenticationFailed) {
			t.Fatalf("%s: metadata err %v, want SASL_AUTHENTICATION_FAILED", tc.user, err)
		}
		if took < 300*time.Millisecond || took > 15*time.Second {
			t.Fatalf("%s: failed after %v, want the 300ms delay and no hang", tc.user, took)
		}
		cl.Close()
	}
	admin := b.client(plainAuth("admin", "admin-secret"))
	md := kmsg.NewPtrMetadataRequest()
	resp, err := md.RequestWith(context.Background(), admin)
	if err != nil {
		t.Fatal(err)
	}
	for _, tp := range resp.Topics {
		if tp.Topic != nil && *tp.Topic == "sasl-denied" {
			t.Fatal("a failed login's metadata request ran: topic sasl-denied was created")
		}
	}
}

// TestSASLStateMachine drives the SASL APIs by hand.
func TestSASLStateMachine(t *testing.T) {
	t.Parallel()
	b := startBroker(t, saslOverrides()...)
	topicMetadata := func() *kmsg.MetadataRequest {
		md := kmsg.NewPtrMetadataRequest()
		md.AllowAutoTopicCreation = true
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr("sasl-unauth")
		md.Topics = append(md.Topics, rt)
		return md
	}
	handshake := func(rc *rawConn, mech string) *kmsg.SASLHandshakeResponse {
		req := kmsg.NewPtrSASLHandshakeRequest()
		req.Version, req.Mechanism = 1, mech
		return rc.do(req).(*kmsg.SASLHandshakeResponse)
	}
	authenticate := func(rc *rawConn, tok string) *kmsg.SASLAuthenticateResponse {
		req := kmsg.NewPtrSASLAuthenticateRequest()
		req.Version, req.SASLAuthBytes = 2, []byte(tok)
		return rc.do(req).(*kmsg.SASLAuthenticateResponse)
	}

	t.Run("request before authentication closes", func(t *testing.T) {
		rc := b.raw(t)
		rc.do(kmsg.NewPtrApiVersionsRequest()) // allowed
		rc.send(topicMetadata())
		rc.expectClosed()
	})
	t.Run("request after handshake only closes", func(t *testing.T) {
		rc := b.raw(t)
		if r := handshake(rc, "PLAIN"); r.ErrorCode != 0 {
			t.Fatalf("handshake: %v", kerr.ErrorForCode(r.ErrorCode))
		}
		rc.send(topicMetadata())
		rc.expectClosed()
	})
	t.Run("unsupported mechanism", func(t *testing.T) {
		rc := b.raw(t)
		r := handshake(rc, "SCRAM-SHA-256")
		if r.ErrorCode != kerr.UnsupportedSaslMechanism.Code || len(r.SupportedMechanisms) != 1 || r.SupportedMechanisms[0] != "PLAIN" {
			t.Fatalf("got %v %v", kerr.ErrorForCode(r.ErrorCode), r.SupportedMechanisms)
		}
	})
	t.Run("authenticate without handshake", func(t *testing.T) {
		rc := b.raw(t)
		if r := authenticate(rc, "\x00alice\x00alice-secret"); r.ErrorCode != kerr.IllegalSaslState.Code {
			t.Fatalf("got %v", kerr.ErrorForCode(r.ErrorCode))
		}
		rc.expectClosed()
	})
	t.Run("login then requests", func(t *testing.T) {
		rc := b.raw(t)
		handshake(rc, "PLAIN")
		if r := authenticate(rc, "\x00alice\x00alice-secret"); r.ErrorCode != 0 {
			t.Fatalf("authenticate: %v %v", kerr.ErrorForCode(r.ErrorCode), r.ErrorMessage)
		}
		if r := handshake(rc, "PLAIN"); r.ErrorCode != kerr.IllegalSaslState.Code {
			t.Fatalf("second handshake: %v", kerr.ErrorForCode(r.ErrorCode))
		}
		md := rc.do(topicMetadata()).(*kmsg.MetadataResponse)
		// The request that auto-creates the topic answers LEADER_NOT_AVAILABLE, as Kafka does.
		if len(md.Topics) != 1 || (md.Topics[0].ErrorCode != 0 && md.Topics[0].ErrorCode != kerr.LeaderNotAvailable.Code) {
			t.Fatalf("metadata after login: %+v", md.Topics)
		}
	})
	t.Run("wrong password message", func(t *testing.T) {
		rc := b.raw(t)
		handshake(rc, "PLAIN")
		r := authenticate(rc, "\x00alice\x00nope")
		if r.ErrorCode != kerr.SaslAuthenticationFailed.Code || r.ErrorMessage == nil || *r.ErrorMessage == "" {
			t.Fatalf("got %v %v", kerr.ErrorForCode(r.ErrorCode), r.ErrorMessage)
		}
		rc.expectClosed()
	})
	t.Run("handshake on plaintext listener", func(t *testing.T) {
		c, err := net.Dial("tcp", b.srv.listeners[1].Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		rc := newRawConn(t, c, "raw-test")
		if r := handshake(rc, "PLAIN"); r.ErrorCode != kerr.IllegalSaslState.Code {
			t.Fatalf("got %v", kerr.ErrorForCode(r.ErrorCode))
		}
	})
}

// TestSASLJAASNotDescribed: DescribeConfigs never returns the JAAS line
// (it holds passwords).
func TestSASLJAASNotDescribed(t *testing.T) {
	t.Parallel()
	b := startBroker(t, saslOverrides()...)
	cl := b.client(plainAuth("admin", "admin-secret"))
	req := kmsg.NewPtrDescribeConfigsRequest()
	req.IncludeSynonyms = true
	res := kmsg.NewDescribeConfigsRequestResource()
	res.ResourceType, res.ResourceName = kmsg.ConfigResourceTypeBroker, ""
	req.Resources = append(req.Resources, res)
	resp, err := req.RequestWith(context.Background(), cl)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, r := range resp.Resources {
		for _, c := range r.Configs {
			if c.Name != "plain.sasl.jaas.config" {
				continue
			}
			found = true
			if c.Value != nil || !c.IsSensitive || len(c.ConfigSynonyms) != 0 {
				t.Fatalf("jaas config described: value %v sensitive %v synonyms %d", c.Value, c.IsSensitive, len(c.ConfigSynonyms))
			}
		}
	}
	if !found {
		t.Fatal("plain.sasl.jaas.config not listed")
	}
}
