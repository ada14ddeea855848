package controller

import (
	"bytes"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

func TestParsePlainToken(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		tok        string
		user, pass string
		ok         bool
	}{
		{"\x00alice\x00secret", "alice", "secret", true},
		{"alice\x00alice\x00secret", "alice", "secret", true},
		{"bob\x00alice\x00secret", "", "", false}, // authzid is another user
		{"\x00\x00secret", "", "", false},
		{"\x00alice\x00", "", "", false},
		{"alice\x00secret", "", "", false},
		{"\x00a\x00b\x00c", "", "", false},
		{"", "", "", false},
	} {
		user, pass, err := parsePlainToken([]byte(tc.tok))
		if (err == nil) != tc.ok || user != tc.user || pass != tc.pass {
			t.Errorf("%q: got %q %q %v", tc.tok, user, pass, err)
		}
		if err != nil && !errors.Is(err, errRaftSASLRequest) {
			t.Errorf("%q: error %v is not a malformed login", tc.tok, err)
		}
	}
}

func TestRaftSASLRequestLimits(t *testing.T) {
	t.Parallel()
	req := appendRaftSASLRequest(nil, "PLAIN", plainToken("u", "p"))
	got, err := readRaftSASLRequest(bytes.NewReader(append(req, "rest"...)))
	if err != nil || got.Mechanism != "PLAIN" || string(got.Token) != "\x00u\x00p" {
		t.Fatalf("round trip: %+v %v", got, err)
	}
	for name, b := range map[string][]byte{
		"version":   append([]byte{1}, req[1:]...),
		"mechanism": {0, 0xff, 0xff},
		"token":     {0, 0, 5, 'P', 'L', 'A', 'I', 'N', 0x7f, 0xff, 0xff, 0xff},
	} {
		if _, err := readRaftSASLRequest(bytes.NewReader(b)); !errors.Is(err, errRaftSASLRequest) {
			t.Errorf("%s: got %v, want a malformed login", name, err)
		}
	}
	if _, err := readRaftSASLRequest(bytes.NewReader(req[:len(req)-1])); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("truncated: got %v", err)
	}
}

// saslPair is a listening SASL stream layer with the users of users.
func saslPair(t *testing.T, users map[string]string) *saslStream {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return &saslStream{StreamLayer: &tcpStream{Listener: ln, adv: ln.Addr()}, cfg: &RaftSASL{
		Mechanism: "PLAIN", Username: "controller", Password: users["controller"],
		Verify: func(u, p string) (bool, error) { pw, ok := users[u]; return ok && pw == p, nil },
	}}
}

// TestRaftSASLStream: a voter with the right password gets its bytes
// through; a wrong password fails the dial and the server never reads
// a byte of it; a client speaking Raft without a login is refused.
func TestRaftSASLStream(t *testing.T) {
	t.Parallel()
	srv := saslPair(t, map[string]string{"controller": "secret"})
	type accepted struct {
		got []byte
		err error
	}
	results := make(chan accepted, 3)
	go func() {
		for {
			c, err := srv.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				b := make([]byte, 5)
				_, err := io.ReadFull(c, b)
				results <- accepted{b, err}
			}()
		}
	}()
	addr := srv.Addr().String()
	dialAs := func(pass string) (net.Conn, error) {
		cl := &saslStream{StreamLayer: &tcpStream{}, cfg: &RaftSASL{Mechanism: "PLAIN", Username: "controller", Password: pass}}
		return cl.Dial(raft.ServerAddress(addr), 5*time.Second)
	}

	c, err := dialAs("secret")
	if err != nil {
		t.Fatalf("right password: %v", err)
	}
	if _, err := c.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	if r := <-results; r.err != nil || string(r.got) != "hello" {
		t.Fatalf("server read %q, %v", r.got, r.err)
	}
	c.Close()

	if _, err := dialAs("wrong"); !errors.Is(err, errRaftSASLDenied) {
		t.Fatalf("wrong password: got %v", err)
	}
	if r := <-results; !errors.Is(r.err, errRaftSASLDenied) {
		t.Fatalf("server after a wrong password: read %q, %v", r.got, r.err)
	}

	// An unsupported mechanism gets status 2 and the close; a Raft RPC
	// (type byte 0, then msgpack) where the login belongs is refused
	// too, and the server reads none of it.
	for _, first := range [][]byte{
		appendRaftSASLRequest(nil, "SCRAM-SHA-512", []byte("n,,n=controller,r=abc")),
		{0, 0x85, 0xa2}, // RPC type 0, the start of its msgpack header
	} {
		raw, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := raw.Write(first); err != nil {
			t.Fatal(err)
		}
		_ = raw.SetReadDeadline(time.Now().Add(5 * time.Second))
		var st [1]byte
		if _, err := io.ReadFull(raw, st[:]); err != nil || st[0] != raftSASLBadMech {
			t.Fatalf("%x: got status %d, %v; want %d", first, st[0], err, raftSASLBadMech)
		}
		if n, err := raw.Read(st[:]); n != 0 || err == nil {
			t.Fatalf("%x: the connection stayed open after the refusal", first)
		}
		raw.Close()
		if r := <-results; r.err == nil {
			t.Fatalf("server read %q from a client that did not log in", r.got)
		}
	}
}

// FuzzRaftSASLRequest: any bytes parse or fail without panicking, reading
// at most the request; what parses re-encodes to the bytes read.
func FuzzRaftSASLRequest(f *testing.F) {
	f.Add(appendRaftSASLRequest(nil, "PLAIN", plainToken("alice", "secret")))
	f.Add(appendRaftSASLRequest(nil, "PLAIN", []byte("alice\x00alice\x00pw")))
	f.Add(appendRaftSASLRequest(nil, "SCRAM-SHA-512", []byte("n,,n=alice,r=abc")))
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{0x16, 3, 1, 0, 0xa5})
	f.Fuzz(func(t *testing.T, b []byte) {
		r := bytes.NewReader(b)
		req, err := readRaftSASLRequest(r)
		if err != nil {
			return
		}
		read := b[:len(b)-r.Len()]
		if again := appendRaftSASLRequest(nil, req.Mechanism, req.Token); !bytes.Equal(again, read) {
			t.Fatalf("re-encoded %x, read %x", again, read)
		}
		user, pass, err := parsePlainToken(req.Token)
		if err != nil {
			return
		}
		if user == "" || pass == "" || bytes.Count(req.Token, []byte{0}) != 2 {
			t.Fatalf("parsed %q %q from %q", user, pass, req.Token)
		}
	})
}
