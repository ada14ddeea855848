package broker

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/storage"
	"gregor/wire"
)

// rawConn speaks the protocol directly, for tests that need exact control
// of requests (pipelining, garbage, idempotent retries): a wire.Client
// that fails the test on errors, plus the connection for raw writes.
type rawConn struct {
	t  testing.TB
	c  net.Conn
	wc *wire.Client
}

func (b *testBroker) raw(t testing.TB) *rawConn {
	t.Helper()
	c, err := net.Dial("tcp", b.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return newRawConn(t, c, "raw-test")
}

func newRawConn(t testing.TB, c net.Conn, clientID string) *rawConn {
	wc := wire.NewClient(c, clientID)
	wc.Timeout = 10 * time.Second
	return &rawConn{t: t, c: c, wc: wc}
}

// send writes a request and returns its correlation id.
func (rc *rawConn) send(req kmsg.Request) int32 {
	rc.t.Helper()
	corr, err := rc.wc.Send(context.Background(), req)
	if err != nil {
		rc.t.Fatal(err)
	}
	return corr
}

// recv reads the response to req (sent with corr) and decodes it.
func (rc *rawConn) recv(req kmsg.Request, corr int32) kmsg.Response {
	rc.t.Helper()
	resp, err := rc.tryRecv(req, corr)
	if err != nil {
		rc.t.Fatal(err)
	}
	return resp
}

func (rc *rawConn) tryRecv(req kmsg.Request, corr int32) (kmsg.Response, error) {
	return rc.wc.Recv(context.Background(), req, corr)
}

func (rc *rawConn) do(req kmsg.Request) kmsg.Response {
	rc.t.Helper()
	return rc.recv(req, rc.send(req))
}

// expectClosed asserts the broker closes the connection.
func (rc *rawConn) expectClosed() {
	rc.t.Helper()
	rc.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := io.ReadAll(rc.c)
	if err != nil && !errors.Is(err, syscall.ECONNRESET) { // unread input makes close send RST
		rc.t.Fatalf("expected a clean close, got %v", err)
	}
}

// batch builds a magic-2 record batch of n records with the given producer
// id, epoch and base sequence (-1 for none).
func batch(pid int64, epoch int16, seq int32, n int, value []byte) []byte {
	now := time.Now().UnixMilli()
	recs := make([]storage.Record, n)
	for i := range recs {
		recs[i] = storage.Record{Value: value}
	}
	return storage.BuildBatch(storage.BatchHeader{
		PartitionLeaderEpoch: -1,
		BaseTimestamp:        now,
		MaxTimestamp:         now,
		ProducerID:           pid,
		ProducerEpoch:        epoch,
		BaseSequence:         seq,
	}, recs)
}

func produceReq(topic string, partition int32, acks int16, records []byte) *kmsg.ProduceRequest {
	req := kmsg.NewPtrProduceRequest()
	req.Version = 9
	req.Acks = acks
	req.TimeoutMillis = 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition = partition
	rp.Records = records
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

func newReader(c net.Conn) *bufio.Reader { return bufio.NewReader(c) }
