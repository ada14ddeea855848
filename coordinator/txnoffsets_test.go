package coordinator

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/storage"
)

// txnCommit sends a TxnOffsetCommit (v3, simple: generation -1) for topic
// "t" of group.
func txnCommit(h *harness, group string, pid int64, offs map[int32]int64) *kmsg.TxnOffsetCommitResponse {
	h.t.Helper()
	req := kmsg.NewPtrTxnOffsetCommitRequest()
	req.Version, req.Group, req.ProducerID, req.ProducerEpoch, req.Generation = 3, group, pid, 2, -1
	rt := kmsg.NewTxnOffsetCommitRequestTopic()
	rt.Topic = "t"
	for p, o := range offs {
		rp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset = p, o
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	resp, err := h.c.CommitTxnOffsets(ctxT(h.t), req)
	if err != nil {
		h.t.Fatal(err)
	}
	return resp
}

// marker writes pid's COMMIT/ABORT marker to group's partition as the
// partition leader does, then tells the coordinator (live) unless replay
// only is wanted.
func marker(h *harness, group string, pid int64, commit, live bool) {
	h.t.Helper()
	p := h.c.Partition(group)
	if _, err := h.logs[p].Append(storage.BuildControlBatch(pid, 2, commit, 0, 0)); err != nil {
		h.t.Fatal(err)
	}
	if live {
		if err := h.c.ApplyTxnMarker(ctxT(h.t), p, pid, commit); err != nil {
			h.t.Fatal(err)
		}
	}
}

// stable returns OffsetFetch require_stable's answer for partition 0 of "t".
func stable(h *harness, group string) FetchedPartition {
	h.t.Helper()
	ts, code, err := h.c.FetchStableOffsets(ctxT(h.t), group, []TopicPartitions{{Topic: "t", Partitions: []int32{0}}})
	if err != nil || code != 0 {
		h.t.Fatal(err, code)
	}
	return ts[0].Partitions[0]
}

// TestTxnOffsetsDurable: transactional offsets are written to the log
// when committed, pending until their producer's marker, and a coordinator
// that reloads the partition (failover, restart) at any point between
// TxnOffsetCommit and the marker, or after it, ends with the same offsets.
func TestTxnOffsetsDurable(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		// restartBefore/After: reload the coordinator before the marker
		// is written, or after it (the marker then replays from the log).
		restartBefore, markerLive, restartAfter bool
		commit                                  bool
		want                                    int64
	}{
		{name: "commit live", markerLive: true, commit: true, want: 42},
		{name: "abort live", markerLive: true, want: 10},
		{name: "failover then commit", restartBefore: true, markerLive: true, commit: true, want: 42},
		{name: "failover then abort", restartBefore: true, markerLive: true, want: 10},
		{name: "commit replayed", restartAfter: true, commit: true, want: 42},
		{name: "abort replayed", restartAfter: true, want: 10},
		{name: "commit live then restart", markerLive: true, restartAfter: true, commit: true, want: 42},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, nil)
			commit(h, "g", "", -1, map[int32]int64{0: 10})
			if r := txnCommit(h, "g", 7, map[int32]int64{0: 42}); r.Topics[0].Partitions[0].ErrorCode != 0 {
				t.Fatalf("txn commit: %+v", r)
			}
			if got := fetched(h, "g")[0]; got != 10 {
				t.Fatalf("pending offset visible: %d", got)
			}
			if tc.restartBefore {
				h.restart(nil)
			}
			if fp := stable(h, "g"); fp.ErrorCode != kerr.UnstableOffsetCommit.Code || fp.Offset != -1 {
				t.Fatalf("require_stable with a pending offset: %+v", fp)
			}
			marker(h, "g", 7, tc.commit, tc.markerLive)
			if tc.restartAfter {
				h.restart(nil)
			}
			if got := fetched(h, "g")[0]; got != tc.want {
				t.Fatalf("offset %d, want %d", got, tc.want)
			}
			if fp := stable(h, "g"); fp.ErrorCode != 0 || fp.Offset != tc.want {
				t.Fatalf("require_stable after the marker: %+v", fp)
			}
		})
	}
}

// TestTxnOffsetsLaterPlainCommitWins: a plain OffsetCommit written after
// the transaction's offset record but before its COMMIT marker is the
// later commit and stays the group's offset (Kafka's rule), live and on
// replay; a transactional offset written after a plain one replaces it.
func TestTxnOffsetsLaterPlainCommitWins(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	txnCommit(h, "g", 7, map[int32]int64{0: 42, 1: 43})
	commit(h, "g", "", -1, map[int32]int64{0: 50})
	marker(h, "g", 7, true, true)
	check := func() {
		t.Helper()
		if got := fetched(h, "g"); got[0] != 50 || got[1] != 43 {
			t.Fatalf("offsets %v, want 0:50 1:43", got)
		}
	}
	check()
	h.restart(nil)
	check()
}

// TestTxnOffsetsProducersIndependent: two producers' transactions on one
// partition end independently; another group's require_stable fetch is
// not held by them.
func TestTxnOffsetsProducersIndependent(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	txnCommit(h, "g", 7, map[int32]int64{0: 1})
	txnCommit(h, "g", 8, map[int32]int64{1: 2})
	marker(h, "g", 8, true, true)
	if got := fetched(h, "g"); got[1] != 2 || len(got) != 1 {
		t.Fatalf("offsets %v, want only 1:2", got)
	}
	if fp := stable(h, "g"); fp.ErrorCode != kerr.UnstableOffsetCommit.Code {
		t.Fatalf("producer 7 still pending: %+v", fp)
	}
	h.restart(nil)
	if fp := stable(h, "g"); fp.ErrorCode != kerr.UnstableOffsetCommit.Code {
		t.Fatalf("producer 7 pending after reload: %+v", fp)
	}
	if fp := stable(h, "other"); fp.ErrorCode != 0 {
		t.Fatalf("other group: %+v", fp)
	}
	marker(h, "g", 7, false, true)
	if fp := stable(h, "g"); fp.ErrorCode != 0 || fp.Offset != -1 {
		t.Fatalf("after abort: %+v", fp)
	}
}

// TestTxnOffsetsFailedAppend: a TxnOffsetCommit whose write fails answers
// a retriable error and keeps nothing pending.
func TestTxnOffsetsFailedAppend(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	l := h.logs[h.c.Partition("g")]
	l.mu.Lock()
	l.fail = ErrClosed
	l.mu.Unlock()
	if r := txnCommit(h, "g", 7, map[int32]int64{0: 1}); r.Topics[0].Partitions[0].ErrorCode != kerr.CoordinatorNotAvailable.Code {
		t.Fatalf("failed write: %+v", r)
	}
	l.mu.Lock()
	l.fail = nil
	l.mu.Unlock()
	if fp := stable(h, "g"); fp.ErrorCode != 0 {
		t.Fatalf("pending after a failed write: %+v", fp)
	}
}
