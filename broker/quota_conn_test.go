package broker

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestConnectionCreationRateQuota: with connection_creation_rate 1 on the
// ip entity 127.0.0.1 (2 windows of 1 s), a first raw connection is
// served and a second one made right after is closed, unanswered, after
// about a second's throttle, as Kafka's ConnectionQuotas does; the refused
// one is not counted, so a connection two seconds later is served again.
func TestConnectionCreationRateQuota(t *testing.T) {
	t.Parallel()
	b := startQuotaBroker(t, quotaEntry("ip", "127.0.0.1", "connection_creation_rate", 1))
	served := func(rc *rawConn) bool {
		req := kmsg.NewPtrApiVersionsRequest()
		_, err := rc.tryRecv(req, rc.send(req))
		return err == nil
	}
	if rc := dialRaw(t, b, "conn-1"); !served(rc) {
		t.Fatal("first connection not served")
	}
	start := time.Now()
	if rc := dialRaw(t, b, "conn-2"); served(rc) {
		t.Fatal("second connection within the rate's window was served")
	}
	if d := time.Since(start); d < 700*time.Millisecond || d > 5*time.Second {
		t.Errorf("second connection closed after %v, want about 1 s", d)
	}
	time.Sleep(2 * time.Second)
	if rc := dialRaw(t, b, "conn-3"); !served(rc) {
		t.Error("connection after the rate came back not served")
	}
}

// TestMaxConnectionCreationRate: with max.connection.creation.rate 1 (2
// windows of 1 s), a second connection to a client listener right after a
// first is accepted late, after about a second, and then served, not
// closed: the acceptor waits, as Kafka's does.
func TestMaxConnectionCreationRate(t *testing.T) {
	t.Parallel()
	b := startBroker(t, "listeners=CLIENT://127.0.0.1:0,INTERNAL://127.0.0.1:0",
		"listener.security.protocol.map=CLIENT:PLAINTEXT,INTERNAL:PLAINTEXT", "inter.broker.listener.name=INTERNAL",
		"max.connection.creation.rate=1", "quota.window.num=2", "quota.window.size.seconds=1")
	served := func(rc *rawConn) bool {
		req := kmsg.NewPtrApiVersionsRequest()
		_, err := rc.tryRecv(req, rc.send(req))
		return err == nil
	}
	if !served(dialRaw(t, b, "rate-1")) {
		t.Fatal("first connection not served")
	}
	start := time.Now()
	if !served(dialRaw(t, b, "rate-2")) {
		t.Fatal("second connection not served")
	}
	if d := time.Since(start); d < 700*time.Millisecond || d > 5*time.Second {
		t.Errorf("second connection served after %v, want about 1 s", d)
	}
}
