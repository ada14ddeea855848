package gregortest

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
)

// TestSecureCluster: a Secure cluster refuses plaintext clients and a
// wrong password on its client listener, the controller listener refuses
// a TLS client without a certificate and a wrong password in its SASL
// login, records go through as the super
// user, and the proxies know which node opened each Raft and inter-broker
// link (from the certificate behind the TLS they end), so Isolate cuts a
// secured node's own outgoing links too.
func TestSecureCluster(t *testing.T) {
	t.Parallel()
	c := NewCluster(t, Brokers(3), Secure())
	if !c.Secured() || c.CAFile() == "" {
		t.Fatal("Secure did not secure the cluster")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	refused := func(what string, opts ...kgo.Opt) {
		t.Helper()
		cl, err := kgo.NewClient(append(opts, kgo.SeedBrokers(c.Seeds()...), kgo.RequestRetries(0))...)
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		pctx, pcancel := context.WithTimeout(ctx, 5*time.Second)
		defer pcancel()
		if err := cl.Ping(pctx); err == nil {
			t.Fatalf("%s: the client listener let it in", what)
		}
	}
	refused("plaintext")
	refused("TLS without SASL", c.ClientOpts()[0])
	refused("wrong password", c.ClientOpts()[0], kgo.SASL(plain.Auth{User: SecureUser, Pass: "wrong"}.AsMechanism()))

	// The Raft listener behind broker 1's proxy requires a certificate.
	b := c.Broker(0)
	b.raft.mu.Lock()
	raftAt := b.raft.target
	b.raft.mu.Unlock()
	noCert := &tls.Config{RootCAs: c.pki.roots, ServerName: "127.0.0.1"}
	if conn, err := tls.Dial("tcp", raftAt, noCert); err == nil {
		// TLS 1.3: the server's refusal arrives after the client's side
		// of the handshake is done.
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err = conn.Read(make([]byte, 1))
		conn.Close()
		var ne net.Error
		if err == nil || errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("the controller listener kept a TLS client without a certificate (%v)", err)
		}
	}
	// With a certificate, the SASL login follows: a wrong password gets
	// status 1 (controller/raft_sasl.go), the right one 0.
	for pass, want := range map[string]byte{"wrong": 1, SecurePassword: 0} {
		conn, err := tls.Dial("tcp", raftAt, c.pki.proxyClientConfig(1))
		if err != nil {
			t.Fatalf("a broker certificate was refused: %v", err)
		}
		tok := "\x00" + SecureUser + "\x00" + pass
		login := append([]byte{0, 0, 5}, "PLAIN"...)
		login = append(login, 0, 0, 0, byte(len(tok)))
		login = append(login, tok...)
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		var st [1]byte
		if _, err := conn.Write(login); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(conn, st[:]); err != nil || st[0] != want {
			t.Fatalf("raft login with password %q: status %d, %v; want %d", pass, st[0], err, want)
		}
		conn.Close()
	}

	if _, err := kadm.NewClient(c.Client()).CreateTopic(ctx, 1, 3, nil, "secured"); err != nil {
		t.Fatalf("create topic as %s: %v", SecureUser, err)
	}
	cl := c.Client(kgo.DefaultProduceTopic("secured"), kgo.RequiredAcks(kgo.AllISRAcks()))
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("v")}).FirstErr(); err != nil {
		t.Fatalf("produce as %s: %v", SecureUser, err)
	}

	// Every Raft link between brokers names its source node.
	c.WaitFor("raft links from known nodes", 30*time.Second, func() bool {
		seen := 0
		for _, b := range c.brokers {
			b.raft.mu.Lock()
			for l := range b.raft.links {
				if l.src < 1 || l.src > 3 || l.src == b.id {
					b.raft.mu.Unlock()
					return false
				}
				seen++
			}
			b.raft.mu.Unlock()
		}
		return seen >= 2 // the leader's links to both followers at least
	})
}
