package broker

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"gregor/auth"
)

// TLS connections (SSL and SASL_SSL listeners). The listener hands out
// *tls.Conn; the handshake runs first thing in serve, with the request
// read timeout as its deadline. On an SSL listener the principal is the
// client certificate's subject through ssl.principal.mapping.rules
// (User:ANONYMOUS without one); on SASL_SSL the SASL login sets it.

// tlsListener is what a TLS listener's connections need: the reloading
// key material and the principal mapping.
type tlsListener struct {
	tls    *auth.TLS
	mapper *auth.PrincipalMapper
	// certPrincipal is set on SSL listeners: the certificate names the
	// principal (on SASL_SSL the SASL login does).
	certPrincipal bool
}

// loadTLS reads the key material of every SSL and SASL_SSL listener (the
// controller listener's too); now is the clock certificate reloads are
// checked by. Key store and trust store files are read here, so a bad file
// fails the start naming its listener.
func loadTLS(c *SecurityConfig, now func() time.Time) (map[string]*auth.TLS, error) {
	out := map[string]*auth.TLS{}
	for name, lt := range c.TLS {
		t, err := auth.NewTLS(lt.Settings, now)
		if err != nil {
			return nil, fmt.Errorf("broker: listener %s: %w", name, err)
		}
		out[name] = t
	}
	return out, nil
}

// listenTLS wraps ln, a listener of security protocol proto, in TLS with
// its key material t.
func listenTLS(ln net.Listener, proto string, t *auth.TLS, lt ListenerTLS) (net.Listener, *tlsListener) {
	return tls.NewListener(ln, t.ServerConfig()), &tlsListener{tls: t, mapper: lt.Mapper, certPrincipal: proto == protoSSL}
}

// handshake runs the TLS handshake of a connection from a TLS listener
// and, on an SSL listener, sets the principal from the client
// certificate. An error closes the connection.
func (c *conn) handshake() error {
	tc, ok := c.nc.(*tls.Conn)
	if !ok {
		return fmt.Errorf("tls listener gave a %T", c.nc)
	}
	ctx, cancel := context.WithTimeout(c.d.ctx, c.sock.RequestReadTimeout)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		return fmt.Errorf("tls handshake: %w", err)
	}
	st := tc.ConnectionState()
	if c.tls.certPrincipal {
		p, err := auth.SSLPrincipal(c.tls.mapper, st.PeerCertificates)
		if err != nil {
			return fmt.Errorf("tls principal: %w", err)
		}
		c.principal.Store(&p)
	}
	c.log.Debug().Str("tls_version", tls.VersionName(st.Version)).Str("cipher", tls.CipherSuiteName(st.CipherSuite)).
		Str("principal", c.Principal().String()).Msg("tls handshake done")
	return nil
}

// tlsWriteChunk is the buffer a TLS connection writes its responses
// through: response bytes and file regions are copied into it (regions
// with pread, at most this much at a time) and each full buffer goes out
// as one Write, i.e. full-sized TLS records.
const tlsWriteChunk = 64 << 10

var tlsWriters = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, tlsWriteChunk) }}

// writeTLS writes pending on a TLS connection, where sendfile cannot carry
// the record bytes: they are read from the segment into a pooled buffer
// and encrypted from there. As writeLoop's plain path, a response that
// waits (acks=all) is awaited after what precedes it is flushed, and a
// write error stops the writing but every response is still awaited.
func (c *conn) writeTLS(pending []*outbound) error {
	w := tlsWriters.Get().(*bufio.Writer)
	w.Reset(c.nc)
	defer func() {
		w.Reset(nil)
		tlsWriters.Put(w)
	}()
	var err error
	for _, p := range pending {
		if !p.notBefore.IsZero() {
			// Throttled, before KIP-219 (see writePlain).
			if err == nil {
				err = w.Flush()
			}
			c.holdUntil(p.notBefore)
		}
		if p.await != nil {
			if err == nil {
				err = w.Flush()
			}
			p.await()
			*p = *encodeOutbound(p.corr, p.resp)
			c.nc.SetWriteDeadline(time.Now().Add(c.sock.ConnectionsMaxIdle))
		}
		for _, part := range p.parts {
			if err != nil {
				break
			}
			if part.region.Len == 0 {
				_, err = w.Write(part.b)
				continue
			}
			var n int64
			n, err = w.ReadFrom(io.NewSectionReader(part.region.File, part.region.Pos, part.region.Len))
			if err == nil && n != part.region.Len {
				err = fmt.Errorf("read %d of %d bytes of %s: %w", n, part.region.Len, part.region.File.Name(), io.ErrUnexpectedEOF)
			}
		}
	}
	if err == nil {
		err = w.Flush()
	}
	return err
}
