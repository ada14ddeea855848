package auth

import (
	"context"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

const kafkaPlainJAAS = `org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="admin-secret" user_admin="admin-secret" user_alice="alice-secret";`

func TestPlain(t *testing.T) {
	t.Parallel()
	users, err := PlainUsersFromJAAS(kafkaPlainJAAS)
	if err != nil {
		t.Fatal(err)
	}
	if len(users) != 2 || users["alice"] != "alice-secret" || users["admin"] != "admin-secret" {
		t.Fatalf("users = %v", users)
	}
	m := Plain{Users: users}
	for _, tc := range []struct {
		name, tok, user, msg string
	}{
		{"ok", "\x00alice\x00alice-secret", "alice", ""},
		{"ok authzid", "alice\x00alice\x00alice-secret", "alice", ""},
		{"authzid differs", "admin\x00alice\x00alice-secret", "", "Authentication failed: Client requested an authorization id that is different from username"},
		{"wrong password", "\x00alice\x00nope", "", "Authentication failed: Invalid username or password"},
		{"unknown user", "\x00bob\x00alice-secret", "", "Authentication failed: Invalid username or password"},
		{"no user", "\x00\x00pw", "", "Authentication failed: username not specified"},
		{"no password", "\x00alice\x00", "", "Authentication failed: password not specified"},
		{"one token", "alice", "", "Invalid SASL/PLAIN response: expected 3 tokens, got 1"},
		{"two tokens", "alice\x00pw", "", "Invalid SASL/PLAIN response: expected 3 tokens, got 2"},
		{"four tokens", "\x00alice\x00alice-secret\x00", "", "Invalid SASL/PLAIN response: expected 3 tokens, got 4"},
		{"empty", "", "", "Invalid SASL/PLAIN response: expected 3 tokens, got 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := m.NewSession()
			out, done, err := s.Step([]byte(tc.tok))
			if tc.msg != "" {
				if err == nil || !errors.Is(err, ErrAuthentication) || ClientMessage(err, false) != tc.msg || done {
					t.Fatalf("err = %v, done %v; want %q", err, done, tc.msg)
				}
				return
			}
			if err != nil || !done || len(out) != 0 || s.Principal() != User(tc.user) {
				t.Fatalf("out %q done %v err %v principal %v", out, done, err, s.Principal())
			}
			if _, _, err := s.Step([]byte(tc.tok)); err == nil {
				t.Fatal("a token after completion was accepted")
			}
		})
	}
}

// TestPlainFranzClient feeds franz-go's PLAIN client token to the server.
func TestPlainFranzClient(t *testing.T) {
	t.Parallel()
	s := Plain{Users: PlainUsers{"alice": "alice-secret"}}.NewSession()
	_, tok, err := plain.Auth{User: "alice", Pass: "alice-secret"}.AsMechanism().Authenticate(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	if _, done, err := s.Step(tok); err != nil || !done || s.Principal().String() != "User:alice" {
		t.Fatalf("done %v err %v principal %v", done, err, s.Principal())
	}
}

type memScram map[string]ScramCredential

func (m memScram) ScramCredential(h ScramHash, user string) (ScramCredential, bool, error) {
	c, ok := m[h.Name()+"/"+user]
	return c, ok, nil
}

// TestScramRFC7677 replays the SCRAM-SHA-256 exchange of RFC 7677 section 3.
func TestScramRFC7677(t *testing.T) {
	t.Parallel()
	salt := mustB64(t, "W22ZaJ0SNY7soEsUEjb6gQ==")
	cred, err := ScramCredentialFromPassword(ScramSHA256, "pencil", salt, 4096)
	if err != nil {
		t.Fatal(err)
	}
	m := Scram{Hash: ScramSHA256, Users: memScram{"SCRAM-SHA-256/user": cred},
		Nonce: func() (string, error) { return "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0", nil }}
	s := m.NewSession()
	out, done, err := s.Step([]byte("n,,n=user,r=rOprNGfwEbeRWgbNEkqO"))
	if err != nil || done {
		t.Fatal(err, done)
	}
	if want := "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"; string(out) != want {
		t.Fatalf("server-first %q, want %q", out, want)
	}
	out, done, err = s.Step([]byte("c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="))
	if err != nil || !done {
		t.Fatal(err, done)
	}
	if want := "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="; string(out) != want {
		t.Fatalf("server-final %q, want %q", out, want)
	}
	if s.Principal() != User("user") {
		t.Fatalf("principal %v", s.Principal())
	}
}

// runFranzScram runs franz-go's SCRAM client against the server session
// and returns the server's error, if any.
func runFranzScram(t *testing.T, mech sasl.Mechanism, s Session) error {
	t.Helper()
	cs, tok, err := mech.Authenticate(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	for range 4 {
		out, done, err := s.Step(tok)
		if err != nil {
			return err
		}
		cdone, next, cerr := cs.Challenge(out)
		if cerr != nil {
			t.Fatalf("client refused the server's message %q: %v", out, cerr)
		}
		if done {
			if !cdone {
				t.Fatal("server done, client not")
			}
			return nil
		}
		tok = next
	}
	t.Fatal("exchange did not finish")
	return nil
}

func TestScramFranzClient(t *testing.T) {
	t.Parallel()
	users := memScram{}
	for _, h := range []ScramHash{ScramSHA256, ScramSHA512} {
		for _, u := range []struct{ name, pw string }{{"alice", "alice-secret"}, {"a=b,c", "p,=w"}} {
			c, err := NewScramCredential(h, u.pw, 8192)
			if err != nil {
				t.Fatal(err)
			}
			users[h.Name()+"/"+u.name] = c
		}
	}
	asMech := func(h ScramHash, a scram.Auth) sasl.Mechanism {
		if h == ScramSHA512 {
			return a.AsSha512Mechanism()
		}
		return a.AsSha256Mechanism()
	}
	for _, h := range []ScramHash{ScramSHA256, ScramSHA512} {
		for _, tc := range []struct {
			name     string
			auth     scram.Auth
			ok       bool
			scramErr string
		}{
			{"ok", scram.Auth{User: "alice", Pass: "alice-secret"}, true, ""},
			{"escaped name", scram.Auth{User: "a=b,c", Pass: "p,=w"}, true, ""},
			{"wrong password", scram.Auth{User: "alice", Pass: "nope"}, false, "invalid-proof"},
			{"unknown user", scram.Auth{User: "bob", Pass: "alice-secret"}, false, "unknown-user"},
			{"token without tokens", scram.Auth{User: "alice", Pass: "alice-secret", IsToken: true}, false, "extensions-not-supported"},
		} {
			t.Run(h.Name()+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				s := Scram{Hash: h, Users: users}.NewSession()
				err := runFranzScram(t, asMech(h, tc.auth), s)
				if tc.ok {
					if err != nil || s.Principal() != User(tc.auth.User) {
						t.Fatalf("err %v principal %v", err, s.Principal())
					}
					return
				}
				if err == nil || !errors.Is(err, ErrAuthentication) || ScramError(err) != tc.scramErr {
					t.Fatalf("err %v (scram %q), want scram error %q", err, ScramError(err), tc.scramErr)
				}
				if want := "Authentication failed during authentication due to invalid credentials with SASL mechanism " + h.Name(); ClientMessage(err, false) != want {
					t.Fatalf("client message %q", ClientMessage(err, false))
				}
			})
		}
	}
}

type memTokens struct {
	cred   ScramCredential
	expiry time.Time
}

func (m memTokens) DelegationToken(h ScramHash, id string) (ScramCredential, Principal, time.Time, bool, error) {
	if id != "token1" {
		return ScramCredential{}, Principal{}, time.Time{}, false, nil
	}
	return m.cred, User("owner"), m.expiry, true, nil
}

func TestScramDelegationToken(t *testing.T) {
	t.Parallel()
	cred, err := NewScramCredential(ScramSHA256, "hmac", 4096)
	if err != nil {
		t.Fatal(err)
	}
	exp := time.Unix(2000000000, 0)
	s := Scram{Hash: ScramSHA256, Tokens: memTokens{cred, exp}}.NewSession()
	if err := runFranzScram(t, scram.Auth{User: "token1", Pass: "hmac", IsToken: true}.AsSha256Mechanism(), s); err != nil {
		t.Fatal(err)
	}
	if s.Principal() != User("owner") || !s.Expiry().Equal(exp) {
		t.Fatalf("principal %v expiry %v", s.Principal(), s.Expiry())
	}
}

func TestScramProtocolErrors(t *testing.T) {
	t.Parallel()
	cred, err := ScramCredentialFromPassword(ScramSHA256, "pencil", []byte("salt"), 4096)
	if err != nil {
		t.Fatal(err)
	}
	weak := cred
	weak.Iterations = 1000
	users := memScram{"SCRAM-SHA-256/user": cred, "SCRAM-SHA-256/weak": weak}
	nonce := func() (string, error) { return "SRV", nil }
	for _, tc := range []struct {
		name   string
		first  string
		final  string // sent if first succeeded
		public string // client-visible message if the failure is public
	}{
		{"channel binding y", "y,,n=user,r=abc", "", ""},
		{"channel binding p", "p=tls-unique,,n=user,r=abc", "", ""},
		{"no nonce", "n,,n=user", "", ""},
		{"bad saslname escape", "n,,n=us=er,r=abc", "", ""},
		{"nonce with comma", "n,,n=user,r=,", "", ""},
		{"authzid differs", "n,a=other,n=user,r=abc", "", "Authentication failed: Client requested an authorization id that is different from username"},
		{"weak iterations", "n,,n=weak,r=abc", "", ""},
		{"wrong final nonce", "n,,n=user,r=abc", "c=biws,r=abcXXX,p=AAAA", ""},
		{"wrong channel binding", "n,,n=user,r=abc", "c=eSws,r=abcSRV,p=AAAA", ""},
		{"bad proof base64", "n,,n=user,r=abc", "c=biws,r=abcSRV,p=!!", ""},
		{"short proof", "n,,n=user,r=abc", "c=biws,r=abcSRV,p=AAAA", ""},
		{"final no proof", "n,,n=user,r=abc", "c=biws,r=abcSRV", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := Scram{Hash: ScramSHA256, Users: users, Nonce: nonce}.NewSession()
			_, _, err := s.Step([]byte(tc.first))
			if err == nil {
				if tc.final == "" {
					t.Fatal("client-first accepted")
				}
				_, _, err = s.Step([]byte(tc.final))
				if err == nil {
					t.Fatal("client-final accepted")
				}
			}
			if !errors.Is(err, ErrAuthentication) {
				t.Fatalf("err %v does not wrap ErrAuthentication", err)
			}
			got := ClientMessage(err, true)
			if tc.public != "" && got != tc.public {
				t.Fatalf("client message %q, want %q", got, tc.public)
			}
			if tc.public == "" && !strings.HasPrefix(got, "Authentication failed during re-authentication due to invalid credentials") {
				t.Fatalf("client message %q reveals the cause", got)
			}
			if _, _, err := s.Step([]byte("c=biws,r=abcSRV,p=AAAA")); err == nil {
				t.Fatal("failed session accepted another token")
			}
		})
	}
}

func TestScramCredentialBounds(t *testing.T) {
	t.Parallel()
	for _, it := range []int{4095, 16385, 0} {
		if _, err := ScramCredentialFromPassword(ScramSHA512, "pw", []byte("s"), it); err == nil {
			t.Errorf("iterations %d accepted", it)
		}
	}
	for _, it := range []int{4096, 16384} {
		if _, err := ScramCredentialFromPassword(ScramSHA512, "pw", []byte("s"), it); err != nil {
			t.Errorf("iterations %d: %v", it, err)
		}
	}
}

// TestScramLibrdkafkaNonce: librdkafka's client-final r= is its own nonce
// followed by the whole server r=; Kafka accepts a nonce that ends with
// the server's, and so does gregor. One that does not end with it fails.
func TestScramLibrdkafkaNonce(t *testing.T) {
	t.Parallel()
	salt := []byte("salt")
	salted, err := scramSalted(ScramSHA512, "pw", salt, 4096)
	if err != nil {
		t.Fatal(err)
	}
	cred := ScramCredentialFromSaltedPassword(ScramSHA512, salt, salted, 4096)
	m := Scram{Hash: ScramSHA512, Users: memScram{"SCRAM-SHA-512/u": cred}, Nonce: func() (string, error) { return "srv", nil }}
	final := func(r string, server1 []byte) []byte {
		wo := "c=biws,r=" + r
		clientKey := hmacSum(ScramSHA512, salted, []byte("Client Key"))
		stored := sha512.Sum512(clientKey)
		sig := hmacSum(ScramSHA512, stored[:], []byte("n=u,r=cli,"+string(server1)+","+wo))
		proof := make([]byte, len(sig))
		subtle.XORBytes(proof, clientKey, sig)
		return []byte(wo + ",p=" + base64.StdEncoding.EncodeToString(proof))
	}
	for _, tc := range []struct {
		r  string
		ok bool
	}{{"clisrv", true}, {"cli" + "clisrv", true}, {"clisrv" + "x", false}, {"srv", false}} {
		s := m.NewSession()
		server1, _, err := s.Step([]byte("n,,n=u,r=cli"))
		if err != nil {
			t.Fatal(err)
		}
		_, done, err := s.Step(final(tc.r, server1))
		if done != tc.ok || (err == nil) != tc.ok {
			t.Fatalf("r=%s: done %v err %v, want ok %v", tc.r, done, err, tc.ok)
		}
	}
}
