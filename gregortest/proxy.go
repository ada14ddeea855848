package gregortest

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-msgpack/v2/codec"
)

// A proxy fronts one broker's inter-broker traffic of one kind (its Raft
// transport or its inter-broker Kafka listener): the other brokers reach
// the broker only through it. Each connection's first message names the
// node that opened it (a Raft RPC header's ID; the client ID that brokers
// forward and fetch with), so the proxy can refuse and cut the links of an
// isolated node in both directions. Connections whose first message names
// no node are treated as coming from node 0.
type proxy struct {
	c    *Cluster
	dst  int32 // the node behind the proxy
	kind string
	ln   net.Listener

	mu     sync.Mutex
	target string // the broker's own listener; "" while it is down
	links  map[*link]struct{}
	closed bool
	wg     sync.WaitGroup
}

type link struct {
	src  int32
	down net.Conn

	mu     sync.Mutex
	up     net.Conn
	closed bool
}

// close closes both sides; an upstream connection set later is closed by
// setUp.
func (l *link) close() {
	l.mu.Lock()
	l.closed = true
	up := l.up
	l.mu.Unlock()
	l.down.Close()
	if up != nil {
		up.Close()
	}
}

// setUp records the upstream connection, or reports false if the link is
// closed already.
func (l *link) setUp(up net.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return false
	}
	l.up = up
	return true
}

const (
	kindRaft  = "raft"
	kindKafka = "kafka"
)

// tlsHandshakeRecord is the first byte of a TLS connection (the record
// type of its ClientHello). Neither a Raft RPC type nor the top byte of a
// Kafka request size can be it.
const tlsHandshakeRecord = 0x16

// forwardPrefix is the client ID prefix brokers use towards each other,
// followed by their node ID.
const forwardPrefix = "gregor-forward-"

func newProxy(c *Cluster, dst int32, kind string) (*proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &proxy{c: c, dst: dst, kind: kind, ln: ln, links: map[*link]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

func (p *proxy) setTarget(addr string) {
	p.mu.Lock()
	p.target = addr
	p.mu.Unlock()
}

func (p *proxy) accept() {
	defer p.wg.Done()
	for {
		nc, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.serve(nc)
		}()
	}
}

func (p *proxy) serve(nc net.Conn) {
	// The link is registered while its first message is read, so close
	// and Isolate cut it meanwhile too.
	l := &link{src: -1, down: nc}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		nc.Close()
		return
	}
	p.links[l] = struct{}{}
	p.mu.Unlock()
	defer func() {
		l.close()
		p.mu.Lock()
		delete(p.links, l)
		p.mu.Unlock()
	}()

	_ = nc.SetReadDeadline(time.Now().Add(30 * time.Second))
	var first bytes.Buffer
	var src int32
	var b0 [1]byte
	n, err := io.ReadFull(nc, b0[:])
	down := net.Conn(&peekedConn{Conn: nc, first: b0[:n]})
	plain := err == nil && b0[0] != tlsHandshakeRecord
	// A TLS connection (a handshake record first) names no node the
	// proxy can read: it counts as node 0's, cut only by destination,
	// unless the cluster is secured by gregortest (secure.go): then the
	// proxy ends the TLS connection and reads the node from its
	// certificate, and from the plaintext inside if it showed none.
	terminate := err == nil && !plain && p.c.pki != nil && p.kind != kindClient
	if terminate {
		if !p.hold(0) {
			return
		}
		tc, id, err := p.c.pki.acceptTLS(down)
		if err != nil {
			return
		}
		down, src, plain = tc, id, id == 0
	}
	tee := io.TeeReader(down, &first)
	if plain {
		switch p.kind {
		case kindRaft:
			src = sniffRaft(tee)
		case kindKafka:
			src = sniffKafka(tee)
		}
	}
	_ = nc.SetReadDeadline(time.Time{})
	p.mu.Lock()
	l.src = src
	target := p.target
	cut := p.closed || target == "" || p.cutOff(src)
	p.mu.Unlock()
	if cut {
		return
	}

	up, err := net.DialTimeout("tcp", target, 5*time.Second)
	if err != nil {
		return
	}
	// Isolate or close may have run while dialling.
	p.mu.Lock()
	cut = p.closed || p.cutOff(src)
	p.mu.Unlock()
	if cut || !l.setUp(up) {
		up.Close()
		return
	}
	if !p.hold(src) {
		return
	}
	if terminate {
		if up, err = p.c.pki.dialTLS(up, src); err != nil {
			return
		}
	}
	if _, err := up.Write(first.Bytes()); err != nil {
		return
	}
	// Towards the node behind the proxy, and back (shape.go shapes
	// inter-broker links; client links are copied as they are).
	toDst, toSrc := p.copy, p.copy
	if p.kind != kindClient {
		toDst = func(w io.Writer, r io.Reader, node int32) error { return p.shapedCopy(w, r, node, src, p.dst) }
		toSrc = func(w io.Writer, r io.Reader, node int32) error { return p.shapedCopy(w, r, node, p.dst, src) }
	}
	done := make(chan struct{})
	go func() {
		_ = toSrc(down, up, src)
		l.close()
		close(done)
	}()
	_ = toDst(up, down, src)
	l.close()
	<-done
}

// cutLinks closes every link from or to node id.
func (p *proxy) cutLinks(id int32) { p.eachLink(id, (*link).close) }

// eachLink calls f on every link from or to node id.
func (p *proxy) eachLink(id int32, f func(*link)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for l := range p.links {
		if l.src == id || p.dst == id {
			f(l)
		}
	}
}

func (p *proxy) close() {
	p.mu.Lock()
	p.closed = true
	p.ln.Close()
	for l := range p.links {
		l.close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// sniffRaft reads a Raft transport connection's first RPC (a type byte,
// then a msgpack-encoded request whose header names the sender).
func sniffRaft(r io.Reader) int32 {
	br := bufio.NewReaderSize(r, 1)
	if _, err := br.ReadByte(); err != nil {
		return 0
	}
	// Requests embed raft.RPCHeader: its fields are encoded inline.
	var req struct{ ID []byte }
	if err := codec.NewDecoder(br, &codec.MsgpackHandle{}).Decode(&req); err != nil {
		return 0
	}
	return parseID(string(req.ID))
}

// sniffKafka reads a Kafka request's size, header and client ID.
func sniffKafka(r io.Reader) int32 {
	var hdr [14]byte // size, api key, version, correlation id, client id length
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0
	}
	n := int16(binary.BigEndian.Uint16(hdr[12:]))
	if n <= 0 || n > 256 {
		return 0
	}
	id := make([]byte, n)
	if _, err := io.ReadFull(r, id); err != nil {
		return 0
	}
	s, ok := strings.CutPrefix(string(id), forwardPrefix)
	if !ok {
		return 0
	}
	return parseID(s)
}

func parseID(s string) int32 {
	n, err := strconv.ParseInt(s, 10, 32)
	if err != nil {
		return 0
	}
	return int32(n)
}
