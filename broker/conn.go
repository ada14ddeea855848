package broker

import (
	"errors"
	"fmt"
	"io"
	"net"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/auth"
	"gregor/storage"
	"gregor/wire"
)

// conn is one client connection. One goroutine (serve) reads, decodes and
// handles requests in order; a second (writeLoop) writes their responses in
// the same order, so writing one response overlaps handling the next. The
// queue between them is bounded by queued.max.requests: a client that
// pipelines without reading its responses stalls its own reader, not the
// broker's memory. Idle and slow-request limits are socket deadlines, which
// the kernel enforces on the wall clock, not on the broker's Clock.
type conn struct {
	d       *deps // what handlers use
	sock    SocketConfig
	kept    *atomic.Int64 // request buffers all connections keep (keepBuffer)
	onClose func(*conn)

	nc  net.Conn
	id  uint64
	log zerolog.Logger
	// adv is the advertised listener for the listener this connection
	// came in on: Metadata gives clients this address for us.
	adv Listener

	// principal is who the connection authenticated as (auth.Anonymous
	// until a SASL exchange or a TLS client certificate says otherwise).
	principal atomic.Pointer[auth.Principal]
	// software is the client's software name and version from its
	// ApiVersions v3+ (KIP-511), for client telemetry's match patterns.
	software atomic.Pointer[[2]string]
	auth     connAuth // SASL state (conn_auth.go); serve's goroutine only
	// tls is set on connections from SSL and SASL_SSL listeners, whose
	// nc is a *tls.Conn (conn_tls.go).
	tls *tlsListener

	out      chan *outbound
	stopping atomic.Bool
	keeps    int64 // bytes of request buffer counted in kept
	// mutedUntil is when a client quota's throttle ends: serve reads no
	// request before it (KIP-219). serve's goroutine only.
	mutedUntil time.Time
}

// outbound is one encoded response: byte chunks interleaved with file
// regions sent with sendfile.
type outbound struct {
	// A response that waits (acks=all) is encoded by the writer after
	// await returns.
	corr  int32
	resp  kmsg.Response
	await func()
	// notBefore holds the response back until a client quota's throttle
	// ends (versions before KIP-219, where the broker throttles).
	notBefore time.Time

	parts []outPart
	buf   *[]byte // pooled encode buffer backing the byte parts
}

type outPart struct {
	b      []byte
	region storage.Region
}

// maxReusedFrame is the largest request buffer a connection keeps between
// requests, and maxKeptBuffers what all connections keep together.
const (
	maxReusedFrame = 16 << 20
	maxKeptBuffers = 256 << 20
)

// keepBuffer returns the buffer to read the next request into. ReadBody
// reuses old when the request fits, so frame either shares old's array or
// is a new, larger one; the larger one is kept if it is not huge and the
// broker-wide budget allows it, else old stays.
func (c *conn) keepBuffer(old, frame []byte) []byte {
	size := int64(cap(frame))
	if size == c.keeps {
		return frame[:0]
	}
	if size > maxReusedFrame || c.kept.Add(size-c.keeps) > maxKeptBuffers {
		if size <= maxReusedFrame {
			c.kept.Add(c.keeps - size) // over budget: undo
		}
		return old[:0]
	}
	c.keeps = size
	return frame[:0]
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 16<<10); return &b }}

// newConn returns connection id over nc, which came in on the listener
// advertised as adv. Its requests are handled with d; kept is the budget
// of request buffers shared by all connections; onClose runs when serve
// returns.
func newConn(nc net.Conn, id uint64, adv Listener, d *deps, sock SocketConfig, kept *atomic.Int64, log zerolog.Logger, onClose func(*conn)) *conn {
	c := &conn{
		d:       d,
		sock:    sock,
		kept:    kept,
		onClose: onClose,
		nc:      nc,
		id:      id,
		adv:     adv,
		log:     log.With().Uint64("conn", id).Str("remote", nc.RemoteAddr().String()).Logger(),
		out:     make(chan *outbound, sock.QueuedMaxRequests),
	}
	anon := auth.Anonymous
	c.principal.Store(&anon)
	return c
}

// Principal is who the connection is authenticated as.
func (c *conn) Principal() auth.Principal { return *c.principal.Load() }

// remoteHost is the client's IP address as ACLs match it.
func (c *conn) remoteHost() string {
	if a, ok := c.nc.RemoteAddr().(*net.TCPAddr); ok {
		return a.IP.String()
	}
	host, _, err := net.SplitHostPort(c.nc.RemoteAddr().String())
	if err != nil {
		return c.nc.RemoteAddr().String()
	}
	return host
}

// stopReading makes serve return after the request it is handling; queued
// responses are still written. Used by graceful shutdown.
func (c *conn) stopReading() {
	c.stopping.Store(true)
	c.nc.SetReadDeadline(time.Now())
}

func (c *conn) serve() {
	defer c.onClose(c)
	c.log.Debug().Msg("connection opened")
	writerDone := make(chan struct{})
	go c.writeLoop(writerDone)
	defer func() {
		close(c.out)
		<-writerDone
		c.nc.Close()
		c.kept.Add(-c.keeps)
		c.log.Debug().Msg("connection closed")
	}()

	if c.tls != nil {
		if err := c.handshake(); err != nil {
			c.log.Info().Err(err).Msg("closing connection")
			return
		}
	}
	var buf []byte
	for !c.stopping.Load() {
		c.nc.SetReadDeadline(time.Now().Add(c.sock.ConnectionsMaxIdle))
		n, err := wire.ReadSize(c.nc, c.sock.RequestMaxBytes)
		var frame []byte
		if err == nil {
			// Once a request has started it must arrive in time: a slow
			// sender cannot hold a connection and its buffer forever.
			c.nc.SetReadDeadline(time.Now().Add(c.sock.RequestReadTimeout))
			frame, err = wire.ReadBody(c.nc, buf, n)
		}
		if err != nil {
			c.logReadError(err)
			return
		}
		// Reuse the buffer: producers send ~1 MiB frames back to back, and
		// growing a fresh buffer for each costs more CPU than the append
		// itself. Buffers kept between requests count against one budget
		// for the whole broker, so idle connections cannot pin memory.
		buf = c.keepBuffer(buf, frame)
		if c.auth.rawTokens { // after SaslHandshake v0 (conn_auth.go)
			if err := c.handleRawToken(frame); err != nil {
				c.log.Info().Err(err).Msg("closing connection")
				return
			}
			continue
		}
		if err := c.handleFrame(frame); err != nil {
			c.log.Warn().Err(err).Msg("closing connection")
			return
		}
		if c.auth.failed {
			return // the failure's answer is queued; the writer sends it before the close
		}
		if !c.mutedUntil.IsZero() {
			// Throttled by a client quota: read nothing more until it ends.
			d := c.mutedUntil.Sub(c.d.clock.Now())
			c.mutedUntil = time.Time{}
			if d > 0 && !sleep(c.d.ctx, c.d.clock, d) {
				return
			}
		}
	}
}

func (c *conn) logReadError(err error) {
	var ne net.Error
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
	case c.stopping.Load():
	case errors.As(err, &ne) && ne.Timeout():
		c.log.Info().Dur("idle", c.sock.ConnectionsMaxIdle).Msg("closing idle connection")
	case errors.Is(err, wire.ErrFrameSize):
		c.log.Warn().Err(err).Msg("closing connection: bad frame size")
	default:
		c.log.Debug().Err(err).Msg("read failed")
	}
}

// handleFrame decodes and handles one request. An error closes the
// connection: the frame could not be understood, or the handler failed in
// a way Kafka answers by disconnecting.
func (c *conn) handleFrame(frame []byte) (err error) {
	req, perr := wire.ParseRequest(frame, c.d.table.serves)
	h := c.d.table.lookup(req.Key)
	if perr != nil {
		if req.Key == int16(kmsg.ApiVersions) && errors.Is(perr, wire.ErrUnsupportedVersion) {
			// KIP-511: answer in v0 with the versions we support, so the
			// client can retry with one of them.
			resp := c.d.table.apiVersionsResponse(0)
			resp.ErrorCode = kerr.UnsupportedVersion.Code
			return c.send(req.CorrelationID, resp, nil)
		}
		return fmt.Errorf("decode request (key %d v%d corr %d): %w", req.Key, req.Version, req.CorrelationID, perr)
	}
	if err := c.auth.admit(req.Key, c.d.clock.Now()); err != nil {
		return err
	}
	r := &request{Header: req.Header, body: req.Body, conn: c}
	sent := false
	defer func() {
		if !sent {
			releaseRegions(r.regions) // error, panic or no response: nobody will write them
		}
		if p := recover(); p != nil {
			c.log.Error().Str("api", kmsg.NameForKey(req.Key)).Int16("version", req.Version).
				Int32("corr", req.CorrelationID).Interface("panic", p).Bytes("stack", debug.Stack()).
				Msg("handler panic")
			err = fmt.Errorf("handler panic: %v", p)
		}
	}()
	start := c.d.metrics.begin(c.d.clock.Now())
	resp, err := h.fn(c.d, r)
	end := c.d.clock.Now()
	c.d.metrics.end(req.Key, req.Version, start, end, resp, err)
	if err != nil {
		return fmt.Errorf("%s v%d corr %d: %w", kmsg.NameForKey(req.Key), req.Version, req.CorrelationID, err)
	}
	var notBefore time.Time
	if throttle, clientThrottles := c.d.throttleRequest(r, resp, start, end); throttle > 0 {
		c.mutedUntil = end.Add(throttle)
		if !clientThrottles {
			notBefore = c.mutedUntil
		}
	}
	if resp == nil {
		return nil // acks=0 produce: no response at all
	}
	sent = true // send owns the regions from here
	if r.await != nil {
		c.out <- &outbound{corr: req.CorrelationID, resp: resp, await: c.d.metrics.awaiting(r.await), notBefore: notBefore}
		return nil
	}
	return c.sendAt(req.CorrelationID, resp, r.regions, notBefore)
}

// releaseRegions releases file regions that will not be written.
func releaseRegions(regions []storage.Region) {
	for _, r := range regions {
		r.Release()
	}
}

// send encodes resp and queues it for the writer. regions, if any, replace
// the record placeholders of a Fetch response (see fetchMarker); send takes
// ownership of them: they are released once written or dropped.
func (c *conn) send(corr int32, resp kmsg.Response, regions []storage.Region) error {
	return c.sendAt(corr, resp, regions, time.Time{})
}

// sendAt is send with the response held back until notBefore (if set).
func (c *conn) sendAt(corr int32, resp kmsg.Response, regions []storage.Region, notBefore time.Time) error {
	if len(regions) > 0 {
		return c.sendRegions(corr, resp, regions, notBefore)
	}
	ob := encodeOutbound(corr, resp)
	ob.notBefore = notBefore
	c.out <- ob
	return nil
}

// encodeOutbound encodes a response with no file regions.
func encodeOutbound(corr int32, resp kmsg.Response) *outbound {
	bp := bufPool.Get().(*[]byte)
	b := wire.AppendResponse((*bp)[:0], corr, resp)
	*bp = b
	return &outbound{buf: bp, parts: []outPart{{b: b}}}
}

func (c *conn) sendRegions(corr int32, resp kmsg.Response, regions []storage.Region, notBefore time.Time) error {
	ob := encodeOutbound(corr, resp)
	ob.notBefore = notBefore
	b := *ob.buf
	if len(regions) > 0 {
		var err error
		if ob.parts, err = spliceRegions(b, regions, resp.IsFlexible()); err != nil {
			ob.release()
			releaseRegions(regions)
			return err
		}
		if err := ob.inlineSmall(); err != nil {
			ob.release()
			return err
		}
	}
	c.out <- ob
	return nil
}

// inlineRegionMax is the most file bytes a response copies into its own
// buffer instead of sending them with sendfile.
const inlineRegionMax = 64 << 10

// inlineSmall replaces ob's file regions with their bytes when they are few:
// the whole response then leaves in one writev, one TCP segment on
// loopback, instead of writev + sendfile + writev per partition, each of
// which wakes the client. Tailing consumers fetch a few small batches at a
// time; bulk reads keep sendfile.
func (ob *outbound) inlineSmall() error {
	var total, files int64
	for _, p := range ob.parts {
		total += int64(len(p.b)) + p.region.Len
		files += p.region.Len
	}
	if files > inlineRegionMax {
		return nil
	}
	bp := bufPool.Get().(*[]byte)
	b := slices.Grow((*bp)[:0], int(total))
	for _, p := range ob.parts {
		if p.region.Len == 0 {
			b = append(b, p.b...)
			continue
		}
		n := len(b)
		b = b[:n+int(p.region.Len)]
		if _, err := p.region.File.ReadAt(b[n:], p.region.Pos); err != nil {
			*bp = b
			bufPool.Put(bp)
			return err
		}
	}
	*bp = b
	ob.release()
	ob.buf, ob.parts = bp, []outPart{{b: b}}
	return nil
}

// writeLoop writes queued responses in order. After a write error it closes
// the socket and drains the queue so that serve never blocks on it.
func (c *conn) writeLoop(done chan<- struct{}) {
	defer close(done)
	var failed bool
	var bufs net.Buffers
	var pending []*outbound
	for ob := range c.out {
		if failed {
			ob.release()
			continue
		}
		pending = append(pending[:0], ob)
		// Coalesce whatever else is queued into one writev.
	drain:
		for len(pending) < 64 {
			select {
			case more, ok := <-c.out:
				if !ok {
					break drain
				}
				pending = append(pending, more)
			default:
				break drain
			}
		}
		c.nc.SetWriteDeadline(time.Now().Add(c.sock.ConnectionsMaxIdle))
		var err error
		if c.tls != nil {
			err = c.writeTLS(pending)
		} else {
			bufs, err = c.writePlain(pending, bufs[:0])
		}
		for _, p := range pending {
			p.release()
		}
		if err != nil {
			c.log.Debug().Err(err).Msg("write failed")
			failed = true
			c.nc.Close()
		}
	}
}

// writePlain writes pending on a plain TCP connection: byte parts
// coalesced into one writev (through bufs, returned for reuse), file
// regions with sendfile. A response that waits (acks=all) is awaited after
// what precedes it is written; after a write error nothing more is
// written but every response is still awaited.
func (c *conn) writePlain(pending []*outbound, bufs net.Buffers) (net.Buffers, error) {
	var err error
	for _, p := range pending {
		if !p.notBefore.IsZero() {
			// Throttled, before KIP-219: write what is ready, then
			// hold this response until the throttle ends.
			if len(bufs) > 0 && err == nil {
				_, err = bufs.WriteTo(c.nc)
				bufs = bufs[:0]
			}
			c.holdUntil(p.notBefore)
		}
		if p.await != nil {
			// Write what is ready before waiting (acks=all).
			if len(bufs) > 0 && err == nil {
				_, err = bufs.WriteTo(c.nc)
				bufs = bufs[:0]
			}
			p.await()
			*p = *encodeOutbound(p.corr, p.resp)
			c.nc.SetWriteDeadline(time.Now().Add(c.sock.ConnectionsMaxIdle))
		}
		for _, part := range p.parts {
			if part.region.Len == 0 {
				bufs = append(bufs, part.b)
				continue
			}
			if len(bufs) > 0 && err == nil {
				_, err = bufs.WriteTo(c.nc)
				bufs = bufs[:0]
			}
			if err == nil {
				err = sendRegion(c.nc, part.region)
			}
		}
	}
	if len(bufs) > 0 && err == nil {
		_, err = bufs.WriteTo(c.nc)
	}
	return bufs[:0], err
}

// holdUntil waits until t, the end of a throttle held back before
// KIP-219, then renews the write deadline.
func (c *conn) holdUntil(t time.Time) {
	if d := t.Sub(c.d.clock.Now()); d > 0 {
		sleep(c.d.ctx, c.d.clock, d)
	}
	c.nc.SetWriteDeadline(time.Now().Add(c.sock.ConnectionsMaxIdle))
}

// release returns the encode buffer to the pool and releases the file
// regions (written or not: called after the write, or to drop ob).
func (ob *outbound) release() {
	if ob.buf != nil && cap(*ob.buf) <= 1<<20 {
		bufPool.Put(ob.buf)
	}
	ob.buf = nil
	for i := range ob.parts {
		ob.parts[i].region.Release()
		ob.parts[i].region = storage.Region{}
	}
}

// sendRegion writes a file region to the connection: sendfile(2) on a TCP
// connection (the bytes never enter user space), a plain copy otherwise.
func sendRegion(nc net.Conn, r storage.Region) error {
	if tc, ok := nc.(*net.TCPConn); ok {
		return sendfile(tc, r.File, r.Pos, r.Len)
	}
	_, err := io.Copy(nc, io.NewSectionReader(r.File, r.Pos, r.Len))
	return err
}
