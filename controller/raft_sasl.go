package controller

import (
	"bytes"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// SASL on the Raft transport (a SASL_PLAINTEXT or SASL_SSL controller
// listener). hashicorp/raft speaks its own protocol, not Kafka's, so the
// login is gregor's own exchange, run on every connection before its
// first Raft RPC (after the TLS handshake on SASL_SSL):
//
//	client → server: version int8 (0)
//	                 mechanism: int16 length, bytes ("PLAIN")
//	                 token: int32 length (at most maxRaftSASLToken), bytes
//	                        (PLAIN: authzid NUL authcid NUL passwd, RFC 4616)
//	server → client: status int8: 0 logged in, 1 wrong credentials,
//	                 2 unsupported mechanism or malformed request
//
// The server closes the connection after a non-zero status.

// RaftSASL is the controller listener's SASL login: Username and Password
// are what this node logs in with when it dials another voter, Verify
// checks a PLAIN login of a node dialling this one.
type RaftSASL struct {
	Mechanism          string // only "PLAIN"
	Username, Password string
	Verify             func(user, password string) (bool, error)
}

const (
	raftSASLVersion  = 0
	maxRaftSASLToken = 64 << 10

	raftSASLOK      = 0
	raftSASLDenied  = 1
	raftSASLBadMech = 2

	// raftSASLTimeout bounds the server side of a login.
	raftSASLTimeout = 10 * time.Second
)

// raftSASLRequest is a parsed login request.
type raftSASLRequest struct {
	Mechanism string
	Token     []byte
}

// appendRaftSASLRequest encodes a login request.
func appendRaftSASLRequest(b []byte, mechanism string, token []byte) []byte {
	b = append(b, raftSASLVersion)
	b = binary.BigEndian.AppendUint16(b, uint16(len(mechanism)))
	b = append(b, mechanism...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(token)))
	return append(b, token...)
}

// readRaftSASLRequest reads one login request from r, reading no byte
// past it.
func readRaftSASLRequest(r io.Reader) (raftSASLRequest, error) {
	var hdr [3]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return raftSASLRequest{}, err
	}
	if hdr[0] != raftSASLVersion {
		return raftSASLRequest{}, fmt.Errorf("%w: version %d", errRaftSASLRequest, hdr[0])
	}
	mech := make([]byte, binary.BigEndian.Uint16(hdr[1:]))
	if len(mech) > 32 {
		return raftSASLRequest{}, fmt.Errorf("%w: mechanism of %d bytes", errRaftSASLRequest, len(mech))
	}
	if _, err := io.ReadFull(r, mech); err != nil {
		return raftSASLRequest{}, err
	}
	var n [4]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return raftSASLRequest{}, err
	}
	size := binary.BigEndian.Uint32(n[:])
	if size > maxRaftSASLToken {
		return raftSASLRequest{}, fmt.Errorf("%w: token of %d bytes", errRaftSASLRequest, size)
	}
	tok := make([]byte, size)
	if _, err := io.ReadFull(r, tok); err != nil {
		return raftSASLRequest{}, err
	}
	return raftSASLRequest{Mechanism: string(mech), Token: tok}, nil
}

// parsePlainToken splits a PLAIN message (RFC 4616) into its three
// fields: authcid and passwd must be non-empty, and an authzid, if given,
// must be the authcid (as Kafka's PLAIN server requires).
func parsePlainToken(tok []byte) (user, password string, err error) {
	parts := bytes.Split(tok, []byte{0})
	if len(parts) != 3 {
		return "", "", fmt.Errorf("%w: PLAIN message has %d fields", errRaftSASLRequest, len(parts))
	}
	authz, authc, pass := parts[0], parts[1], parts[2]
	if len(authc) == 0 || len(pass) == 0 {
		return "", "", fmt.Errorf("%w: PLAIN message without username or password", errRaftSASLRequest)
	}
	if len(authz) > 0 && !bytes.Equal(authz, authc) {
		return "", "", fmt.Errorf("%w: PLAIN authorization id differs from the username", errRaftSASLRequest)
	}
	return string(authc), string(pass), nil
}

// plainToken is the PLAIN message of user and password.
func plainToken(user, password string) []byte {
	return []byte("\x00" + user + "\x00" + password)
}

// raftSASLClient logs conn in; it must finish before the deadline.
func raftSASLClient(conn net.Conn, cfg *RaftSASL, deadline time.Time) error {
	_ = conn.SetDeadline(deadline)
	defer conn.SetDeadline(time.Time{})
	if _, err := conn.Write(appendRaftSASLRequest(nil, cfg.Mechanism, plainToken(cfg.Username, cfg.Password))); err != nil {
		return fmt.Errorf("controller: raft sasl: send login: %w", err)
	}
	var st [1]byte
	if _, err := io.ReadFull(conn, st[:]); err != nil {
		return fmt.Errorf("controller: raft sasl: read login answer: %w", err)
	}
	switch st[0] {
	case raftSASLOK:
		return nil
	case raftSASLDenied:
		return errRaftSASLDenied
	default:
		return fmt.Errorf("controller: raft sasl: login refused (status %d)", st[0])
	}
}

// raftSASLServer checks conn's login and answers it.
func raftSASLServer(conn net.Conn, cfg *RaftSASL) error {
	_ = conn.SetDeadline(time.Now().Add(raftSASLTimeout))
	defer conn.SetDeadline(time.Time{})
	req, err := readRaftSASLRequest(conn)
	if err != nil {
		if errors.Is(err, errRaftSASLRequest) {
			_, _ = conn.Write([]byte{raftSASLBadMech})
		}
		return err
	}
	if req.Mechanism != "PLAIN" {
		_, _ = conn.Write([]byte{raftSASLBadMech})
		return fmt.Errorf("%w: mechanism %q", errRaftSASLRequest, req.Mechanism)
	}
	user, pass, err := parsePlainToken(req.Token)
	if err != nil {
		_, _ = conn.Write([]byte{raftSASLBadMech})
		return err
	}
	ok, err := cfg.Verify(user, pass)
	if err != nil || !ok {
		_, _ = conn.Write([]byte{raftSASLDenied})
		return errRaftSASLDenied
	}
	_, err = conn.Write([]byte{raftSASLOK})
	return err
}

// saslConn is an accepted connection whose login runs on its first Read
// or Write (in Raft's handler goroutine, not the accept loop); a failed
// login closes it and fails every later call.
type saslConn struct {
	net.Conn
	cfg  *RaftSASL
	once sync.Once
	err  error
}

func (c *saslConn) login() error {
	c.once.Do(func() {
		if c.err = raftSASLServer(c.Conn, c.cfg); c.err != nil {
			c.Conn.Close()
		}
	})
	return c.err
}

func (c *saslConn) Read(b []byte) (int, error) {
	if err := c.login(); err != nil {
		return 0, err
	}
	return c.Conn.Read(b)
}

func (c *saslConn) Write(b []byte) (int, error) {
	if err := c.login(); err != nil {
		return 0, err
	}
	return c.Conn.Write(b)
}

// saslStream wraps a stream layer with the login on both ends.
type saslStream struct {
	raft.StreamLayer
	cfg *RaftSASL
}

func (s *saslStream) Accept() (net.Conn, error) {
	c, err := s.StreamLayer.Accept()
	if err != nil {
		return nil, err
	}
	return &saslConn{Conn: c, cfg: s.cfg}, nil
}

func (s *saslStream) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	deadline := time.Now().Add(timeout)
	c, err := s.StreamLayer.Dial(address, timeout)
	if err != nil {
		return nil, err
	}
	if err := raftSASLClient(c, s.cfg, deadline); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// tcpStream is the plain TCP stream layer (raft's own is unexported).
type tcpStream struct {
	net.Listener
	adv net.Addr
}

func (s *tcpStream) Addr() net.Addr { return s.adv }

func (s *tcpStream) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	return net.DialTimeout("tcp", string(address), timeout)
}

// newSecureTransport is raft.NewTCPTransportWithLogger's transport (pool
// size 3, I/O timeout 10s) over TLS when tc is set, with the SASL login
// when sc is.
func newSecureTransport(bind string, adv *net.TCPAddr, tc *RaftTLS, sc *RaftSASL, log hclog.Logger) (*raft.NetworkTransport, error) {
	if adv.IP == nil || adv.IP.IsUnspecified() {
		return nil, errors.New("controller: raft address is not advertisable")
	}
	if tc != nil && (tc.Server == nil || tc.Client == nil) {
		return nil, errors.New("controller: raft tls needs both a server and a client configuration")
	}
	if sc != nil && (sc.Mechanism != "PLAIN" || sc.Verify == nil || sc.Username == "") {
		return nil, fmt.Errorf("controller: raft sasl: mechanism %q with a login and a verifier is needed (PLAIN is supported)", sc.Mechanism)
	}
	ln, err := net.Listen("tcp", bind)
	if err != nil {
		return nil, err
	}
	var stream raft.StreamLayer = &tcpStream{Listener: ln, adv: adv}
	if tc != nil {
		stream = &tlsStream{Listener: tls.NewListener(ln, tc.Server), adv: adv, cfg: tc}
	}
	if sc != nil {
		stream = &saslStream{StreamLayer: stream, cfg: sc}
	}
	return raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream:  stream,
		MaxPool: 3,
		Timeout: 10 * time.Second,
		Logger:  log,
	}), nil
}
