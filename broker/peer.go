package broker

import (
	"context"
	"fmt"
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
	dial     wire.DialConfig // TLS and SASL of the inter-broker listener

	mu sync.Mutex
	c  *wire.Client // nil until dialled, and after an error
}

func newPeer(addr, clientID string, dial wire.DialConfig) *peer {
	return &peer{addr: addr, clientID: clientID, dial: dial}
}

// reauthMargin is how long before its SASL session ends (KIP-368) a peer
// connection is replaced by a fresh login rather than used again.
const reauthMargin = 5 * time.Second

// do sends req and returns its response. Any error closes the connection;
// the next call redials.
func (p *peer) do(ctx context.Context, req kmsg.Request) (kmsg.Response, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.c != nil && !p.c.SessionExpiry.IsZero() && time.Until(p.c.SessionExpiry) < reauthMargin {
		p.c.Close()
		p.c = nil
	}
	if p.c == nil {
		c, err := wire.DialWith(ctx, p.addr, p.clientID, p.dial)
		if err != nil {
			return nil, err
		}
		c.Timeout = 60 * time.Second // for a ctx without a deadline
		p.c = c
	}
	resp, err := p.roundTrip(ctx, req)
	if err != nil {
		p.c.Close()
		p.c = nil
	}
	return resp, err
}

func (p *peer) roundTrip(ctx context.Context, req kmsg.Request) (kmsg.Response, error) {
	resp, err := p.c.Do(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("peer %s: %w", p.addr, err)
	}
	return resp, nil
}

func (p *peer) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.c != nil {
		p.c.Close()
		p.c = nil
	}
}
