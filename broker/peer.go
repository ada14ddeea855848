package broker

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/wire"
)

// peer is a connection to another gregor node for broker-to-broker
// requests: forwarding admin requests to the controller leader, follower
// fetches, ISR changes. Requests keep the version they are given (a
// forwarded request keeps its client's version, so the response can be
// returned to the client unchanged). One request at a time; callers that
// need parallelism use several peers.
type peer struct {
	addr     string
	clientID string

	mu   sync.Mutex
	nc   net.Conn
	r    *bufio.Reader
	corr int32
	f    *kmsg.RequestFormatter
}

func newPeer(addr, clientID string) *peer {
	return &peer{addr: addr, clientID: clientID, f: kmsg.NewRequestFormatter(kmsg.FormatterClientID(clientID))}
}

// do sends req and returns its response. Any error closes the connection;
// the next call redials.
func (p *peer) do(ctx context.Context, req kmsg.Request) (kmsg.Response, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.nc == nil {
		var d net.Dialer
		nc, err := d.DialContext(ctx, "tcp", p.addr)
		if err != nil {
			return nil, err
		}
		p.nc, p.r = nc, bufio.NewReaderSize(nc, 64<<10)
	}
	resp, err := p.roundTrip(ctx, req)
	if err != nil {
		p.nc.Close()
		p.nc = nil
	}
	return resp, err
}

func (p *peer) roundTrip(ctx context.Context, req kmsg.Request) (kmsg.Response, error) {
	deadline := time.Now().Add(60 * time.Second)
	if d, ok := ctx.Deadline(); ok {
		deadline = d
	}
	p.nc.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { p.nc.SetDeadline(time.Now()) })
	defer stop()
	p.corr++
	if _, err := p.nc.Write(p.f.AppendRequest(nil, req, p.corr)); err != nil {
		return nil, err
	}
	frame, err := wire.ReadFrame(p.r, nil, 1<<30)
	if err != nil {
		return nil, err
	}
	if len(frame) < 4 || int32(binary.BigEndian.Uint32(frame)) != p.corr {
		return nil, fmt.Errorf("peer %s: bad correlation id", p.addr)
	}
	resp := req.ResponseKind()
	body := frame[4:]
	if wire.ResponseHeaderFlexible(resp) {
		if len(body) == 0 {
			return nil, fmt.Errorf("peer %s: short response", p.addr)
		}
		body = body[1:] // we send no tags and expect none back
	}
	if err := resp.ReadFrom(body); err != nil {
		return nil, fmt.Errorf("peer %s: %w", p.addr, err)
	}
	return resp, nil
}

func (p *peer) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.nc != nil {
		p.nc.Close()
		p.nc = nil
	}
}
