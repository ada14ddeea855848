package broker

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/auth"
)

// tlsOverrides is an SSL client listener (first, so it is b.addr) with a
// PLAINTEXT inter-broker listener, the key store from pki, plus extra.
func tlsOverrides(pki *testPKI, proto string, extra ...string) []string {
	ks, _ := pki.serverKeystore("broker")
	return append([]string{
		"listeners=SECURE://127.0.0.1:0,INTERNAL://127.0.0.1:0",
		"listener.security.protocol.map=SECURE:" + proto + ",INTERNAL:PLAINTEXT",
		"inter.broker.listener.name=INTERNAL",
		"listener.name.secure.ssl.keystore.location=" + ks,
		"ssl.truststore.location=" + pki.caFile,
	}, extra...)
}

// produceConsume produces values to topic through cl and consumes them
// back, failing unless they come back byte for byte.
func produceConsume(t *testing.T, cl *kgo.Client, topic string, values [][]byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, v := range values {
		cl.Produce(ctx, &kgo.Record{Topic: topic, Value: v}, func(_ *kgo.Record, err error) {
			if err != nil {
				t.Errorf("produce: %v", err)
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	var got [][]byte
	for len(got) < len(values) {
		fs := cl.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("fetch: %v", err)
		}
		fs.EachRecord(func(r *kgo.Record) { got = append(got, r.Value) })
	}
	for i := range values {
		if !bytes.Equal(got[i], values[i]) {
			t.Fatalf("record %d: consumed %d bytes, want %d identical ones", i, len(got[i]), len(values[i]))
		}
	}
}

// testValues are records from empty to 300 KiB of random (incompressible)
// bytes, so a fetch carries file regions bigger than the inline limit and
// the TLS write chunk.
func testValues() [][]byte {
	rng := rand.New(rand.NewPCG(1, 2))
	var vs [][]byte
	for _, n := range []int{0, 1, 100, 70 << 10, 300 << 10, 5, 1 << 10} {
		v := make([]byte, n)
		for j := range v {
			v[j] = byte(rng.Uint32())
		}
		vs = append(vs, v)
	}
	for i := 0; i < 200; i++ {
		vs = append(vs, fmt.Appendf(nil, "small record %d", i))
	}
	return vs
}

// TestTLSProduceConsume: kgo over an SSL listener produces and consumes
// byte-identical records (fetches big enough to take the TLS region path),
// and its connections are User:ANONYMOUS without a client certificate.
func TestTLSProduceConsume(t *testing.T) {
	t.Parallel()
	pki := newTestPKI(t)
	b := startBroker(t, tlsOverrides(pki, protoSSL)...)
	cl := b.client(kgo.DialTLSConfig(pki.client(nil)), kgo.ConsumeTopics("tls-e2e"), kgo.AllowAutoTopicCreation(),
		kgo.ProducerBatchMaxBytes(1<<20), kgo.FetchMaxBytes(4<<20))
	produceConsume(t, cl, "tls-e2e", testValues())
	ps := b.principals()
	if len(ps) == 0 || slices.ContainsFunc(ps, func(p auth.Principal) bool { return p != auth.Anonymous }) {
		t.Fatalf("principals %v, want User:ANONYMOUS only", ps)
	}
}

// TestTLSClientAuth: with ssl.client.auth=required a client without a
// certificate cannot connect, and a certificate's subject is the
// principal (checked by the authorizer: only the super user may write),
// mapped by ssl.principal.mapping.rules when set.
func TestTLSClientAuth(t *testing.T) {
	t.Parallel()
	alice := pkix.Name{CommonName: "alice", Organization: []string{"gregor"}}
	bob := pkix.Name{CommonName: "bob", Organization: []string{"gregor"}}
	for _, tc := range []struct {
		name  string
		extra []string
		super auth.Principal
	}{
		{name: "default mapping", super: auth.User("CN=alice,O=gregor")},
		{name: "listener mapping rules", extra: []string{`listener.name.secure.ssl.principal.mapping.rules=RULE:^CN=([^,]+),O=gregor$/$1/U, DEFAULT`},
			super: auth.User("ALICE")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			pki := newTestPKI(t)
			b := startBroker(t, tlsOverrides(pki, protoSSL, append([]string{
				"ssl.client.auth=required",
				"authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
				"super.users=" + tc.super.String(),
			}, tc.extra...)...)...)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()

			cl := b.client(kgo.DialTLSConfig(pki.client(&alice)), kgo.ConsumeTopics("mtls"), kgo.AllowAutoTopicCreation())
			produceConsume(t, cl, "mtls", [][]byte{[]byte("from alice")})
			if !slices.Contains(b.principals(), tc.super) {
				t.Fatalf("principals %v, want %s among them", b.principals(), tc.super)
			}

			other := b.client(kgo.DialTLSConfig(pki.client(&bob)), kgo.RequestRetries(0))
			err := other.ProduceSync(ctx, &kgo.Record{Topic: "mtls", Value: []byte("from bob")}).FirstErr()
			if !errors.Is(err, kerr.TopicAuthorizationFailed) {
				t.Fatalf("bob's produce: %v, want TOPIC_AUTHORIZATION_FAILED", err)
			}

			// No certificate: the handshake fails and nothing is served.
			conn, err := tls.Dial("tcp", b.addr, pki.client(nil))
			if err == nil {
				// TLS 1.3 reports the server's rejection on the first read.
				conn.SetDeadline(time.Now().Add(10 * time.Second))
				_, err = conn.Read(make([]byte, 1))
				conn.Close()
			}
			if err == nil {
				t.Fatal("a client without a certificate was served")
			}
			nocert := b.client(kgo.DialTLSConfig(pki.client(nil)), kgo.RequestRetries(0))
			if _, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, nocert); err == nil {
				t.Fatal("kgo without a certificate got a Metadata answer")
			}
		})
	}
}

// TestSASLSSL: SCRAM-SHA-512 and PLAIN logins over TLS produce and
// consume as their users; a wrong password fails with
// SASL_AUTHENTICATION_FAILED; without SASL nothing but ApiVersions is
// served.
func TestSASLSSL(t *testing.T) {
	t.Parallel()
	pki := newTestPKI(t)
	cfg, err := Load("", nil, append([]string{"log.dirs=" + t.TempDir()}, tlsOverrides(pki, protoSaslSSL,
		"sasl.enabled.mechanisms=SCRAM-SHA-512,PLAIN", "plain.sasl.jaas.config="+testPlainJAAS,
		"connection.failed.authentication.delay.ms=0")...))
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.AddScram("SCRAM-SHA-512=[name=admin,password=admin-secret]"); err != nil {
		t.Fatal(err)
	}
	b := startBrokerConfig(t, cfg)
	dial := kgo.DialTLSConfig(pki.client(nil))
	for _, tc := range []struct {
		name  string
		login kgo.Opt
		user  string
	}{
		{"scram", scramOpt(auth.MechanismScramSHA512, "admin", "admin-secret"), "admin"},
		{"plain", plainAuth("alice", "alice-secret"), "alice"},
	} {
		topic := "sasl-ssl-" + tc.name
		cl := b.client(dial, tc.login, kgo.ConsumeTopics(topic), kgo.AllowAutoTopicCreation())
		produceConsume(t, cl, topic, testValues()[:5])
		if !slices.Contains(b.principals(), auth.User(tc.user)) {
			t.Fatalf("%s: principals %v, want User:%s", tc.name, b.principals(), tc.user)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, login := range []kgo.Opt{scramOpt(auth.MechanismScramSHA512, "admin", "wrong"), plainAuth("alice", "wrong")} {
		cl := b.client(dial, login, kgo.RequestRetries(0))
		if _, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl); !errors.Is(err, kerr.SaslAuthenticationFailed) {
			t.Fatalf("wrong password: %v, want SASL_AUTHENTICATION_FAILED", err)
		}
	}
	anon := b.client(dial, kgo.RequestRetries(0))
	if _, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, anon); err == nil {
		t.Fatal("Metadata without a SASL login was answered")
	}
}

// TestTLSCertReload: replacing the key store file makes new connections
// get the new certificate, while the old file's certificate served before.
func TestTLSCertReload(t *testing.T) {
	t.Parallel()
	pki := newTestPKI(t)
	b := startBroker(t, tlsOverrides(pki, protoSSL)...)
	served := func() string {
		conn, err := tls.Dial("tcp", b.addr, pki.client(nil))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].Subject.CommonName
	}
	if cn := served(); cn != "broker" {
		t.Fatalf("served CN %q, want broker", cn)
	}
	_, leaf := pki.serverKeystore("broker-renewed")
	waitFor(t, "the renewed certificate", 20*time.Second, func() bool { return served() == leaf.Subject.CommonName })
	cl := b.client(kgo.DialTLSConfig(pki.client(nil)), kgo.ConsumeTopics("reloaded"), kgo.AllowAutoTopicCreation())
	produceConsume(t, cl, "reloaded", [][]byte{[]byte("after reload")})
}
