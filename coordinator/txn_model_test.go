package coordinator

import (
	"context"
	"maps"
	"math/rand/v2"
	"testing"
	"time"
)

// snapshot copies every loaded transactional id's persisted state.
func (h *txnHarness) snapshot() map[string]txnRecord {
	out := map[string]txnRecord{}
	for _, sh := range h.c.allShards() {
		sh.call(context.Background(), func() {
			for id, m := range sh.txns {
				out[id] = m.clone().txnRecord
			}
		})
	}
	return out
}

// settled reports whether no transaction is writing markers.
func (h *txnHarness) settled() bool {
	ok := true
	for _, sh := range h.c.allShards() {
		sh.call(context.Background(), func() {
			for _, m := range sh.txns {
				ok = ok && !m.marking
			}
		})
	}
	return ok
}

// Random sequences of requests, timeouts and expiries: replaying the log
// rebuilds exactly the state the coordinator held, and producer epochs
// never go backwards.
func TestTxnRandomReplayMatches(t *testing.T) {
	t.Parallel()
	for seed := uint64(1); seed <= 8; seed++ {
		rng := rand.New(rand.NewPCG(seed, 0))
		h := newTxnHarness(t, func(c *TxnConfig) {
			c.IDExpiration = 2 * time.Minute
			c.ExpirationCheckInterval = time.Minute
		})
		ids := []string{"a", "b", "c", "d"}
		type producer struct {
			pid   int64
			epoch int16
		}
		prods := map[string]producer{}
		for step := 0; step < 150; step++ {
			id := ids[rng.IntN(len(ids))]
			p, known := prods[id]
			if !known {
				p = producer{pid: 1 << 40}
			}
			switch op := rng.IntN(10); {
			case op < 2 || !known:
				r := h.init(id, int32(5_000+rng.IntN(20_000)), 4, -1, -1)
				if r.ErrorCode == 0 {
					if prev, ok := prods[id]; ok && r.ProducerID == prev.pid && r.ProducerEpoch <= prev.epoch {
						t.Fatalf("seed %d: %s epoch went from %d to %d", seed, id, prev.epoch, r.ProducerEpoch)
					}
					prods[id] = producer{r.ProducerID, r.ProducerEpoch}
				}
			case op < 5:
				h.addOne(id, p.pid, p.epoch, []string{"x", "y"}[rng.IntN(2)], int32(rng.IntN(3)))
			case op < 6:
				h.addOffsets(id, p.pid, p.epoch, "g")
			case op < 8:
				h.end(3, id, p.pid, p.epoch, rng.IntN(2) == 0)
			default:
				h.advance(time.Duration(rng.IntN(40)) * time.Second)
			}
		}
		h.waitFor("markers written", h.settled)
		before := h.snapshot()
		h.restart()
		after := h.snapshot()
		if !maps.EqualFunc(before, after, txnRecordsEqual) {
			t.Fatalf("seed %d: replayed state differs:\n live   %+v\n replay %+v", seed, before, after)
		}
		h.c.Close()
	}
}
