package wire

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"
)

// ErrCorrelation means a response carried another correlation id than the
// request it was read for. The connection is out of step and must be closed.
var ErrCorrelation = errors.New("wire: response correlation id mismatch")

// Client is a raw Kafka client over one connection: it frames any
// kmsg.Request (request header v1 or v2 as the request's version needs),
// reads the matching response (header v0, or v1 with tagged fields for
// flexible versions except ApiVersions) and checks the correlation id.
// Requests may be pipelined: Send several, then Recv them in order. A
// Client is not safe for concurrent use.
type Client struct {
	conn net.Conn
	r    *bufio.Reader
	f    *kmsg.RequestFormatter
	corr int32
	wbuf []byte
	size int

	// Timeout bounds each Send and Recv whose context has no deadline;
	// 0 means no bound.
	Timeout time.Duration
	// MaxFrame is the largest response frame accepted (1 GiB by default).
	MaxFrame int32

	// SessionExpiry is when the SASL session of a DialWith login ends
	// (the server's session_lifetime_ms, KIP-368), or zero.
	SessionExpiry time.Time
}

// DialConfig says how DialWith secures a connection: TLS, then a SASL
// login, as a Kafka client does on SSL, SASL_PLAINTEXT and SASL_SSL
// listeners.
type DialConfig struct {
	// TLS, when set, returns the TLS configuration for a server reached
	// by the host name (or IP) serverName; the connection runs the
	// handshake before anything is sent.
	TLS func(serverName string) *tls.Config
	// SASL, when set, is the mechanism the client logs in with:
	// SaslHandshake v1, then SaslAuthenticate v1 until the mechanism is
	// done.
	SASL sasl.Mechanism
}

// ErrSASL wraps a refused SASL login (handshake or authentication).
var ErrSASL = errors.New("wire: sasl login failed")

// NewClient wraps conn. clientID goes in every request header.
func NewClient(conn net.Conn, clientID string) *Client {
	return &Client{
		conn:     conn,
		r:        bufio.NewReaderSize(conn, 64<<10),
		f:        kmsg.NewRequestFormatter(kmsg.FormatterClientID(clientID)),
		MaxFrame: 1 << 30,
	}
}

// Dial connects to addr over TCP and wraps the connection.
func Dial(ctx context.Context, addr, clientID string) (*Client, error) {
	return DialWith(ctx, addr, clientID, DialConfig{})
}

// DialWith connects to addr over TCP, runs the TLS handshake and the SASL
// login dc asks for, and wraps the connection. Any failure closes it.
func DialWith(ctx context.Context, addr, clientID string, dc DialConfig) (*Client, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		conn.Close()
		return nil, err
	}
	if dc.TLS != nil {
		tc := tls.Client(conn, dc.TLS(host))
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			return nil, fmt.Errorf("wire: tls handshake with %s: %w", addr, err)
		}
		conn = tc
	}
	c := NewClient(conn, clientID)
	if dc.SASL != nil {
		if err := c.login(ctx, dc.SASL, addr); err != nil {
			conn.Close()
			return nil, err
		}
	}
	return c, nil
}

// login runs a SASL exchange with m: SaslHandshake v1 naming the
// mechanism, then SaslAuthenticate v1 with each token the mechanism
// produces until it is done.
func (c *Client) login(ctx context.Context, m sasl.Mechanism, addr string) error {
	hs := kmsg.NewPtrSASLHandshakeRequest()
	hs.Version = 1
	hs.Mechanism = m.Name()
	r, err := c.Do(ctx, hs)
	if err != nil {
		return fmt.Errorf("wire: sasl handshake with %s: %w", addr, err)
	}
	if hr := r.(*kmsg.SASLHandshakeResponse); hr.ErrorCode != 0 {
		return fmt.Errorf("%w: %s: mechanism %s: %w (the server offers %v)", ErrSASL, addr, m.Name(), kerr.ErrorForCode(hr.ErrorCode), hr.SupportedMechanisms)
	}
	sess, tok, err := m.Authenticate(ctx, addr)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrSASL, addr, err)
	}
	start := time.Now()
	for {
		req := kmsg.NewPtrSASLAuthenticateRequest()
		req.Version = 1
		req.SASLAuthBytes = tok
		r, err := c.Do(ctx, req)
		if err != nil {
			return fmt.Errorf("wire: sasl authenticate with %s: %w", addr, err)
		}
		ar := r.(*kmsg.SASLAuthenticateResponse)
		if ar.ErrorCode != 0 {
			msg := ""
			if ar.ErrorMessage != nil {
				msg = ": " + *ar.ErrorMessage
			}
			return fmt.Errorf("%w: %s: %w%s", ErrSASL, addr, kerr.ErrorForCode(ar.ErrorCode), msg)
		}
		done, next, err := sess.Challenge(ar.SASLAuthBytes)
		if err != nil {
			return fmt.Errorf("%w: %s: %v", ErrSASL, addr, err)
		}
		if done {
			if ar.SessionLifetimeMillis > 0 {
				c.SessionExpiry = start.Add(time.Duration(ar.SessionLifetimeMillis) * time.Millisecond)
			}
			return nil
		}
		tok = next
	}
}

// Conn is the underlying connection.
func (c *Client) Conn() net.Conn { return c.conn }

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

// LastResponseSize is the size of the last frame Recv read, size prefix
// included.
func (c *Client) LastResponseSize() int { return c.size }

// Do sends req and reads its response.
func (c *Client) Do(ctx context.Context, req kmsg.Request) (kmsg.Response, error) {
	corr, err := c.Send(ctx, req)
	if err != nil {
		return nil, err
	}
	return c.Recv(ctx, req, corr)
}

// Send writes req and returns the correlation id it was sent with.
func (c *Client) Send(ctx context.Context, req kmsg.Request) (int32, error) {
	stop := c.bound(ctx)
	defer stop()
	c.corr++
	c.wbuf = c.f.AppendRequest(c.wbuf[:0], req, c.corr)
	if _, err := c.conn.Write(c.wbuf); err != nil {
		return 0, ctxErr(ctx, err)
	}
	return c.corr, nil
}

// Recv reads the next response, which must answer req sent with corr,
// and decodes it.
func (c *Client) Recv(ctx context.Context, req kmsg.Request, corr int32) (kmsg.Response, error) {
	stop := c.bound(ctx)
	defer stop()
	frame, err := ReadFrame(c.r, nil, c.MaxFrame)
	if err != nil {
		return nil, ctxErr(ctx, err)
	}
	c.size = len(frame) + 4
	resp, err := DecodeResponse(req, corr, frame)
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// DecodeResponse decodes a response frame (without its size prefix) to
// req sent with corr: the correlation id is checked and the header's
// tagged fields, if any, are skipped.
func DecodeResponse(req kmsg.Request, corr int32, frame []byte) (kmsg.Response, error) {
	if len(frame) < 4 {
		return nil, fmt.Errorf("%w: %d-byte response", ErrShortHeader, len(frame))
	}
	if got := int32(binary.BigEndian.Uint32(frame)); got != corr {
		return nil, fmt.Errorf("%w: %d, want %d", ErrCorrelation, got, corr)
	}
	resp := req.ResponseKind()
	body := frame[4:]
	if ResponseHeaderFlexible(resp) {
		var err error
		if body, err = skipTags(body); err != nil {
			return nil, err
		}
	}
	if err := resp.ReadFrom(body); err != nil {
		return nil, fmt.Errorf("%w: %s v%d response: %v", ErrMalformed, kmsg.NameForKey(req.Key()), req.GetVersion(), err)
	}
	return resp, nil
}

// bound sets the connection's deadline from ctx (or Timeout) and makes a
// cancelled ctx interrupt blocked I/O. The returned func undoes the
// cancellation hook.
func (c *Client) bound(ctx context.Context) func() {
	var deadline time.Time
	if d, ok := ctx.Deadline(); ok {
		deadline = d
	} else if c.Timeout > 0 {
		deadline = time.Now().Add(c.Timeout)
	}
	c.conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { c.conn.SetDeadline(time.Now()) })
	return func() { stop() }
}

// ctxErr prefers the context's error to the I/O error its cancellation
// caused.
func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%w (%v)", ctx.Err(), err)
	}
	return err
}
