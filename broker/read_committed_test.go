package broker

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/storage"
)

// txnRecords is a transactional batch (attributes bit 4) of n records.
func txnRecords(pid int64, seq int32, n int) []byte {
	now := time.Now().UnixMilli()
	recs := make([]storage.Record, n)
	for i := range recs {
		recs[i] = storage.Record{Value: []byte("v")}
	}
	return storage.BuildBatch(storage.BatchHeader{PartitionLeaderEpoch: -1, Attributes: 0x10, BaseTimestamp: now,
		MaxTimestamp: now, ProducerID: pid, BaseSequence: seq}, recs)
}

// TestFetchReadCommitted drives a partition's log directly (an aborted
// transaction of producer 1, then an open one of producer 2) and checks
// what Fetch and ListOffsets answer at each isolation level.
func TestFetchReadCommitted(t *testing.T) {
	b := startBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := b.admin().CreateTopic(ctx, 1, 1, nil, "rc"); err != nil {
		t.Fatal(err)
	}
	var p *partition
	waitFor(t, "partition", 20*time.Second, func() bool {
		var err error
		p, err = b.srv.parts.get("rc", 0)
		return err == nil
	})
	mustAppend := func(recs []byte) {
		t.Helper()
		if _, err := p.log.Append(recs, 0); err != nil {
			t.Fatal(err)
		}
	}
	mustAppend(batch(-1, -1, -1, 2, []byte("plain")))                 // 0-1
	mustAppend(txnRecords(1, 0, 3))                                   // 2-4
	if _, err := p.log.AppendControl(1, 0, false, 0, 0); err != nil { // 5: ABORT
		t.Fatal(err)
	}
	mustAppend(batch(-1, -1, -1, 1, []byte("plain"))) // 6
	mustAppend(txnRecords(2, 0, 2))                   // 7-8, open
	mustAppend(batch(-1, -1, -1, 1, []byte("plain"))) // 9
	waitFor(t, "high watermark", 20*time.Second, func() bool { return p.log.HighWatermark() == 10 })

	rc := b.raw(t)
	for _, tc := range []struct {
		name      string
		isolation int8
		wantEnd   int64 // offset after the last record served
		wantAbort []int64
	}{
		{"read_uncommitted", 0, 10, nil},
		{"read_committed", 1, 7, []int64{2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := kmsg.NewPtrFetchRequest()
			req.Version = 12
			req.ReplicaID = -1
			req.MaxBytes = 1 << 20
			req.IsolationLevel = tc.isolation
			req.SessionEpoch = -1
			rt := kmsg.NewFetchRequestTopic()
			rt.Topic = "rc"
			rp := kmsg.NewFetchRequestTopicPartition()
			rp.PartitionMaxBytes = 1 << 20
			rp.CurrentLeaderEpoch = -1
			rt.Partitions = append(rt.Partitions, rp)
			req.Topics = append(req.Topics, rt)
			resp := rc.do(req).(*kmsg.FetchResponse)
			sp := resp.Topics[0].Partitions[0]
			if sp.ErrorCode != 0 {
				t.Fatalf("error %d", sp.ErrorCode)
			}
			if sp.HighWatermark != 10 || sp.LastStableOffset != 7 {
				t.Fatalf("hw %d lso %d, want 10 7", sp.HighWatermark, sp.LastStableOffset)
			}
			var end int64
			for rest := sp.RecordBatches; len(rest) > 0; {
				var bt kmsg.RecordBatch
				if err := bt.ReadFrom(rest); err != nil {
					t.Fatal(err)
				}
				end = bt.FirstOffset + int64(bt.LastOffsetDelta) + 1
				rest = rest[12+int(bt.Length):]
			}
			if end != tc.wantEnd {
				t.Fatalf("served up to %d, want %d", end, tc.wantEnd)
			}
			var got []int64
			for _, a := range sp.AbortedTransactions {
				if a.ProducerID != 1 {
					t.Fatalf("aborted producer %d", a.ProducerID)
				}
				got = append(got, a.FirstOffset)
			}
			if len(got) != len(tc.wantAbort) || (len(got) > 0 && got[0] != tc.wantAbort[0]) {
				t.Fatalf("aborted %v, want %v", got, tc.wantAbort)
			}

			lo := kmsg.NewPtrListOffsetsRequest()
			lo.Version = 5
			lo.ReplicaID = -1
			lo.IsolationLevel = tc.isolation
			lt := kmsg.NewListOffsetsRequestTopic()
			lt.Topic = "rc"
			lp := kmsg.NewListOffsetsRequestTopicPartition()
			lp.Timestamp = -1
			lp.CurrentLeaderEpoch = -1
			lt.Partitions = append(lt.Partitions, lp)
			lo.Topics = append(lo.Topics, lt)
			lr := rc.do(lo).(*kmsg.ListOffsetsResponse)
			want := int64(10)
			if tc.isolation == 1 {
				want = 7
			}
			if got := lr.Topics[0].Partitions[0].Offset; got != want {
				t.Fatalf("latest %d, want %d", got, want)
			}
		})
	}

	// DescribeProducers: producer 1's transaction ended with its abort,
	// producer 2's is open from offset 7.
	dp := kmsg.NewPtrDescribeProducersRequest()
	dt := kmsg.NewDescribeProducersRequestTopic()
	dt.Topic, dt.Partitions = "rc", []int32{0, 5}
	dp.Topics = append(dp.Topics, dt)
	dr := rc.do(dp).(*kmsg.DescribeProducersResponse)
	if got := dr.Topics[0].Partitions[1].ErrorCode; got != 3 {
		t.Fatalf("partition 5: error %d, want UNKNOWN_TOPIC_OR_PARTITION", got)
	}
	want := map[int64][2]int64{1: {-1, 0}, 2: {7, -1}} // txn start, coordinator epoch
	ps := dr.Topics[0].Partitions[0].ActiveProducers
	if len(ps) != len(want) {
		t.Fatalf("producers %+v", ps)
	}
	for _, ap := range ps {
		w, ok := want[ap.ProducerID]
		if !ok || ap.CurrentTxnStartOffset != w[0] || int64(ap.CoordinatorEpoch) != w[1] {
			t.Fatalf("producer %+v, want txn start/coordinator epoch %v", ap, w)
		}
	}
}

// TestFetchReadCommittedKgo: a kgo read_committed consumer of the same
// log sees the plain records below the LSO and none of the aborted ones.
func TestFetchReadCommittedKgo(t *testing.T) {
	b := startBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := b.admin().CreateTopic(ctx, 1, 1, nil, "rck"); err != nil {
		t.Fatal(err)
	}
	var p *partition
	waitFor(t, "partition", 20*time.Second, func() bool {
		var err error
		p, err = b.srv.parts.get("rck", 0)
		return err == nil
	})
	for _, recs := range [][]byte{batch(-1, -1, -1, 2, []byte("plain")), txnRecords(1, 0, 3)} {
		if _, err := p.log.Append(recs, 0); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := p.log.AppendControl(1, 0, false, 0, 0); err != nil {
		t.Fatal(err)
	}
	for _, recs := range [][]byte{batch(-1, -1, -1, 1, []byte("plain")), txnRecords(2, 0, 2), batch(-1, -1, -1, 1, []byte("plain"))} {
		if _, err := p.log.Append(recs, 0); err != nil {
			t.Fatal(err)
		}
	}
	cl := b.client(kgo.ConsumeTopics("rck"), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	var got []int64
	for len(got) < 3 && ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		fs.EachRecord(func(r *kgo.Record) {
			if string(r.Value) != "plain" {
				t.Errorf("read_committed saw %q at %d", r.Value, r.Offset)
			}
			got = append(got, r.Offset)
		})
	}
	if len(got) != 3 || got[0] != 0 || got[1] != 1 || got[2] != 6 {
		t.Fatalf("offsets %v, want [0 1 6]", got)
	}
}
