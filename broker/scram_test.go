package broker

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"gregor/auth"
)

// scramOverrides is a SASL_PLAINTEXT listener offering both SCRAM
// mechanisms (and PLAIN), plus extra keys.
func scramOverrides(extra ...string) []string {
	return append([]string{
		"listeners=SASL://127.0.0.1:0,INTERNAL://127.0.0.1:0",
		"listener.security.protocol.map=SASL:SASL_PLAINTEXT,INTERNAL:PLAINTEXT",
		"inter.broker.listener.name=INTERNAL",
		"sasl.enabled.mechanisms=SCRAM-SHA-256,SCRAM-SHA-512,PLAIN",
		"plain.sasl.jaas.config=" + testPlainJAAS,
	}, extra...)
}

// startScramBroker starts a broker whose quorum was bootstrapped with
// admin/admin-secret on SCRAM-SHA-512 (serve --add-scram).
func startScramBroker(t *testing.T, opts []Option, extra ...string) *testBroker {
	t.Helper()
	cfg, err := Load("", nil, append([]string{"log.dirs=" + t.TempDir()}, scramOverrides(extra...)...))
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.AddScram("SCRAM-SHA-512=[name=admin,password=admin-secret]"); err != nil {
		t.Fatal(err)
	}
	return startBrokerConfig(t, cfg, opts...)
}

func scramOpt(mech, user, pass string) kgo.Opt {
	a := scram.Auth{User: user, Pass: pass}
	if mech == auth.MechanismScramSHA256 {
		return kgo.SASL(a.AsSha256Mechanism())
	}
	return kgo.SASL(a.AsSha512Mechanism())
}

// TestScramEndToEnd: the bootstrap admin logs in with SCRAM-SHA-512 and
// creates users with kadm; each then produces and consumes over its
// mechanism, its connections carry its principal, and a wrong password or
// an unknown user fails with SASL_AUTHENTICATION_FAILED before any
// request runs.
func TestScramEndToEnd(t *testing.T) {
	t.Parallel()
	b := startScramBroker(t, nil, "connection.failed.authentication.delay.ms=0")
	adm := kadm.NewClient(b.client(scramOpt(auth.MechanismScramSHA512, "admin", "admin-secret")))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, err := adm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{
		{User: "alice", Mechanism: kadm.ScramSha256, Iterations: 4096, Password: "alice-pw"},
		{User: "bob", Mechanism: kadm.ScramSha512, Iterations: 8192, Password: "bob-pw"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := res.Error(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ mech, user, pass string }{
		{auth.MechanismScramSHA256, "alice", "alice-pw"},
		{auth.MechanismScramSHA512, "bob", "bob-pw"},
	} {
		topic := "scram-" + tc.user
		cl := b.client(scramOpt(tc.mech, tc.user, tc.pass), kgo.ConsumeTopics(topic), kgo.AllowAutoTopicCreation())
		want := []byte("hello \x00\xff " + tc.user)
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Key: []byte("k"), Value: want}).FirstErr(); err != nil {
			t.Fatalf("%s: produce: %v", tc.user, err)
		}
		var got [][]byte
		for len(got) == 0 {
			fs := cl.PollFetches(ctx)
			if err := fs.Err0(); err != nil {
				t.Fatalf("%s: fetch: %v", tc.user, err)
			}
			fs.EachRecord(func(r *kgo.Record) { got = append(got, r.Value) })
		}
		if string(got[0]) != string(want) {
			t.Fatalf("%s: consumed %q, want %q", tc.user, got[0], want)
		}
		if !slices.Contains(b.principals(), auth.User(tc.user)) {
			t.Fatalf("no connection authenticated as User:%s: %v", tc.user, b.principals())
		}
	}
	for _, tc := range []struct{ mech, user, pass string }{
		{auth.MechanismScramSHA256, "alice", "wrong"},
		{auth.MechanismScramSHA512, "alice", "alice-pw"}, // alice has no SHA-512 credential
		{auth.MechanismScramSHA256, "nobody", "x"},
	} {
		cl := b.client(scramOpt(tc.mech, tc.user, tc.pass), kgo.AllowAutoTopicCreation(), kgo.RequestRetries(0))
		md := kmsg.NewPtrMetadataRequest()
		md.AllowAutoTopicCreation = true
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr("scram-denied")
		md.Topics = append(md.Topics, rt)
		if _, err := md.RequestWith(ctx, cl); !errors.Is(err, kerr.SaslAuthenticationFailed) {
			t.Fatalf("%s/%s: %v, want SASL_AUTHENTICATION_FAILED", tc.mech, tc.user, err)
		}
		cl.Close()
	}
	topics, err := adm.ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if topics.Has("scram-denied") {
		t.Fatal("a failed login's request ran: scram-denied was auto-created")
	}
}

// TestScramCredentialAPIs: Describe and Alter through kadm and raw
// requests, with Kafka's error codes and messages.
func TestScramCredentialAPIs(t *testing.T) {
	t.Parallel()
	b := startScramBroker(t, nil)
	cl := b.client(scramOpt(auth.MechanismScramSHA512, "admin", "admin-secret"))
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	alter := func(dels []kmsg.AlterUserSCRAMCredentialsRequestDeletion, ups []kmsg.AlterUserSCRAMCredentialsRequestUpsertion) map[string]*kmsg.AlterUserSCRAMCredentialsResponseResult {
		t.Helper()
		req := kmsg.NewPtrAlterUserSCRAMCredentialsRequest()
		req.Deletions, req.Upsertions = dels, ups
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]*kmsg.AlterUserSCRAMCredentialsResponseResult{}
		for i := range resp.Results {
			r := &resp.Results[i]
			if out[r.User] != nil {
				t.Fatalf("user %q answered twice", r.User)
			}
			out[r.User] = r
		}
		return out
	}
	up := func(user string, mech int8, iters int32) kmsg.AlterUserSCRAMCredentialsRequestUpsertion {
		u := kmsg.NewAlterUserSCRAMCredentialsRequestUpsertion()
		u.Name, u.Mechanism, u.Iterations = user, mech, iters
		u.Salt, u.SaltedPassword = []byte("salt-"+user), make([]byte, 32)
		return u
	}
	del := func(user string, mech int8) kmsg.AlterUserSCRAMCredentialsRequestDeletion {
		d := kmsg.NewAlterUserSCRAMCredentialsRequestDeletion()
		d.Name, d.Mechanism = user, mech
		return d
	}
	got := alter([]kmsg.AlterUserSCRAMCredentialsRequestDeletion{del("ghost", 1), del("carol", 3)},
		[]kmsg.AlterUserSCRAMCredentialsRequestUpsertion{up("dup", 1, 4096), up("dup", 2, 4096), up("few", 1, 4095), up("many", 2, 16385), up("", 1, 4096), up("ok", 1, 16384), up("mech", 9, 4096)})
	for user, want := range map[string]*kerr.Error{
		"ghost": kerr.ResourceNotFound, "carol": kerr.UnsupportedSaslMechanism, "dup": kerr.DuplicateResource,
		"few": kerr.UnacceptableCredential, "many": kerr.UnacceptableCredential, "": kerr.UnacceptableCredential,
		"ok": nil, "mech": kerr.UnsupportedSaslMechanism,
	} {
		r := got[user]
		if r == nil {
			t.Fatalf("no result for %q: %+v", user, got)
		}
		if code := kerr.ErrorForCode(r.ErrorCode); code != want && !(want == nil && r.ErrorCode == 0) {
			t.Fatalf("%q: %v (%v), want %v", user, code, r.ErrorMessage, want)
		}
	}
	if m := got["few"].ErrorMessage; m == nil || *m != "Too few iterations" {
		t.Fatalf("few: message %v", m)
	}

	// Describe: everyone, named users, duplicates and unknown users.
	all, err := adm.DescribeUserSCRAMs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := all.Error(); err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 || len(all["admin"].CredInfos) != 1 || all["admin"].CredInfos[0].Mechanism != kadm.ScramSha512 ||
		all["ok"].CredInfos[0].Iterations != 16384 {
		t.Fatalf("describe all: %+v", all)
	}
	req := kmsg.NewPtrDescribeUserSCRAMCredentialsRequest()
	for _, n := range []string{"ok", "ok", "nobody", "admin"} {
		u := kmsg.NewDescribeUserSCRAMCredentialsRequestUser()
		u.Name = n
		req.Users = append(req.Users, u)
	}
	dresp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if len(dresp.Results) != 3 {
		t.Fatalf("describe named: %+v", dresp.Results)
	}
	for _, r := range dresp.Results {
		want := map[string]int16{"ok": kerr.DuplicateResource.Code, "nobody": kerr.ResourceNotFound.Code, "admin": 0}[r.User]
		if r.ErrorCode != want {
			t.Fatalf("describe %q: %v %v", r.User, kerr.ErrorForCode(r.ErrorCode), r.ErrorMessage)
		}
	}
	if m := dresp.Results[1].ErrorMessage; m == nil || *m != "Attempt to describe a user credential that does not exist: nobody" {
		t.Fatalf("unknown user message %v", m)
	}

	// Deleting a credential takes effect for new logins at once.
	if got := alter([]kmsg.AlterUserSCRAMCredentialsRequestDeletion{del("ok", 1)}, nil); got["ok"].ErrorCode != 0 {
		t.Fatalf("delete ok: %v", kerr.ErrorForCode(got["ok"].ErrorCode))
	}
	if d, err := adm.DescribeUserSCRAMs(ctx, "ok"); err != nil || !errors.Is(d["ok"].Err, kerr.ResourceNotFound) {
		t.Fatalf("describe deleted: %+v %v", d, err)
	}
}

// TestScramCredentialAPIsAuthorized: with the authorizer on, a non-super
// user gets CLUSTER_AUTHORIZATION_FAILED from both APIs and changes
// nothing; the super user may.
func TestScramCredentialAPIsAuthorized(t *testing.T) {
	t.Parallel()
	b := startScramBroker(t, nil, "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer", "super.users=User:admin")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin := kadm.NewClient(b.client(scramOpt(auth.MechanismScramSHA512, "admin", "admin-secret")))
	alice := kadm.NewClient(b.client(plainAuth("alice", "alice-secret")))
	if _, err := alice.DescribeUserSCRAMs(ctx); !errors.Is(err, kerr.ClusterAuthorizationFailed) {
		t.Fatalf("alice describe: %v", err)
	}
	if _, err := alice.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{{User: "mallory", Mechanism: kadm.ScramSha256, Iterations: 4096, Password: "x"}}); !errors.Is(err, kerr.ClusterAuthorizationFailed) {
		t.Fatalf("alice alter: %v", err)
	}
	all, err := admin.DescribeUserSCRAMs(ctx)
	if err != nil || len(all) != 1 {
		t.Fatalf("admin describe: %+v %v", all, err)
	}
}

// rawScramLogin runs a SCRAM exchange over rc with franz-go's client
// session and returns the last SaslAuthenticate response.
func rawScramLogin(t *testing.T, rc *rawConn, m sasl.Mechanism) *kmsg.SASLAuthenticateResponse {
	t.Helper()
	hs := kmsg.NewPtrSASLHandshakeRequest()
	hs.Version, hs.Mechanism = 1, m.Name()
	if r := rc.do(hs).(*kmsg.SASLHandshakeResponse); r.ErrorCode != 0 {
		t.Fatalf("handshake: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	sess, tok, err := m.Authenticate(context.Background(), "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	for {
		req := kmsg.NewPtrSASLAuthenticateRequest()
		req.Version, req.SASLAuthBytes = 2, tok
		resp := rc.do(req).(*kmsg.SASLAuthenticateResponse)
		if resp.ErrorCode != 0 {
			return resp
		}
		var done bool
		if done, tok, err = sess.Challenge(resp.SASLAuthBytes); err != nil {
			t.Fatal(err)
		}
		if done {
			return resp
		}
	}
}

// TestReauthExpiry: on a fake clock, SaslAuthenticate answers
// session_lifetime_ms from connections.max.reauth.ms (overridden per
// listener); requests before the end are served, a re-authentication
// renews the session, and the first request after the end closes the
// connection. A re-authentication with another mechanism fails.
func TestReauthExpiry(t *testing.T) {
	t.Parallel()
	clk := newFakeClock()
	b := startScramBroker(t, []Option{WithClock(clk)}, "connections.max.reauth.ms=60000", "listener.name.sasl.connections.max.reauth.ms=5000",
		"connection.failed.authentication.delay.ms=0")
	admin := scram.Auth{User: "admin", Pass: "admin-secret"}.AsSha512Mechanism()
	md := func() kmsg.Request { return kmsg.NewPtrMetadataRequest() }

	rc := b.raw(t)
	if r := rawScramLogin(t, rc, admin); r.ErrorCode != 0 || r.SessionLifetimeMillis != 5000 {
		t.Fatalf("login: %v lifetime %d, want the listener's 5000", kerr.ErrorForCode(r.ErrorCode), r.SessionLifetimeMillis)
	}
	rc.do(md())
	clk.Advance(4 * time.Second)
	rc.do(md())
	if r := rawScramLogin(t, rc, admin); r.ErrorCode != 0 || r.SessionLifetimeMillis != 5000 {
		t.Fatalf("re-authentication: %v %v", kerr.ErrorForCode(r.ErrorCode), r.ErrorMessage)
	}
	clk.Advance(4 * time.Second) // 8 s after the first login, 4 s after the second
	rc.do(md())
	clk.Advance(time.Second + time.Millisecond)
	rc.send(md().(*kmsg.MetadataRequest))
	rc.expectClosed()

	rc2 := b.raw(t)
	if r := rawScramLogin(t, rc2, admin); r.ErrorCode != 0 {
		t.Fatal(kerr.ErrorForCode(r.ErrorCode))
	}
	clk.Advance(2 * time.Second)
	r := rawScramLogin(t, rc2, plainMechanism("admin", "admin-secret"))
	if r.ErrorCode != kerr.SaslAuthenticationFailed.Code || r.ErrorMessage == nil ||
		*r.ErrorMessage != "SASL mechanism 'PLAIN' requested by client is not supported for re-authentication of mechanism 'SCRAM-SHA-512'" {
		t.Fatalf("mechanism change: %v %v", kerr.ErrorForCode(r.ErrorCode), r.ErrorMessage)
	}
	rc2.expectClosed()
}

// TestReauthKgo: franz-go re-authenticates before each session ends and
// keeps its connections; without re-authentication the broker would
// close them.
func TestReauthKgo(t *testing.T) {
	t.Parallel()
	b := startScramBroker(t, nil, "connections.max.reauth.ms=2500")
	var connects, disconnects, lifetimes atomic.Int64
	cl := b.client(scramOpt(auth.MechanismScramSHA512, "admin", "admin-secret"), kgo.AllowAutoTopicCreation(),
		kgo.WithHooks(connHooks{&connects, &disconnects}),
		kgo.WithLogger(kgo.BasicLogger(lifetimeCounter{&lifetimes}, kgo.LogLevelDebug, nil)))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	deadline := time.Now().Add(7 * time.Second)
	n := 0
	for time.Now().Before(deadline) {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "reauth", Value: []byte{byte(n)}}).FirstErr(); err != nil {
			t.Fatalf("produce %d: %v", n, err)
		}
		n++
		time.Sleep(100 * time.Millisecond) // pacing the workload, not synchronisation
	}
	if d := disconnects.Load(); d != 0 {
		t.Fatalf("%d disconnects during %d produces (connects %d): re-authentication did not keep the connections", d, n, connects.Load())
	}
	if l := lifetimes.Load(); l < 4 {
		t.Fatalf("%d sasl logins with a lifetime over 7 s of 2.5 s sessions: the client did not re-authenticate", l)
	}
}

func plainMechanism(user, pass string) sasl.Mechanism {
	return plainSASL{user, pass}
}

// plainSASL is a PLAIN client mechanism for raw exchanges.
type plainSASL struct{ user, pass string }

func (p plainSASL) Name() string { return "PLAIN" }
func (p plainSASL) Authenticate(context.Context, string) (sasl.Session, []byte, error) {
	return plainDone{}, []byte("\x00" + p.user + "\x00" + p.pass), nil
}

type plainDone struct{}

func (plainDone) Challenge([]byte) (bool, []byte, error) { return true, nil, nil }

type connHooks struct{ connects, disconnects *atomic.Int64 }

func (h connHooks) OnBrokerConnect(_ kgo.BrokerMetadata, _ time.Duration, _ net.Conn, err error) {
	if err == nil {
		h.connects.Add(1)
	}
}
func (h connHooks) OnBrokerDisconnect(kgo.BrokerMetadata, net.Conn) { h.disconnects.Add(1) }

// lifetimeCounter counts franz-go's "sasl has a limited lifetime" lines:
// one per login or re-authentication.
type lifetimeCounter struct{ n *atomic.Int64 }

func (c lifetimeCounter) Write(p []byte) (int, error) {
	if bytes.Contains(p, []byte("sasl has a limited lifetime")) {
		c.n.Add(1)
	}
	return len(p), nil
}

// rawToken writes tok as a bare size-prefixed frame and reads the
// server's bare frame back (SaslHandshake v0 framing).
func (rc *rawConn) rawToken(tok []byte) ([]byte, error) {
	rc.t.Helper()
	rc.c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := rc.c.Write(binary.BigEndian.AppendUint32(nil, uint32(len(tok)))); err != nil {
		return nil, err
	}
	if _, err := rc.c.Write(tok); err != nil {
		return nil, err
	}
	var size [4]byte
	if _, err := io.ReadFull(rc.c, size[:]); err != nil {
		return nil, err
	}
	out := make([]byte, binary.BigEndian.Uint32(size[:]))
	_, err := io.ReadFull(rc.c, out)
	return out, err
}

// TestSaslHandshakeV0: kafka-python's login (SaslHandshake v0, then bare
// tokens) for PLAIN and SCRAM-SHA-256; a wrong password closes the
// connection without an answer, and requests before the exchange ends
// are not served.
func TestSaslHandshakeV0(t *testing.T) {
	t.Parallel()
	b := startScramBroker(t, nil)
	cl := b.client(scramOpt(auth.MechanismScramSHA512, "admin", "admin-secret"))
	res, err := kadm.NewClient(cl).AlterUserSCRAMs(context.Background(), nil, []kadm.UpsertSCRAM{{User: "py", Mechanism: kadm.ScramSha256, Iterations: 4096, Password: "py-pw"}})
	if err != nil || res.Error() != nil {
		t.Fatal(err, res.Error())
	}
	handshake0 := func(rc *rawConn, mech string) {
		hs := kmsg.NewPtrSASLHandshakeRequest()
		hs.Version, hs.Mechanism = 0, mech
		if r := rc.do(hs).(*kmsg.SASLHandshakeResponse); r.ErrorCode != 0 {
			t.Fatalf("handshake v0 %s: %v", mech, kerr.ErrorForCode(r.ErrorCode))
		}
	}

	rc := b.raw(t)
	handshake0(rc, "PLAIN")
	if out, err := rc.rawToken([]byte("\x00alice\x00alice-secret")); err != nil || len(out) != 0 {
		t.Fatalf("plain v0: %q %v", out, err)
	}
	rc.do(kmsg.NewPtrMetadataRequest())

	rc = b.raw(t)
	handshake0(rc, "SCRAM-SHA-256")
	sess, first, err := scram.Auth{User: "py", Pass: "py-pw"}.AsSha256Mechanism().Authenticate(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	tok := first
	for {
		out, err := rc.rawToken(tok)
		if err != nil {
			t.Fatal(err)
		}
		done, next, err := sess.Challenge(out)
		if err != nil {
			t.Fatal(err)
		}
		if done {
			break
		}
		tok = next
	}
	rc.do(kmsg.NewPtrMetadataRequest())
	if !slices.Contains(b.principals(), auth.User("py")) {
		t.Fatalf("principals %v", b.principals())
	}

	rc = b.raw(t)
	handshake0(rc, "PLAIN")
	if _, err := rc.rawToken([]byte("\x00alice\x00wrong")); err == nil {
		t.Fatal("wrong password answered")
	}
	rc.expectClosed()
}
