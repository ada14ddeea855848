package broker

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The coordinator path with raw requests, as a transactional client sends
// them: FindCoordinator, InitProducerId, AddPartitionsToTxn, EndTxn, and
// the markers the coordinator then has the partition leader write.
// (Transactional Produce is txn-part's; records are not needed for the
// markers to be written.)

func txnInit(t *testing.T, ctx context.Context, cl *kgo.Client, id string) (int64, int16) {
	t.Helper()
	req := kmsg.NewPtrInitProducerIDRequest()
	req.Version = 4
	req.TransactionalID = kmsg.StringPtr(id)
	req.TransactionTimeoutMillis = 60000
	req.ProducerID, req.ProducerEpoch = -1, -1
	for {
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		if resp.ErrorCode == kerr.CoordinatorLoadInProgress.Code || resp.ErrorCode == kerr.ConcurrentTransactions.Code {
			if ctx.Err() != nil {
				t.Fatal("init producer id: still loading")
			}
			time.Sleep(20 * time.Millisecond)
			continue
		}
		if resp.ErrorCode != 0 {
			t.Fatalf("init producer id: %v", kerr.ErrorForCode(resp.ErrorCode))
		}
		return resp.ProducerID, resp.ProducerEpoch
	}
}

func txnAdd(ctx context.Context, cl *kgo.Client, id string, pid int64, epoch int16, topic string) (int16, error) {
	req := kmsg.NewPtrAddPartitionsToTxnRequest()
	req.Version = 3
	req.TransactionalID, req.ProducerID, req.ProducerEpoch = id, pid, epoch
	tt := kmsg.NewAddPartitionsToTxnRequestTopic()
	tt.Topic, tt.Partitions = topic, []int32{0}
	req.Topics = append(req.Topics, tt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return 0, err
	}
	return resp.Topics[0].Partitions[0].ErrorCode, nil
}

func txnEnd(ctx context.Context, cl *kgo.Client, id string, pid int64, epoch int16, commit bool) (int16, error) {
	req := kmsg.NewPtrEndTxnRequest()
	req.Version = 3
	req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit = id, pid, epoch, commit
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return 0, err
	}
	return resp.ErrorCode, nil
}

func TestTxnCoordinatorCommitAbortMarkers(t *testing.T) {
	b := startBroker(t, "transaction.state.log.num.partitions=3")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const topic, id = "txn-markers", "tx-1"
	adm := b.admin()
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	cl := b.client()
	fc := kmsg.NewPtrFindCoordinatorRequest()
	fc.Version, fc.CoordinatorType, fc.CoordinatorKeys = 4, 1, []string{id}
	fresp, err := fc.RequestWith(ctx, cl)
	if err != nil || fresp.Coordinators[0].ErrorCode != 0 || fresp.Coordinators[0].NodeID < 0 {
		t.Fatalf("find coordinator: %v %+v", err, fresp)
	}
	pid, epoch := txnInit(t, ctx, cl, id)
	var p *partition
	waitFor(t, "the partition's log", 30*time.Second, func() bool {
		p = b.srv.parts.lookup(topic, 0)
		return p != nil
	})
	for i, commit := range []bool{true, false} {
		if code, err := txnAdd(ctx, cl, id, pid, epoch, topic); err != nil || code != 0 {
			t.Fatalf("add partitions: %v %v", err, kerr.ErrorForCode(code))
		}
		if code, err := txnEnd(ctx, cl, id, pid, epoch, commit); err != nil || code != 0 {
			t.Fatalf("end txn: %v %v", err, kerr.ErrorForCode(code))
		}
		// The marker is written after EndTxn is answered.
		want := int64(i + 1)
		waitFor(t, "marker", 30*time.Second, func() bool { return p.log.LogEndOffset() == want })
		state := map[bool]string{true: "CompleteCommit", false: "CompleteAbort"}[commit]
		waitFor(t, state, 30*time.Second, func() bool {
			d, err := adm.DescribeTransactions(ctx, id)
			return err == nil && d[id].State == state && d[id].ProducerID == pid
		})
	}
	// Ending a transaction that is not ongoing is INVALID_TXN_STATE.
	if code, err := txnEnd(ctx, cl, id, pid, epoch, true); err != nil || code != kerr.InvalidTxnState.Code {
		t.Fatalf("end txn again: %v %v", err, kerr.ErrorForCode(code))
	}
	l, err := adm.ListTransactions(ctx, nil, nil)
	if err != nil || len(l) != 1 {
		t.Fatalf("list transactions: %v %v", err, l)
	}
	td, err := adm.ListTopicsWithInternal(ctx, txnStateTopic)
	if err != nil || len(td[txnStateTopic].Partitions) != 3 || !td[txnStateTopic].IsInternal {
		t.Fatalf("__transaction_state: %v %+v", err, td)
	}
}

func TestTxnCoordinatorFencing(t *testing.T) {
	b := startBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const topic, id = "txn-fence", "tx-fence"
	if _, err := b.admin().CreateTopic(ctx, 1, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	cl := b.client()
	pid, epoch := txnInit(t, ctx, cl, id)
	if code, err := txnAdd(ctx, cl, id, pid, epoch, topic); err != nil || code != 0 {
		t.Fatalf("add partitions: %v %v", err, kerr.ErrorForCode(code))
	}
	// A second producer with the same id bumps the epoch; the open
	// transaction is aborted (an ABORT marker on the partition).
	pid2, epoch2 := txnInit(t, ctx, cl, id)
	if pid2 != pid || epoch2 <= epoch {
		t.Fatalf("second init: pid %d epoch %d, first pid %d epoch %d", pid2, epoch2, pid, epoch)
	}
	waitFor(t, "abort marker", 30*time.Second, func() bool {
		p := b.srv.parts.lookup(topic, 0)
		return p != nil && p.log.LogEndOffset() == 1
	})
	code, err := txnEnd(ctx, cl, id, pid, epoch, true)
	if err != nil || (code != kerr.ProducerFenced.Code && code != kerr.InvalidProducerEpoch.Code) {
		t.Fatalf("fenced producer's end txn: %v %v", err, kerr.ErrorForCode(code))
	}
	d, err := kadm.NewClient(cl).DescribeTransactions(ctx, id)
	if err != nil || d[id].ProducerEpoch != epoch2 {
		t.Fatalf("describe: %v %+v", err, d)
	}
}

func TestWriteTxnMarkersPartitionErrors(t *testing.T) {
	b := startBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const topic = "txn-wtm"
	if _, err := b.admin().CreateTopic(ctx, 1, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	cl := b.client()
	if _, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl); err != nil {
		t.Fatal(err)
	}
	// To the broker itself: the client would route per partition leader.
	br := cl.DiscoveredBrokers()[0]
	send := func(coordEpoch int32, parts ...int32) []int16 {
		req := kmsg.NewPtrWriteTxnMarkersRequest()
		req.Version = 1
		m := kmsg.NewWriteTxnMarkersRequestMarker()
		m.ProducerID, m.ProducerEpoch, m.Committed, m.CoordinatorEpoch = 77, 0, true, coordEpoch
		tt := kmsg.NewWriteTxnMarkersRequestMarkerTopic()
		tt.Topic, tt.Partitions = topic, parts
		m.Topics = append(m.Topics, tt)
		req.Markers = append(req.Markers, m)
		raw, err := br.Request(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		resp := raw.(*kmsg.WriteTxnMarkersResponse)
		var codes []int16
		for _, p := range resp.Markers[0].Topics[0].Partitions {
			codes = append(codes, p.ErrorCode)
		}
		return codes
	}
	for _, tc := range []struct {
		name  string
		epoch int32
		parts []int32
		want  []int16
	}{
		{"written", 5, []int32{0}, []int16{0}},
		{"unknown partition", 5, []int32{0, 9}, []int16{0, kerr.UnknownTopicOrPartition.Code}},
		{"older coordinator epoch", 4, []int32{0}, []int16{kerr.TransactionCoordinatorFenced.Code}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := send(tc.epoch, tc.parts...)
			if len(got) != len(tc.want) {
				t.Fatalf("codes %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("codes %v, want %v", got, tc.want)
				}
			}
		})
	}
	if leo := b.srv.parts.lookup(topic, 0).log.LogEndOffset(); leo != 2 {
		t.Fatalf("log end offset %d, want 2 markers", leo)
	}
}
