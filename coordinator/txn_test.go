package coordinator

import (
	"context"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestTxnCommit(t *testing.T) {
	t.Parallel()
	h := newTxnHarness(t, nil)
	pid, epoch := h.initOK("tx")
	if pid != 1 || epoch != 0 {
		t.Fatalf("InitProducerId: %d/%d, want 1/0", pid, epoch)
	}
	if d := h.describe("tx"); d.State != "Empty" || d.StartTimestamp != -1 || d.TimeoutMillis != 60_000 {
		t.Fatalf("after init: %+v", d)
	}
	if codes := h.addParts(3, "tx", pid, epoch, "t", 1, 0); !slices.Equal(codes, []int16{0, 0}) {
		t.Fatalf("AddPartitionsToTxn: %v", codes)
	}
	start := h.clock.Now().UnixMilli()
	h.clock.fireNext(h.clock.Now().Add(time.Second)) // time passes
	if code := h.addOne("tx", pid, epoch, "t", 0); code != 0 {
		t.Fatalf("re-adding a partition: %d", code)
	}
	if code := h.addOffsets("tx", pid, epoch, "grp"); code != 0 {
		t.Fatalf("AddOffsetsToTxn: %d", code)
	}
	offsets := TxnPartition{"__consumer_offsets", PartitionFor("grp", 50)}
	d := h.describe("tx")
	if d.State != "Ongoing" || d.StartTimestamp != start || d.ProducerID != pid {
		t.Fatalf("ongoing: %+v", d)
	}
	if len(d.Topics) != 2 || d.Topics[0].Topic != "__consumer_offsets" || !slices.Equal(d.Topics[1].Partitions, []int32{0, 1}) {
		t.Fatalf("ongoing partitions: %+v", d.Topics)
	}
	if code := h.end(3, "tx", pid, epoch, true); code != 0 {
		t.Fatalf("EndTxn: %d", code)
	}
	h.waitState("tx", "CompleteCommit")
	m := h.markers.all()
	want := []TxnPartition{offsets, {"t", 0}, {"t", 1}}
	if len(m) != 1 || !m[0].Commit || m[0].ProducerID != pid || m[0].ProducerEpoch != epoch || m[0].CoordinatorEpoch != 1 || !slices.Equal(m[0].Partitions, want) {
		t.Fatalf("markers: %+v", m)
	}
	if d := h.describe("tx"); len(d.Topics) != 0 {
		t.Fatalf("complete keeps partitions: %+v", d.Topics)
	}
	// Every transition was written; the unchanged re-add was not.
	if got, want := h.logStates("tx"), []string{"Empty", "Ongoing", "Ongoing", "PrepareCommit", "CompleteCommit"}; !slices.Equal(got, want) {
		t.Fatalf("log: %v, want %v", got, want)
	}
	// A retried commit succeeds; an abort now is not valid.
	if code := h.end(3, "tx", pid, epoch, true); code != 0 {
		t.Fatalf("retried EndTxn: %d", code)
	}
	if code := h.end(3, "tx", pid, epoch, false); code != codeInvalidState {
		t.Fatalf("abort after commit: %d", code)
	}
	// The next transaction starts from the Complete state.
	if code := h.addOne("tx", pid, epoch, "u", 0); code != 0 {
		t.Fatalf("second transaction: %d", code)
	}
	if d := h.describe("tx"); d.State != "Ongoing" || len(d.Topics) != 1 || d.Topics[0].Topic != "u" {
		t.Fatalf("second transaction: %+v", d)
	}
}

func TestTxnAbort(t *testing.T) {
	t.Parallel()
	h := newTxnHarness(t, nil)
	pid, epoch := h.initOK("tx")
	if code := h.end(3, "tx", pid, epoch, false); code != codeInvalidState {
		t.Fatalf("EndTxn with no transaction: %d", code)
	}
	h.addOne("tx", pid, epoch, "t", 0)
	if code := h.end(3, "tx", pid, epoch, false); code != 0 {
		t.Fatalf("EndTxn abort: %d", code)
	}
	h.waitState("tx", "CompleteAbort")
	if m := h.markers.all(); len(m) != 1 || m[0].Commit {
		t.Fatalf("markers: %+v", m)
	}
	if code := h.end(3, "tx", pid, epoch, true); code != codeInvalidState {
		t.Fatalf("commit after abort: %d", code)
	}
	if code := h.end(3, "tx", pid+1, epoch, false); code != codeBadMapping {
		t.Fatalf("wrong producer id: %d", code)
	}
	if code := h.end(3, "nobody", pid, epoch, false); code != codeBadMapping {
		t.Fatalf("unknown transactional id: %d", code)
	}
}

// A second InitProducerId fences the first producer: its ongoing
// transaction is aborted with a bumped epoch, the new producer is told to
// retry, and the old one's requests are fenced.
func TestTxnFencing(t *testing.T) {
	t.Parallel()
	h := newTxnHarness(t, nil)
	pid, old := h.initOK("tx")
	h.addOne("tx", pid, old, "t", 0)
	if r := h.init("tx", 60_000, 4, -1, -1); r.ErrorCode != codeConcurrent {
		t.Fatalf("InitProducerId over an ongoing transaction: %+v", r)
	}
	h.waitState("tx", "CompleteAbort")
	if m := h.markers.all(); len(m) != 1 || m[0].Commit || m[0].ProducerEpoch != old+1 {
		t.Fatalf("fencing abort markers: %+v", m)
	}
	pid2, epoch := h.initOK("tx")
	if pid2 != pid || epoch != old+2 {
		t.Fatalf("retry: %d/%d, want %d/%d", pid2, epoch, pid, old+2)
	}
	if code := h.addOne("tx", pid, old, "t", 1); code != codeFenced {
		t.Fatalf("old producer AddPartitionsToTxn v3: %d", code)
	}
	if code := h.addParts(1, "tx", pid, old, "t", 1)[0]; code != codeInvalidEpoch {
		t.Fatalf("old producer AddPartitionsToTxn v1: %d", code)
	}
	if code := h.end(3, "tx", pid, old, true); code != codeFenced {
		t.Fatalf("old producer EndTxn v3: %d", code)
	}
	if code := h.end(1, "tx", pid, old, true); code != codeInvalidEpoch {
		t.Fatalf("old producer EndTxn v1: %d", code)
	}
	if code := h.addOffsets("tx", pid, old, "g"); code != codeFenced {
		t.Fatalf("old producer AddOffsetsToTxn: %d", code)
	}
	if code := h.addOne("tx", pid, epoch, "t", 1); code != 0 {
		t.Fatalf("new producer: %d", code)
	}
}

// While markers are being written the transaction is neither ended nor
// restarted: CONCURRENT_TRANSACTIONS until it completes.
func TestTxnConcurrentTransactions(t *testing.T) {
	t.Parallel()
	h := newTxnHarness(t, nil)
	pid, epoch := h.initOK("tx")
	h.addOne("tx", pid, epoch, "t", 0)
	h.markers.hold()
	if code := h.end(3, "tx", pid, epoch, true); code != 0 {
		t.Fatalf("EndTxn: %d", code)
	}
	if s := h.state("tx"); s != "PrepareCommit" {
		t.Fatalf("state while marking: %s", s)
	}
	if r := h.init("tx", 60_000, 4, -1, -1); r.ErrorCode != codeConcurrent {
		t.Fatalf("InitProducerId: %d", r.ErrorCode)
	}
	if code := h.addOne("tx", pid, epoch, "t", 1); code != codeConcurrent {
		t.Fatalf("AddPartitionsToTxn: %d", code)
	}
	if code := h.addOffsets("tx", pid, epoch, "g"); code != codeConcurrent {
		t.Fatalf("AddOffsetsToTxn: %d", code)
	}
	if code := h.end(3, "tx", pid, epoch, true); code != codeConcurrent {
		t.Fatalf("retried EndTxn: %d", code)
	}
	if code := h.end(3, "tx", pid, epoch, false); code != codeInvalidState {
		t.Fatalf("abort while committing: %d", code)
	}
	h.markers.release()
	h.waitState("tx", "CompleteCommit")
	if code := h.addOne("tx", pid, epoch, "t", 1); code != 0 {
		t.Fatalf("AddPartitionsToTxn after completion: %d", code)
	}
}

// Markers that fail are retried after the backoff until every partition
// has them; only then is the transaction complete.
func TestTxnMarkerRetry(t *testing.T) {
	t.Parallel()
	h := newTxnHarness(t, nil)
	pid, epoch := h.initOK("tx")
	h.addParts(3, "tx", pid, epoch, "t", 0, 1)
	h.markers.mu.Lock()
	h.markers.fail[TxnPartition{"t", 1}] = 2
	h.markers.mu.Unlock()
	h.end(3, "tx", pid, epoch, true)
	for i := 1; i <= 2; i++ {
		// The failed attempt is back on the shard, its retry scheduled.
		h.waitFor("marker attempt", func() bool { return len(h.markers.all()) == i && h.pendingRetries() == 1 })
		if s := h.state("tx"); s != "PrepareCommit" {
			t.Fatalf("after %d failed attempts: %s", i, s)
		}
		h.advance(100 * time.Millisecond)
	}
	h.waitState("tx", "CompleteCommit")
	m := h.markers.all()
	if len(m) != 3 || !slices.Equal(m[0].Partitions, []TxnPartition{{"t", 0}}) || !slices.Equal(m[2].Partitions, []TxnPartition{{"t", 1}}) {
		t.Fatalf("marker attempts: %+v", m)
	}
}

func TestTxnTimeout(t *testing.T) {
	t.Parallel()
	h := newTxnHarness(t, nil)
	for _, ms := range []int32{0, -1, 15*60_000 + 1} {
		if r := h.init("tx", ms, 4, -1, -1); r.ErrorCode != codeBadTimeout {
			t.Fatalf("timeout %d ms: code %d", ms, r.ErrorCode)
		}
	}
	r := h.init("tx", 15_000, 4, -1, -1)
	if r.ErrorCode != 0 {
		t.Fatal(r.ErrorCode)
	}
	pid, epoch := r.ProducerID, r.ProducerEpoch
	h.addOne("tx", pid, epoch, "t", 0)
	h.advance(10 * time.Second) // first check: not yet timed out
	if s := h.state("tx"); s != "Ongoing" {
		t.Fatalf("at 10 s: %s", s)
	}
	h.advance(10 * time.Second) // second check, 20 s in
	h.waitState("tx", "CompleteAbort")
	if m := h.markers.all(); len(m) != 1 || m[0].Commit || m[0].ProducerEpoch != epoch+1 {
		t.Fatalf("timeout abort markers: %+v", m)
	}
	if code := h.end(3, "tx", pid, epoch, true); code != codeFenced {
		t.Fatalf("EndTxn of the timed-out producer: %d", code)
	}
	// The producer can start over with a new InitProducerId.
	if _, e := h.initOK("tx"); e != epoch+2 {
		t.Fatalf("epoch after re-init: %d", e)
	}
	if d := h.describe("tx"); d.TimeoutMillis != 60_000 {
		t.Fatalf("InitProducerId kept the old timeout: %d", d.TimeoutMillis)
	}
}

func TestTxnExpiry(t *testing.T) {
	t.Parallel()
	h := newTxnHarness(t, func(c *TxnConfig) {
		c.IDExpiration = time.Hour
		c.ExpirationCheckInterval = time.Hour
	})
	pid, epoch := h.initOK("old")
	h.addOne("old", pid, epoch, "t", 0)
	h.end(3, "old", pid, epoch, true)
	h.waitState("old", "CompleteCommit")
	h.advance(30 * time.Minute)
	h.initOK("young")
	h.advance(30 * time.Minute) // the check at 1 h: old was updated 1 h ago
	if d := h.describe("old"); d.ErrorCode != codeNotFound {
		t.Fatalf("expired id: %+v", d)
	}
	if s := h.state("young"); s != "Empty" {
		t.Fatalf("young id: %q", s)
	}
	if got := h.logStates("old"); got[len(got)-1] != "tombstone" {
		t.Fatalf("log: %v", got)
	}
	h.restart()
	if d := h.describe("old"); d.ErrorCode != codeNotFound {
		t.Fatalf("expired id after reload: %+v", d)
	}
	if s := h.state("young"); s != "Empty" {
		t.Fatalf("young id after reload: %q", s)
	}
	// An expired id starts afresh with a new producer id.
	if p, e := h.initOK("old"); p == pid || e != 0 {
		t.Fatalf("re-init of an expired id: %d/%d", p, e)
	}
}

// A coordinator that loads a partition with a transaction in
// PrepareCommit sends its markers (with its own coordinator epoch) and
// completes it.
func TestTxnReloadCompletesPrepareCommit(t *testing.T) {
	t.Parallel()
	h := newTxnHarness(t, nil)
	pid, epoch := h.initOK("tx")
	h.addParts(3, "tx", pid, epoch, "t", 0, 1)
	h.markers.hold()
	if code := h.end(3, "tx", pid, epoch, true); code != 0 {
		t.Fatal(code)
	}
	h.waitFor("marker write started", func() bool {
		h.markers.mu.Lock()
		defer h.markers.mu.Unlock()
		return h.markers.calls == 1
	})
	h.restart() // the blocked write sees its context end and fails
	h.markers.release()
	h.waitState("tx", "CompleteCommit")
	m := h.markers.all()
	if len(m) != 1 || !m[0].Commit || m[0].CoordinatorEpoch != 2 || !slices.Equal(m[0].Partitions, []TxnPartition{{"t", 0}, {"t", 1}}) {
		t.Fatalf("markers after reload: %+v", m)
	}
	if code := h.addOne("tx", pid, epoch, "t", 2); code != 0 {
		t.Fatalf("producer after reload: %d", code)
	}
}

// With EndTxnWait, EndTxn answers once the markers are written, so the
// next transaction's AddPartitionsToTxn is not CONCURRENT_TRANSACTIONS;
// markers slower than EndTxnWait leave EndTxn's answer as it was.
func TestTxnEndWaitsForMarkers(t *testing.T) {
	t.Parallel()
	h := newTxnHarness(t, func(c *TxnConfig) { c.EndTxnWait = time.Minute })
	pid, epoch := h.initOK("tx")
	h.addOne("tx", pid, epoch, "t", 0)
	h.markers.hold()
	ended := make(chan int16, 1)
	go func() { ended <- h.end(3, "tx", pid, epoch, true) }()
	h.waitFor("marker write started", func() bool {
		h.markers.mu.Lock()
		defer h.markers.mu.Unlock()
		return h.markers.calls == 1
	})
	select {
	case code := <-ended:
		t.Fatalf("EndTxn answered %d while its markers were held", code)
	default:
	}
	if s := h.state("tx"); s != "PrepareCommit" {
		t.Fatalf("state while marking: %s", s)
	}
	h.markers.release()
	if code := <-ended; code != 0 {
		t.Fatalf("EndTxn: %d", code)
	}
	if s := h.state("tx"); s != "CompleteCommit" {
		t.Fatalf("state once EndTxn answered: %s", s)
	}
	if code := h.addOne("tx", pid, epoch, "t", 1); code != 0 {
		t.Fatalf("AddPartitionsToTxn right after EndTxn: %d", code)
	}

	// Markers held past EndTxnWait: EndTxn answers 0 when the wait ends,
	// the transaction is still being marked.
	h.markers.hold()
	timers := h.clock.live()
	go func() { ended <- h.end(3, "tx", pid, epoch, false) }()
	h.waitFor("second marker write started", func() bool {
		h.markers.mu.Lock()
		defer h.markers.mu.Unlock()
		return h.markers.calls == 2
	})
	h.waitFor("EndTxn waiting on the clock", func() bool { return h.clock.live() > timers })
	h.advance(time.Minute)
	if code := <-ended; code != 0 {
		t.Fatalf("EndTxn after its wait: %d", code)
	}
	if code := h.addOne("tx", pid, epoch, "t", 2); code != codeConcurrent {
		t.Fatalf("AddPartitionsToTxn while still marking: %d", code)
	}
	h.markers.release()
	h.waitState("tx", "CompleteAbort")
}

// Ongoing transactions survive a reload; they are still timed out.
func TestTxnReloadOngoing(t *testing.T) {
	t.Parallel()
	h := newTxnHarness(t, nil)
	pid, epoch := h.initOK("tx")
	h.addOne("tx", pid, epoch, "t", 3)
	h.restart()
	if d := h.describe("tx"); d.State != "Ongoing" || d.ProducerID != pid || d.ProducerEpoch != epoch || len(d.Topics) != 1 {
		t.Fatalf("after reload: %+v", d)
	}
	if code := h.end(3, "tx", pid, epoch, true); code != 0 {
		t.Fatal(code)
	}
	h.waitState("tx", "CompleteCommit")
}

// seed writes one record for id straight into its partition's log.
func (h *txnHarness) seed(id string, r txnRecord) {
	h.t.Helper()
	if _, err := h.logs[h.c.Partition(id)].Append(buildBatch(0, []kv{{encodeTxnKey(id), encodeTxnValue(r)}})); err != nil {
		h.t.Fatal(err)
	}
}

func TestTxnEpochOverflow(t *testing.T) {
	t.Parallel()
	h := newTxnHarness(t, nil)
	h.ids.next = 100
	h.seed("tx", txnRecord{producerID: 7, prevProducerID: -1, epoch: math.MaxInt16 - 2, timeoutMs: 60_000, state: TxnCompleteCommit, startMs: -1})
	h.restart()
	if p, e := h.initOK("tx"); p != 7 || e != math.MaxInt16-1 {
		t.Fatalf("last bump: %d/%d", p, e)
	}
	// The epoch is exhausted: a new producer id, epoch 0.
	p, e := h.initOK("tx")
	if p != 101 || e != 0 {
		t.Fatalf("rotation: %d/%d", p, e)
	}
	if got := h.logs[h.c.Partition("tx")]; got == nil {
		t.Fatal("no log")
	}
	h.restart()
	if d := h.describe("tx"); d.ProducerID != 101 || d.ProducerEpoch != 0 {
		t.Fatalf("after reload: %+v", d)
	}

	// Fencing an ongoing transaction at the last epoch uses the reserved
	// one; the retry then rotates.
	h.seed("ff", txnRecord{producerID: 8, prevProducerID: -1, epoch: math.MaxInt16 - 1, timeoutMs: 60_000, state: TxnOngoing, partitions: []TxnPartition{{"t", 0}}, startMs: 0})
	h.restart()
	if r := h.init("ff", 60_000, 4, -1, -1); r.ErrorCode != codeConcurrent {
		t.Fatalf("fence: %d", r.ErrorCode)
	}
	h.waitState("ff", "CompleteAbort")
	if m := h.markers.all(); m[len(m)-1].ProducerEpoch != math.MaxInt16 {
		t.Fatalf("fence markers: %+v", m)
	}
	if p, e := h.initOK("ff"); p != 102 || e != 0 {
		t.Fatalf("rotation after fence: %d/%d", p, e)
	}
}

// KIP-360: InitProducerId with the producer's id and epoch bumps only the
// current producer, and a retry of the bump gets the same answer.
func TestTxnInitWithProducerID(t *testing.T) {
	t.Parallel()
	h := newTxnHarness(t, nil)
	pid, _ := h.initOK("tx")
	r := h.init("tx", 60_000, 4, pid, 0)
	if r.ErrorCode != 0 || r.ProducerID != pid || r.ProducerEpoch != 1 {
		t.Fatalf("bump: %+v", r)
	}
	if r := h.init("tx", 60_000, 4, pid, 0); r.ErrorCode != 0 || r.ProducerEpoch != 1 {
		t.Fatalf("retried bump: %+v", r)
	}
	for _, c := range []struct {
		pid   int64
		epoch int16
		code  int16
	}{
		{pid, 5, codeFenced},
		{pid + 50, 1, codeFenced},
		{pid, -1, codeInvalidReq},
		{-1, 1, codeInvalidReq},
	} {
		if r := h.init("tx", 60_000, 4, c.pid, c.epoch); r.ErrorCode != c.code {
			t.Errorf("pid %d epoch %d: code %d, want %d", c.pid, c.epoch, r.ErrorCode, c.code)
		}
	}
	if r := h.init("tx", 60_000, 3, pid, 5); r.ErrorCode != codeInvalidEpoch {
		t.Fatalf("v3 fenced: %d", r.ErrorCode)
	}
	// A producer whose id was rotated retries with its old id and
	// exhausted epoch and gets the new id again.
	h.ids.next = 200
	h.seed("rot", txnRecord{producerID: 9, prevProducerID: -1, epoch: math.MaxInt16 - 1, timeoutMs: 60_000, state: TxnCompleteAbort, startMs: -1})
	h.restart()
	r = h.init("rot", 60_000, 4, 9, math.MaxInt16-1)
	if r.ErrorCode != 0 || r.ProducerID != 201 || r.ProducerEpoch != 0 {
		t.Fatalf("rotation: %+v", r)
	}
	if r := h.init("rot", 60_000, 4, 9, math.MaxInt16-1); r.ErrorCode != 0 || r.ProducerID != 201 || r.ProducerEpoch != 0 {
		t.Fatalf("retried rotation: %+v", r)
	}
}

func TestTxnAddPartitionsBatchedAndVerify(t *testing.T) {
	t.Parallel()
	h := newTxnHarness(t, func(c *TxnConfig) {
		c.PartitionExists = func(topic string, _ int32) bool { return topic != "missing" }
	})
	pa, ea := h.initOK("a")
	pb, eb := h.initOK("b")
	h.addOne("a", pa, ea, "t", 0)
	if codes := h.addParts(3, "a", pa, ea, "missing", 0); codes[0] != codeUnknownTopic {
		t.Fatalf("missing topic: %v", codes)
	}
	req := kmsg.NewPtrAddPartitionsToTxnRequest()
	req.Version = 4
	tx := func(id string, pid int64, epoch int16, verify bool, topic string, parts ...int32) kmsg.AddPartitionsToTxnRequestTransaction {
		return kmsg.AddPartitionsToTxnRequestTransaction{TransactionalID: id, ProducerID: pid, ProducerEpoch: epoch, VerifyOnly: verify,
			Topics: []kmsg.AddPartitionsToTxnRequestTransactionTopic{{Topic: topic, Partitions: parts}}}
	}
	req.Transactions = []kmsg.AddPartitionsToTxnRequestTransaction{
		tx("a", pa, ea, true, "t", 0, 1),
		tx("b", pb, eb, false, "t", 5),
		tx("b", pb, eb, false, "missing", 0),
		tx("a", pa, ea+1, true, "t", 0),
		tx("zz", 1, 0, true, "t", 0),
	}
	resp, err := h.c.AddPartitionsToTxn(ctxT(t), req)
	if err != nil {
		t.Fatal(err)
	}
	var got [][]int16
	for _, rt := range resp.Transactions {
		var codes []int16
		for _, t := range rt.Topics {
			for _, p := range t.Partitions {
				codes = append(codes, p.ErrorCode)
			}
		}
		got = append(got, codes)
	}
	want := [][]int16{{0, codeInvalidState}, {0}, {codeUnknownTopic}, {codeFenced}, {codeBadMapping}}
	if !slices.EqualFunc(got, want, slices.Equal) {
		t.Fatalf("batched codes: %v, want %v", got, want)
	}
	if d := h.describe("b"); d.State != "Ongoing" {
		t.Fatalf("b: %+v", d)
	}
	// One missing partition fails the whole v3 request.
	req3 := kmsg.NewPtrAddPartitionsToTxnRequest()
	req3.Version = 3
	req3.TransactionalID, req3.ProducerID, req3.ProducerEpoch = "a", pa, ea
	req3.Topics = []kmsg.AddPartitionsToTxnRequestTopic{{Topic: "t", Partitions: []int32{7}}, {Topic: "missing", Partitions: []int32{0}}}
	r3, err := h.c.AddPartitionsToTxn(ctxT(t), req3)
	if err != nil {
		t.Fatal(err)
	}
	if r3.Topics[0].Partitions[0].ErrorCode != codeNotAttempted || r3.Topics[1].Partitions[0].ErrorCode != codeUnknownTopic {
		t.Fatalf("v3 with a missing partition: %+v", r3.Topics)
	}
}

func TestTxnListTransactions(t *testing.T) {
	t.Parallel()
	h := newTxnHarness(t, nil)
	pa, ea := h.initOK("a")
	h.addOne("a", pa, ea, "t", 0)
	h.advance(5 * time.Second)
	pb, eb := h.initOK("b")
	h.addOne("b", pb, eb, "t", 0)
	h.initOK("c")
	list := func(version int16, states []string, pids []int64, duration int64, pattern *string) ([]string, []string, int16) {
		req := kmsg.NewPtrListTransactionsRequest()
		req.Version = version
		req.StateFilters, req.ProducerIDFilters, req.DurationFilterMillis, req.TransactionalIDPattern = states, pids, duration, pattern
		resp, err := h.c.ListTransactions(ctxT(t), req)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, s := range resp.TransactionStates {
			ids = append(ids, s.TransactionalID+"="+s.TransactionState)
		}
		return ids, resp.UnknownStateFilters, resp.ErrorCode
	}
	pattern := "^[ab]$"
	for _, c := range []struct {
		name     string
		version  int16
		states   []string
		pids     []int64
		duration int64
		pattern  *string
		want     []string
	}{
		{"all", 1, nil, nil, -1, nil, []string{"a=Ongoing", "b=Ongoing", "c=Empty"}},
		{"state", 1, []string{"Empty"}, nil, -1, nil, []string{"c=Empty"}},
		{"producer", 1, nil, []int64{pb}, -1, nil, []string{"b=Ongoing"}},
		{"duration", 1, []string{"Ongoing"}, nil, 3000, nil, []string{"a=Ongoing"}},
		{"duration ignored by v0", 0, []string{"Ongoing"}, nil, 3000, nil, []string{"a=Ongoing", "b=Ongoing"}},
		{"pattern", 2, nil, nil, -1, &pattern, []string{"a=Ongoing", "b=Ongoing"}},
	} {
		got, unknown, code := list(c.version, c.states, c.pids, c.duration, c.pattern)
		if code != 0 || len(unknown) != 0 || !slices.Equal(got, c.want) {
			t.Errorf("%s: %v %v %d, want %v", c.name, got, unknown, code, c.want)
		}
	}
	if got, unknown, _ := list(1, []string{"Bogus"}, nil, -1, nil); len(got) != 0 || !slices.Equal(unknown, []string{"Bogus"}) {
		t.Fatalf("unknown state: %v %v", got, unknown)
	}
	bad := "("
	if _, _, code := list(2, nil, nil, -1, &bad); code == 0 {
		t.Fatal("bad pattern accepted")
	}
}

// blockingLog holds ReadAll until released.
type blockingLog struct {
	*memLog
	release chan struct{}
}

func (l *blockingLog) ReadAll(fn func([]byte) error) error {
	<-l.release
	return l.memLog.ReadAll(fn)
}

func TestTxnNotCoordinatorAndLoading(t *testing.T) {
	t.Parallel()
	h := newTxnHarness(t, nil)
	p := h.c.Partition("tx")
	h.c.Unload(p)
	if r := h.init("tx", 60_000, 4, -1, -1); r.ErrorCode != codeNotCoord {
		t.Fatalf("InitProducerId unloaded: %d", r.ErrorCode)
	}
	if code := h.addOne("tx", 1, 0, "t", 0); code != codeNotCoord {
		t.Fatalf("AddPartitionsToTxn unloaded: %d", code)
	}
	if code := h.addOffsets("tx", 1, 0, "g"); code != codeNotCoord {
		t.Fatalf("AddOffsetsToTxn unloaded: %d", code)
	}
	if code := h.end(3, "tx", 1, 0, true); code != codeNotCoord {
		t.Fatalf("EndTxn unloaded: %d", code)
	}
	if d := h.describe("tx"); d.ErrorCode != codeNotCoord {
		t.Fatalf("DescribeTransactions unloaded: %d", d.ErrorCode)
	}
	bl := &blockingLog{memLog: h.logs[p], release: make(chan struct{})}
	h.c.Load(p, 5, bl)
	if r := h.init("tx", 60_000, 4, -1, -1); r.ErrorCode != codeLoading {
		t.Fatalf("InitProducerId loading: %d", r.ErrorCode)
	}
	if d := h.describe("tx"); d.ErrorCode != codeLoading {
		t.Fatalf("DescribeTransactions loading: %d", d.ErrorCode)
	}
	lreq := kmsg.NewPtrListTransactionsRequest()
	if resp, err := h.c.ListTransactions(ctxT(t), lreq); err != nil || resp.ErrorCode != codeLoading {
		t.Fatalf("ListTransactions loading: %+v %v", resp, err)
	}
	close(bl.release)
	h.waitFor("loaded", func() bool { return h.init("tx", 60_000, 4, -1, -1).ErrorCode == 0 })
}

// A state that cannot be made durable is not applied and the client is
// told to retry.
func TestTxnAppendFailure(t *testing.T) {
	t.Parallel()
	h := newTxnHarness(t, nil)
	pid, epoch := h.initOK("tx")
	h.addOne("tx", pid, epoch, "t", 0)
	l := h.logs[h.c.Partition("tx")]
	l.mu.Lock()
	l.fail = context.DeadlineExceeded
	l.mu.Unlock()
	if code := h.end(3, "tx", pid, epoch, true); code != codeNotAvailable {
		t.Fatalf("EndTxn with a failing log: %d", code)
	}
	if code := h.addOne("tx", pid, epoch, "u", 0); code != codeNotAvailable {
		t.Fatalf("AddPartitionsToTxn with a failing log: %d", code)
	}
	if r := h.init("new", 60_000, 4, -1, -1); r.ErrorCode != codeNotAvailable {
		t.Fatalf("InitProducerId with a failing log: %d", r.ErrorCode)
	}
	if d := h.describe("tx"); d.State != "Ongoing" || len(d.Topics) != 1 {
		t.Fatalf("state changed by a failed write: %+v", d)
	}
	if d := h.describe("new"); d.ErrorCode != codeNotFound {
		t.Fatalf("id created by a failed write: %+v", d)
	}
	l.mu.Lock()
	l.fail = nil
	l.mu.Unlock()
	if code := h.end(3, "tx", pid, epoch, true); code != 0 {
		t.Fatal(code)
	}
	h.waitState("tx", "CompleteCommit")
}

func TestTxnInvalidRequests(t *testing.T) {
	t.Parallel()
	h := newTxnHarness(t, nil)
	if r := h.init("", 60_000, 4, -1, -1); r.ErrorCode != codeInvalidReq {
		t.Fatalf("InitProducerId with an empty id: %d", r.ErrorCode)
	}
	if code := h.addOne("", 1, 0, "t", 0); code != codeInvalidReq {
		t.Fatalf("AddPartitionsToTxn with an empty id: %d", code)
	}
	if code := h.end(3, "", 1, 0, true); code != codeInvalidReq {
		t.Fatalf("EndTxn with an empty id: %d", code)
	}
	if d := h.describe(""); d.ErrorCode != codeInvalidReq {
		t.Fatalf("DescribeTransactions with an empty id: %d", d.ErrorCode)
	}
	// Without a transactional id: a fresh idempotent producer id.
	req := kmsg.NewPtrInitProducerIDRequest()
	req.Version = 4
	r, err := h.c.InitProducerID(ctxT(t), req)
	if err != nil || r.ErrorCode != 0 || r.ProducerID != 1 || r.ProducerEpoch != 0 {
		t.Fatalf("idempotent InitProducerId: %+v %v", r, err)
	}
	if _, err := NewTxnCoordinator(DefaultTxnConfig()); err == nil {
		t.Fatal("a config without ProducerIDs and Markers accepted")
	}
}
