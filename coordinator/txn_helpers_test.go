package coordinator

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// fakeMarkers records marker writes. A partition in fail fails that many
// more times; while block is set, writes wait for it to be cleared (or
// for their context to end, then they fail).
type fakeMarkers struct {
	mu      sync.Mutex
	written []TxnMarker // successful writes, one per call, partitions written
	fail    map[TxnPartition]int
	block   chan struct{}
	calls   int
}

func (f *fakeMarkers) WriteTxnMarkers(ctx context.Context, m TxnMarker) []TxnPartition {
	f.mu.Lock()
	f.calls++
	block := f.block
	f.mu.Unlock()
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return m.Partitions
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var retry, ok []TxnPartition
	for _, p := range m.Partitions {
		if f.fail[p] > 0 {
			f.fail[p]--
			retry = append(retry, p)
		} else {
			ok = append(ok, p)
		}
	}
	w := m
	w.Partitions = ok
	f.written = append(f.written, w)
	return retry
}

func (f *fakeMarkers) hold() {
	f.mu.Lock()
	f.block = make(chan struct{})
	f.mu.Unlock()
}

func (f *fakeMarkers) release() {
	f.mu.Lock()
	close(f.block)
	f.block = nil
	f.mu.Unlock()
}

func (f *fakeMarkers) all() []TxnMarker {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.written)
}

// seqIDs allocates producer ids 1, 2, 3, ...
type seqIDs struct {
	mu   sync.Mutex
	next int64
}

func (s *seqIDs) AllocateProducerID() (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.next++
	return s.next, nil
}

type txnHarness struct {
	t       *testing.T
	c       *TxnCoordinator
	clock   *fakeClock
	logs    map[int32]*memLog
	markers *fakeMarkers
	ids     *seqIDs
	mod     func(*TxnConfig)
	epoch   int32
}

func newTxnHarness(t *testing.T, mod func(*TxnConfig)) *txnHarness {
	t.Helper()
	h := &txnHarness{t: t, clock: newFakeClock(), logs: map[int32]*memLog{}, markers: &fakeMarkers{fail: map[TxnPartition]int{}}, ids: &seqIDs{}, mod: mod}
	h.start()
	return h
}

func (h *txnHarness) start() {
	h.t.Helper()
	cfg := DefaultTxnConfig()
	cfg.Partitions = 2
	cfg.Clock = h.clock
	cfg.ProducerIDs = h.ids
	cfg.Markers = h.markers
	if h.mod != nil {
		h.mod(&cfg)
	}
	c, err := NewTxnCoordinator(cfg)
	if err != nil {
		h.t.Fatal(err)
	}
	h.c = c
	h.epoch++
	for p := int32(0); p < cfg.Partitions; p++ {
		if h.logs[p] == nil {
			h.logs[p] = &memLog{}
		}
		c.Load(p, h.epoch, h.logs[p])
	}
	h.t.Cleanup(c.Close)
	h.waitFor("partitions loaded", func() bool {
		for _, sh := range c.allShards() {
			if sh.loading.Load() {
				return false
			}
		}
		return true
	})
}

// restart replaces the coordinator with a new one reading the same logs
// (a new coordinator epoch).
func (h *txnHarness) restart() {
	h.c.Close()
	h.start()
}

func (h *txnHarness) sync() {
	for _, sh := range h.c.allShards() {
		if err := sh.call(context.Background(), func() {}); err != nil && !errors.Is(err, ErrClosed) {
			h.t.Fatal(err)
		}
	}
}

// advance moves the clock by d, firing due timers in order.
func (h *txnHarness) advance(d time.Duration) {
	h.sync()
	target := h.clock.Now().Add(d)
	for h.clock.fireNext(target) {
		h.sync()
	}
	h.sync()
}

// waitFor polls cond until it holds (marker writes run on their own
// goroutines).
func (h *txnHarness) waitFor(what string, cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			h.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
		h.sync()
	}
}

// pendingRetries counts the retries scheduled on the shards.
func (h *txnHarness) pendingRetries() int {
	n := 0
	for _, sh := range h.c.allShards() {
		sh.call(context.Background(), func() { n += len(sh.pendingTimers) })
	}
	return n
}

func (h *txnHarness) init(id string, timeoutMs int32, version int16, pid int64, epoch int16) *kmsg.InitProducerIDResponse {
	h.t.Helper()
	req := kmsg.NewPtrInitProducerIDRequest()
	req.Version = version
	req.TransactionalID = &id
	req.TransactionTimeoutMillis = timeoutMs
	req.ProducerID, req.ProducerEpoch = pid, epoch
	resp, err := h.c.InitProducerID(ctxT(h.t), req)
	if err != nil {
		h.t.Fatal(err)
	}
	return resp
}

// initOK initialises id (v4, 60 s timeout) and returns its producer id and
// epoch.
func (h *txnHarness) initOK(id string) (int64, int16) {
	h.t.Helper()
	r := h.init(id, 60_000, 4, -1, -1)
	if r.ErrorCode != 0 {
		h.t.Fatalf("InitProducerId %s: code %d", id, r.ErrorCode)
	}
	return r.ProducerID, r.ProducerEpoch
}

// addParts adds topic's partitions with AddPartitionsToTxn v3 and returns
// their codes.
func (h *txnHarness) addParts(version int16, id string, pid int64, epoch int16, topic string, parts ...int32) []int16 {
	h.t.Helper()
	req := kmsg.NewPtrAddPartitionsToTxnRequest()
	req.Version = version
	req.TransactionalID, req.ProducerID, req.ProducerEpoch = id, pid, epoch
	req.Topics = []kmsg.AddPartitionsToTxnRequestTopic{{Topic: topic, Partitions: parts}}
	resp, err := h.c.AddPartitionsToTxn(ctxT(h.t), req)
	if err != nil {
		h.t.Fatal(err)
	}
	var codes []int16
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			codes = append(codes, p.ErrorCode)
		}
	}
	return codes
}

// addOne adds one partition (v3) and returns its code.
func (h *txnHarness) addOne(id string, pid int64, epoch int16, topic string, part int32) int16 {
	h.t.Helper()
	return h.addParts(3, id, pid, epoch, topic, part)[0]
}

func (h *txnHarness) addOffsets(id string, pid int64, epoch int16, group string) int16 {
	h.t.Helper()
	req := kmsg.NewPtrAddOffsetsToTxnRequest()
	req.Version = 3
	req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Group = id, pid, epoch, group
	resp, err := h.c.AddOffsetsToTxn(ctxT(h.t), req)
	if err != nil {
		h.t.Fatal(err)
	}
	return resp.ErrorCode
}

func (h *txnHarness) end(version int16, id string, pid int64, epoch int16, commit bool) int16 {
	h.t.Helper()
	req := kmsg.NewPtrEndTxnRequest()
	req.Version = version
	req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit = id, pid, epoch, commit
	resp, err := h.c.EndTxn(ctxT(h.t), req)
	if err != nil {
		h.t.Fatal(err)
	}
	return resp.ErrorCode
}

func (h *txnHarness) describe(id string) kmsg.DescribeTransactionsResponseTransactionState {
	h.t.Helper()
	req := kmsg.NewPtrDescribeTransactionsRequest()
	req.TransactionalIDs = []string{id}
	resp, err := h.c.DescribeTransactions(ctxT(h.t), req)
	if err != nil {
		h.t.Fatal(err)
	}
	return resp.TransactionStates[0]
}

func (h *txnHarness) state(id string) string { return h.describe(id).State }

// waitState waits for id to reach state.
func (h *txnHarness) waitState(id, state string) {
	h.t.Helper()
	h.waitFor(id+" "+state, func() bool { return h.state(id) == state })
}

// logStates returns the states written for id to its partition's log, in
// order ("tombstone" for a tombstone).
func (h *txnHarness) logStates(id string) []string {
	h.t.Helper()
	var out []string
	err := h.logs[h.c.Partition(id)].ReadAll(func(b []byte) error {
		return forEachRecord(b, func(_ int64, k, v []byte) error {
			got, rec, _, err := decodeTxnRecord(k, v)
			switch {
			case err != nil:
				return err
			case got != id:
			case rec == nil:
				out = append(out, "tombstone")
			default:
				out = append(out, rec.state.String())
			}
			return nil
		})
	})
	if err != nil {
		h.t.Fatal(err)
	}
	return out
}

const (
	codeConcurrent   = 51 // CONCURRENT_TRANSACTIONS
	codeInvalidState = 48 // INVALID_TXN_STATE
	codeFenced       = 90 // PRODUCER_FENCED
	codeInvalidEpoch = 47 // INVALID_PRODUCER_EPOCH
	codeBadMapping   = 49 // INVALID_PRODUCER_ID_MAPPING
	codeBadTimeout   = 50 // INVALID_TRANSACTION_TIMEOUT
	codeNotFound     = 105
	codeNotCoord     = 16
	codeLoading      = 14
	codeNotAvailable = 15
	codeUnknownTopic = 3
	codeNotAttempted = 55
	codeInvalidReq   = 42
)
