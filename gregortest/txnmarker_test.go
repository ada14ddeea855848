package gregortest_test

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/gregortest"
)

// TestTxnMarkerWaitsForISR: a partition leader answers WriteTxnMarkers
// only once the ISR has the marker, as Kafka appends markers with
// acks=-1. The leader is isolated from its followers before the marker
// arrives, so its followers never get it; another replica is elected and
// the isolated leader truncates to it once healed. A leader that answered
// at once (as gregor did) lost an acknowledged marker that way, and the
// transaction's records then belonged to the producer's next transaction
// on the partition: the nemesis run's aborted reads and lost commits.
func TestTxnMarkerWaitsForISR(t *testing.T) {
	t.Parallel()
	c := gregortest.NewCluster(t, gregortest.Brokers(3), gregortest.Override(txnClusterConfig...))
	c.WaitReady()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const topic = "txn-marker-isr"
	cl := c.Client()
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, 1, 3, map[string]*string{"min.insync.replicas": kmsg.StringPtr("2")}, topic); err != nil {
		t.Fatal(err)
	}
	recs := make([]*kgo.Record, 10)
	for i := range recs {
		recs[i] = &kgo.Record{Topic: topic, Value: []byte{byte(i)}}
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	var leader int
	c.WaitFor("the records on every replica", 30*time.Second, func() bool {
		l, isr, ok := c.Broker(0).Partition(topic, 0)
		if !ok || l <= 0 || len(isr) != 3 {
			return false
		}
		leader = int(l - 1)
		for i := 0; i < 3; i++ {
			if leo, _, _ := c.Broker(i).LogOffsets(topic, 0); leo != 10 {
				return false
			}
		}
		return true
	})
	pid, epoch := initTxnProducer(t, ctx, cl, "marker-isr", 60000)

	c.Isolate(leader)
	req := kmsg.NewPtrWriteTxnMarkersRequest()
	req.Version = 1
	m := kmsg.NewWriteTxnMarkersRequestMarker()
	m.ProducerID, m.ProducerEpoch, m.Committed, m.CoordinatorEpoch = pid, epoch, false, 1000
	mt := kmsg.NewWriteTxnMarkersRequestMarkerTopic()
	mt.Topic, mt.Partitions = topic, []int32{0}
	m.Topics = append(m.Topics, mt)
	req.Markers = append(req.Markers, m)
	start := time.Now()
	resp, err := c.Broker(leader).Request(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	code := resp.(*kmsg.WriteTxnMarkersResponse).Markers[0].Topics[0].Partitions[0].ErrorCode
	t.Logf("isolated leader node %d answered the marker with %v after %v", leader+1, kerr.ErrorForCode(code), time.Since(start).Round(time.Millisecond))

	other := (leader + 1) % 3
	c.WaitFor("another leader", 60*time.Second, func() bool {
		l, _, ok := c.Broker(other).Partition(topic, 0)
		return ok && l > 0 && int(l-1) != leader
	})
	c.Heal(leader)
	c.WaitReady()
	var leos [3]int64
	c.WaitFor("the replicas' logs to agree", 60*time.Second, func() bool {
		for i := 0; i < 3; i++ {
			leos[i], _, _ = c.Broker(i).LogOffsets(topic, 0)
		}
		_, isr, _ := c.Broker(other).Partition(topic, 0)
		return len(isr) == 3 && leos[0] == leos[1] && leos[1] == leos[2]
	})
	if code == 0 && leos[0] != 11 {
		t.Fatalf("the marker was acknowledged and then lost: log ends %v after the new leader took over, want 11", leos)
	}
	if code == 0 {
		t.Logf("the marker was acknowledged and is on every replica")
	}
}
