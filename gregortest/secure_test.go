package gregortest_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"

	"gregor/gregortest"
)

// securePKI writes a throw-away CA (ca.pem) and one key store (node.pem:
// certificate then PKCS#8 key) valid as TLS server and client for
// 127.0.0.1, which every broker of the test uses.
func securePKI(t *testing.T) (caFile, keystore string, roots *x509.CertPool) {
	t.Helper()
	dir := t.TempDir()
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	caKey := newKey()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "gregortest CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true,
	}
	// sign issues tmpl for key, signed by the CA (self-signed for the CA).
	sign := func(tmpl, parent *x509.Certificate, key *ecdsa.PrivateKey) ([]byte, *x509.Certificate) {
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		return der, cert
	}
	caDER, ca := sign(caTmpl, caTmpl, caKey)
	key := newKey()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "broker", Organization: []string{"gregortest"}},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
	}
	der, _ := sign(tmpl, ca, key)
	pk, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	caFile, keystore = filepath.Join(dir, "ca.pem"), filepath.Join(dir, "node.pem")
	ks := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk})...)
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keystore, ks, 0o600); err != nil {
		t.Fatal(err)
	}
	roots = x509.NewCertPool()
	roots.AddCert(ca)
	return caFile, keystore, roots
}

// TestSecuredClusterLeaderKill: three nodes with a SASL_SSL (PLAIN) client
// listener, mutual TLS between brokers (SSL inter-broker listener, client
// certificates required) and on the Raft quorum (SSL controller
// listener). acks=all records to an RF 3 topic survive the leader's kill
// and are all consumed, in order, from the new leader. Without TLS on the
// peer connections or the Raft transport no controller is elected or no
// follower catches up, and the cluster never gets ready.
func TestSecuredClusterLeaderKill(t *testing.T) {
	t.Parallel()
	caFile, keystore, roots := securePKI(t)
	clientTLS := &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	c := gregortest.NewCluster(t, gregortest.Brokers(3),
		gregortest.Override(
			"listener.security.protocol.map=PLAINTEXT:SASL_SSL,BROKER:SSL,CONTROLLER:SSL",
			"ssl.keystore.location="+keystore,
			"ssl.truststore.location="+caFile,
			"listener.name.broker.ssl.client.auth=required",
			"listener.name.controller.ssl.client.auth=required",
			"sasl.enabled.mechanisms=PLAIN",
			`plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_alice="alice-secret";`,
		),
		gregortest.ClientOpts(kgo.DialTLSConfig(clientTLS),
			kgo.SASL(plain.Auth{User: "alice", Pass: "alice-secret"}.AsMechanism())),
	)

	// The client listener refuses a login with the wrong password.
	bad, err := kgo.NewClient(kgo.SeedBrokers(c.Seeds()...), kgo.DialTLSConfig(clientTLS),
		kgo.SASL(plain.Auth{User: "alice", Pass: "wrong"}.AsMechanism()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := bad.Ping(ctx); err == nil {
		t.Fatal("a wrong password logged in")
	}
	bad.Close()

	createTopic(t, c, "secure")
	producer := c.Client(kgo.DefaultProduceTopic("secure"), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	const before, after = 2000, 1000
	produce := func(from, to int) {
		t.Helper()
		var rs []*kgo.Record
		for i := from; i < to; i++ {
			rs = append(rs, &kgo.Record{Value: []byte(strconv.Itoa(i))})
		}
		if err := producer.ProduceSync(ctx, rs...).FirstErr(); err != nil {
			t.Fatalf("produce %d-%d: %v", from, to, err)
		}
	}
	produce(0, before)
	leader := waitLeader(t, c, "secure", 3, -1)
	c.Kill(leader)
	waitLeader(t, c, "secure", 2, int32(leader+1))
	produce(before, before+after)

	consumer := c.Client(kgo.ConsumeTopics("secure"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	next := 0
	for next < before+after {
		fs := consumer.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d records: %v", next, before+after, err)
		}
		fs.EachError(func(topic string, p int32, err error) { t.Logf("fetch %s/%d: %v", topic, p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			if got, want := string(r.Value), strconv.Itoa(next); got != want {
				t.Fatalf("record at offset %d is %q, want %q", r.Offset, got, want)
			}
			next++
		})
	}
	if next != before+after {
		t.Fatalf("consumed %d records, want %d", next, before+after)
	}
}
