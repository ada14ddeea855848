// Package crowd is a hostile crowd of raw Kafka connections against a
// broker: a share of them misbehave (hold an idle connection, send random
// garbage, send frames over the broker's size limit or a large frame they
// never finish, reconnecting whenever the broker hangs up), the rest send
// polite Metadata requests on one connection each. broker's
// TestHostileCrowd and gregor-bench loadtest run it next to real clients.
//
// It imports only wire and kmsg, so broker's own tests can use it.
package crowd

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/wire"
)

// Config is what the crowd is made of.
type Config struct {
	// Addrs are the brokers; connection i goes to Addrs[i%len(Addrs)].
	Addrs []string
	// Conns is the number of crowd members.
	Conns int
	// Hostile is the share of members that misbehave (0 to 1).
	Hostile float64
	// FrameMax is the broker's socket.request.max.bytes; oversized frames
	// go past it.
	FrameMax int
	// Topic is what polite members ask Metadata for.
	Topic string
	// Partitions, if positive, is the partition count polite members
	// expect Topic to have; another answer is a polite failure.
	Partitions int
	// RequestTimeout bounds one polite request (30 s if 0).
	RequestTimeout time.Duration
}

// Result is what the crowd saw.
type Result struct {
	Opened         int64 // connections opened, reconnects included
	ClosedByBroker int64 // hostile connections the broker hung up on
	Answered       int64 // polite requests answered correctly
	PoliteFailed   int64 // polite members that failed (each stops at its first failure)
	PoliteErr      error // the first polite failure
}

// Crowd is a running crowd.
type Crowd struct {
	cfg    Config
	cancel context.CancelFunc
	wg     sync.WaitGroup

	opened, closedByBroker, answered, politeFailed atomic.Int64
	politeErr                                      atomic.Pointer[error]
}

// Start starts cfg.Conns members; they run until ctx ends or Stop.
func Start(ctx context.Context, cfg Config) *Crowd {
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 30 * time.Second
	}
	ctx, cancel := context.WithCancel(ctx)
	c := &Crowd{cfg: cfg, cancel: cancel}
	nHostile := int(float64(cfg.Conns) * cfg.Hostile)
	for i := 0; i < cfg.Conns; i++ {
		c.wg.Add(1)
		go func(i int) {
			defer c.wg.Done()
			r := rand.New(rand.NewSource(int64(i)))
			addr := cfg.Addrs[i%len(cfg.Addrs)]
			if i < nHostile {
				c.hostile(ctx, addr, i%3, r)
			} else {
				c.polite(ctx, addr, r)
			}
		}(i)
	}
	return c
}

// Opened is the number of connections opened so far.
func (c *Crowd) Opened() int64 { return c.opened.Load() }

// Stop stops every member, waits for them and returns what they saw.
func (c *Crowd) Stop() Result {
	c.cancel()
	c.wg.Wait()
	res := Result{
		Opened:         c.opened.Load(),
		ClosedByBroker: c.closedByBroker.Load(),
		Answered:       c.answered.Load(),
		PoliteFailed:   c.politeFailed.Load(),
	}
	if p := c.politeErr.Load(); p != nil {
		res.PoliteErr = *p
	}
	return res
}

func pause(ctx context.Context, r *rand.Rand) bool {
	t := time.NewTimer(time.Duration(50+r.Intn(150)) * time.Millisecond)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// hostile misbehaves until ctx ends: kind 0 holds an idle connection, 1
// sends random garbage, 2 sends a size prefix over FrameMax or a large
// frame it never finishes. It reconnects after the broker hangs up.
func (c *Crowd) hostile(ctx context.Context, addr string, kind int, r *rand.Rand) {
	var d net.Dialer
	for {
		nc, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			if !pause(ctx, r) {
				return
			}
			continue
		}
		c.opened.Add(1)
		switch kind {
		case 0:
			<-ctx.Done()
			nc.Close()
			return
		case 1:
			junk := make([]byte, 64+r.Intn(4096))
			r.Read(junk)
			nc.Write(junk)
		default:
			if r.Intn(2) == 0 || c.cfg.FrameMax >= 1<<30 {
				nc.Write(binary.BigEndian.AppendUint32(nil, uint32(min(int64(c.cfg.FrameMax)+1+int64(r.Intn(1<<20)), 1<<31-1))))
			} else {
				nc.Write(binary.BigEndian.AppendUint32(nil, uint32(c.cfg.FrameMax)))
				nc.Write(make([]byte, 100<<10))
			}
		}
		c.waitClosed(ctx, nc)
		nc.Close()
		if !pause(ctx, r) {
			return
		}
	}
}

// waitClosed reads until the broker closes nc or ctx ends.
func (c *Crowd) waitClosed(ctx context.Context, nc net.Conn) {
	buf := make([]byte, 512)
	for ctx.Err() == nil {
		nc.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		if _, err := nc.Read(buf); err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			c.closedByBroker.Add(1)
			return
		}
	}
}

// polite sends Metadata requests on one connection until ctx ends or one
// fails.
func (c *Crowd) polite(ctx context.Context, addr string, r *rand.Rand) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		c.fail(fmt.Errorf("polite dial: %w", err))
		return
	}
	c.opened.Add(1)
	wc := wire.NewClient(nc, "crowd-polite")
	defer wc.Close()
	for pause(ctx, r) {
		req := &kmsg.MetadataRequest{Version: 1, Topics: []kmsg.MetadataRequestTopic{{Topic: kmsg.StringPtr(c.cfg.Topic)}}}
		rctx, cancel := context.WithTimeout(context.Background(), c.cfg.RequestTimeout)
		resp, err := wc.Do(rctx, req)
		cancel()
		if err != nil {
			c.fail(fmt.Errorf("polite request: %w", err))
			return
		}
		md := resp.(*kmsg.MetadataResponse)
		if len(md.Topics) != 1 || (c.cfg.Partitions > 0 && len(md.Topics[0].Partitions) != c.cfg.Partitions) {
			c.fail(fmt.Errorf("polite metadata: %+v", md.Topics))
			return
		}
		c.answered.Add(1)
	}
}

func (c *Crowd) fail(err error) {
	c.politeFailed.Add(1)
	c.politeErr.CompareAndSwap(nil, &err)
}
