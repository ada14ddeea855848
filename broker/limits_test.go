package broker

import (
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestConnectionLimits(t *testing.T) {
	t.Parallel()
	b := startBroker(t, "max.connections.per.ip=2", "connections.max.idle.ms=500", "socket.request.read.timeout.ms=300")
	c1, c2 := b.raw(t), b.raw(t)
	c1.do(&kmsg.MetadataRequest{Version: 1})
	c2.do(&kmsg.MetadataRequest{Version: 1})
	// A third connection from the same address is closed at once.
	c3 := b.raw(t)
	c3.c.Write(kmsg.NewRequestFormatter().AppendRequest(nil, &kmsg.MetadataRequest{Version: 1}, 1)) // may already fail
	c3.expectClosed()
	// Idle connections are closed after connections.max.idle.ms.
	start := time.Now()
	c1.expectClosed()
	c2.expectClosed()
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("idle close took %v", took)
	}
	// Freed slots are usable again.
	waitFor(t, "connection slots freed", 5*time.Second, func() bool {
		b.srv.mu.Lock()
		defer b.srv.mu.Unlock()
		return len(b.srv.conns) == 0
	})
	c4 := b.raw(t)
	c4.do(&kmsg.MetadataRequest{Version: 1})
	// A request whose body trickles in slower than
	// socket.request.read.timeout.ms is cut off (slowloris).
	slow, err := net.Dial("tcp", b.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	slow.Write([]byte{0, 0, 0, 100, 0})
	rc := newRawConn(t, slow, "slow")
	start = time.Now()
	rc.expectClosed()
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("slow request cut after %v", took)
	}
}
