package coordinator

// The transaction coordinator's requests. Each finds the shard of the
// transactional id's __transaction_state partition and runs there: an id
// whose partition is not loaded gets NOT_COORDINATOR, one still loading
// COORDINATOR_LOAD_IN_PROGRESS. Strings of requests are kept as they are
// (kmsg's safe decoding copies them). The returned error is non-nil only
// when ctx ends while the request waits.
//
// PRODUCER_FENCED is answered as INVALID_PRODUCER_EPOCH to the versions
// that predate it (KIP-588): InitProducerId v0-v3, AddPartitionsToTxn,
// AddOffsetsToTxn and EndTxn v0-v1.

import (
	"context"
	"regexp"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// run runs f on id's shard and returns 0, or the code that stopped it.
func (c *TxnCoordinator) run(ctx context.Context, id string, f func(sh *txnShard)) (int16, error) {
	sh := c.shardFor(id)
	if sh == nil {
		return kerr.NotCoordinator.Code, nil
	}
	if sh.loading.Load() {
		return kerr.CoordinatorLoadInProgress.Code, nil
	}
	if err := sh.call(ctx, func() { f(sh) }); err != nil {
		if err == ErrClosed {
			return kerr.NotCoordinator.Code, nil
		}
		return 0, err
	}
	return 0, nil
}

func fencedCode(code int16, modern bool) int16 {
	if code == kerr.ProducerFenced.Code && !modern {
		return kerr.InvalidProducerEpoch.Code
	}
	return code
}

// appendErr is the code a client sees when the state could not be made
// durable: retriable, so it rediscovers the coordinator and retries.
var appendErr = kerr.CoordinatorNotAvailable.Code

// InitProducerID gives a transactional producer its producer id and epoch:
// a new id, or the id's epoch bumped (fencing earlier producers). An
// Ongoing transaction is aborted first and CONCURRENT_TRANSACTIONS
// answered; the client retries. With the producer id and epoch given
// (KIP-360, v3+) the bump is only granted to the current producer.
func (c *TxnCoordinator) InitProducerID(ctx context.Context, req *kmsg.InitProducerIDRequest) (*kmsg.InitProducerIDResponse, error) {
	resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	fail := func(code int16) (*kmsg.InitProducerIDResponse, error) {
		resp.ErrorCode = fencedCode(code, req.Version >= 4)
		return resp, nil
	}
	if req.TransactionalID == nil {
		id, err := c.cfg.ProducerIDs.AllocateProducerID()
		if err != nil {
			return fail(appendErr)
		}
		resp.ProducerID, resp.ProducerEpoch = id, 0
		return resp, nil
	}
	id := *req.TransactionalID
	switch {
	case id == "":
		return fail(kerr.InvalidRequest.Code)
	case req.TransactionTimeoutMillis <= 0 || int64(req.TransactionTimeoutMillis) > c.cfg.MaxTimeout.Milliseconds():
		return fail(kerr.InvalidTransactionTimeout.Code)
	}
	var expected *[2]int64 // producer id, epoch
	if req.Version >= 3 {
		switch {
		case req.ProducerID == -1 && req.ProducerEpoch == -1:
		case req.ProducerID == -1 || req.ProducerEpoch == -1:
			return fail(kerr.InvalidRequest.Code)
		default:
			expected = &[2]int64{req.ProducerID, int64(req.ProducerEpoch)}
		}
	}
	code, err := c.run(ctx, id, func(sh *txnShard) {
		pid, epoch, code := sh.initProducerID(id, req.TransactionTimeoutMillis, expected)
		resp.ErrorCode = code
		if code == 0 {
			resp.ProducerID, resp.ProducerEpoch = pid, epoch
		}
	})
	if err != nil {
		return nil, err
	}
	if code != 0 {
		return fail(code)
	}
	resp.ErrorCode = fencedCode(resp.ErrorCode, req.Version >= 4)
	return resp, nil
}

func (sh *txnShard) initProducerID(id string, timeoutMs int32, expected *[2]int64) (int64, int16, int16) {
	m := sh.txns[id]
	isNew := m == nil
	if isNew {
		pid, err := sh.c.cfg.ProducerIDs.AllocateProducerID()
		if err != nil {
			sh.c.log.Error().Err(err).Msg("allocating a producer id failed")
			return -1, -1, appendErr
		}
		m = &txnMeta{id: id, txnRecord: txnRecord{producerID: pid, prevProducerID: -1, epoch: -1, timeoutMs: timeoutMs, state: TxnEmpty, startMs: -1}, lastEpoch: -1}
	}
	if m.marking || m.state == TxnPrepareCommit || m.state == TxnPrepareAbort {
		return -1, -1, kerr.ConcurrentTransactions.Code
	}
	if expected != nil {
		epid, eepoch := expected[0], int16(expected[1])
		valid := m.epoch == -1 || epid == m.producerID || (epid == m.prevProducerID && epochExhausted(eepoch))
		if !valid {
			return -1, -1, kerr.ProducerFenced.Code
		}
	}
	now := sh.nowMs()
	next := m.clone()
	switch m.state {
	case TxnOngoing:
		// Abort the running transaction first, with the epoch bumped so its
		// producer is fenced; the client retries and gets a further bump
		// (or a new producer id if that exhausted the epochs).
		if err := sh.fenceAndAbort(m); err != nil {
			return -1, -1, appendErr
		}
		return -1, -1, kerr.ConcurrentTransactions.Code
	case TxnEmpty, TxnCompleteCommit, TxnCompleteAbort:
	default:
		sh.c.log.Error().Str("transactional_id", id).Stringer("state", m.state).Msg("transactional id in an unexpected state")
		return -1, -1, kerr.UnknownServerError.Code
	}
	if epochExhausted(m.epoch) && (expected == nil || int16(expected[1]) == m.epoch) {
		pid, err := sh.c.cfg.ProducerIDs.AllocateProducerID()
		if err != nil {
			sh.c.log.Error().Err(err).Msg("allocating a producer id failed")
			return -1, -1, appendErr
		}
		next.prevProducerID, next.producerID, next.epoch = m.producerID, pid, 0
		next.lastEpoch = -1
		if expected != nil {
			next.lastEpoch = m.epoch
		}
	} else {
		switch {
		case epochExhausted(m.epoch):
			return -1, -1, kerr.ProducerFenced.Code
		case expected == nil:
			next.epoch, next.lastEpoch = m.epoch+1, -1
		case m.epoch == -1 || int16(expected[1]) == m.epoch:
			next.epoch, next.lastEpoch = m.epoch+1, m.epoch
		case int16(expected[1]) == m.lastEpoch:
			// A retry of a bump whose answer was lost: the same answer.
		default:
			return -1, -1, kerr.ProducerFenced.Code
		}
	}
	next.timeoutMs = timeoutMs
	next.state = TxnEmpty
	next.partitions = nil
	next.startMs = -1
	next.updateMs = now
	if err := sh.transition(m, next); err != nil {
		return -1, -1, appendErr
	}
	if isNew {
		sh.txns[id] = m
	}
	return m.producerID, m.epoch, 0
}

// addPartitions adds partitions to id's transaction, starting it if none
// is running. It returns one code for all of them.
func (sh *txnShard) addPartitions(id string, pid int64, epoch int16, parts []TxnPartition) int16 {
	m := sh.txns[id]
	switch {
	case m == nil || m.producerID != pid:
		return kerr.InvalidProducerIDMapping.Code
	case m.epoch != epoch:
		return kerr.ProducerFenced.Code
	case m.marking || m.state == TxnPrepareCommit || m.state == TxnPrepareAbort:
		return kerr.ConcurrentTransactions.Code
	}
	missing := slices.DeleteFunc(slices.Clone(parts), m.has)
	if m.state == TxnOngoing && len(missing) == 0 {
		return 0
	}
	next := m.clone()
	if m.state != TxnOngoing {
		next.startMs = sh.nowMs()
		next.partitions = nil
	}
	next.partitions = append(next.partitions, parts...)
	slices.SortFunc(next.partitions, compareTxnPartitions)
	next.partitions = slices.Compact(next.partitions)
	next.state = TxnOngoing
	next.updateMs = sh.nowMs()
	if err := sh.transition(m, next); err != nil {
		return appendErr
	}
	return 0
}

// verifyPartitions is AddPartitionsToTxn's verify_only check (KIP-890):
// a code per partition, 0 for those in id's ongoing transaction.
func (sh *txnShard) verifyPartitions(id string, pid int64, epoch int16, parts []TxnPartition) []int16 {
	codes := make([]int16, len(parts))
	m := sh.txns[id]
	all := int16(0)
	switch {
	case m == nil || m.producerID != pid:
		all = kerr.InvalidProducerIDMapping.Code
	case m.epoch != epoch:
		all = kerr.ProducerFenced.Code
	case m.marking || m.state == TxnPrepareCommit || m.state == TxnPrepareAbort:
		all = kerr.ConcurrentTransactions.Code
	}
	for i, p := range parts {
		switch {
		case all != 0:
			codes[i] = all
		case m.state != TxnOngoing || !m.has(p):
			codes[i] = kerr.InvalidTxnState.Code
		}
	}
	return codes
}

// AddPartitionsToTxn adds partitions to transactions: v0-v3 one
// transaction (the client's request), v4+ a batch of them, each possibly
// verify_only (a partition leader checking a transactional produce). A
// partition that does not exist fails with UNKNOWN_TOPIC_OR_PARTITION and
// the transaction's other partitions with OPERATION_NOT_ATTEMPTED.
func (c *TxnCoordinator) AddPartitionsToTxn(ctx context.Context, req *kmsg.AddPartitionsToTxnRequest) (*kmsg.AddPartitionsToTxnResponse, error) {
	resp := req.ResponseKind().(*kmsg.AddPartitionsToTxnResponse)
	modern := req.Version >= 2
	if req.Version <= 3 {
		var parts []TxnPartition
		for _, t := range req.Topics {
			for _, p := range t.Partitions {
				parts = append(parts, TxnPartition{t.Topic, p})
			}
		}
		codes, err := c.addTxn(ctx, req.TransactionalID, req.ProducerID, req.ProducerEpoch, false, parts)
		if err != nil {
			return nil, err
		}
		i := 0
		for _, t := range req.Topics {
			rt := kmsg.NewAddPartitionsToTxnResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewAddPartitionsToTxnResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p, fencedCode(codes[i], modern)
				rt.Partitions = append(rt.Partitions, rp)
				i++
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp, nil
	}
	for _, tx := range req.Transactions {
		var parts []TxnPartition
		for _, t := range tx.Topics {
			for _, p := range t.Partitions {
				parts = append(parts, TxnPartition{t.Topic, p})
			}
		}
		codes, err := c.addTxn(ctx, tx.TransactionalID, tx.ProducerID, tx.ProducerEpoch, tx.VerifyOnly, parts)
		if err != nil {
			return nil, err
		}
		rtx := kmsg.NewAddPartitionsToTxnResponseTransaction()
		rtx.TransactionalID = tx.TransactionalID
		i := 0
		for _, t := range tx.Topics {
			rt := kmsg.NewAddPartitionsToTxnResponseTransactionTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewAddPartitionsToTxnResponseTransactionTopicPartition()
				rp.Partition, rp.ErrorCode = p, codes[i]
				rt.Partitions = append(rt.Partitions, rp)
				i++
			}
			rtx.Topics = append(rtx.Topics, rt)
		}
		resp.Transactions = append(resp.Transactions, rtx)
	}
	return resp, nil
}

// addTxn adds (or verifies) parts for one transaction: a code per
// partition, in order.
func (c *TxnCoordinator) addTxn(ctx context.Context, id string, pid int64, epoch int16, verify bool, parts []TxnPartition) ([]int16, error) {
	codes := make([]int16, len(parts))
	fill := func(code int16) ([]int16, error) {
		for i := range codes {
			codes[i] = code
		}
		return codes, nil
	}
	if id == "" {
		return fill(kerr.InvalidRequest.Code)
	}
	if exists := c.cfg.PartitionExists; exists != nil && !verify {
		bad := false
		for i, p := range parts {
			if !exists(p.Topic, p.Partition) {
				codes[i], bad = kerr.UnknownTopicOrPartition.Code, true
			}
		}
		if bad {
			for i := range codes {
				if codes[i] == 0 {
					codes[i] = kerr.OperationNotAttempted.Code
				}
			}
			return codes, nil
		}
	}
	code, err := c.run(ctx, id, func(sh *txnShard) {
		if verify {
			codes = sh.verifyPartitions(id, pid, epoch, parts)
			return
		}
		code := sh.addPartitions(id, pid, epoch, parts)
		for i := range codes {
			codes[i] = code
		}
	})
	if err != nil {
		return nil, err
	}
	if code != 0 {
		return fill(code)
	}
	return codes, nil
}

// AddOffsetsToTxn adds the group's __consumer_offsets partition to the
// transaction, so TxnOffsetCommit may commit its offsets in it.
func (c *TxnCoordinator) AddOffsetsToTxn(ctx context.Context, req *kmsg.AddOffsetsToTxnRequest) (*kmsg.AddOffsetsToTxnResponse, error) {
	resp := req.ResponseKind().(*kmsg.AddOffsetsToTxnResponse)
	p := TxnPartition{"__consumer_offsets", PartitionFor(req.Group, c.cfg.OffsetsPartitions)}
	if req.TransactionalID == "" {
		resp.ErrorCode = kerr.InvalidRequest.Code
		return resp, nil
	}
	code, err := c.run(ctx, req.TransactionalID, func(sh *txnShard) {
		resp.ErrorCode = sh.addPartitions(req.TransactionalID, req.ProducerID, req.ProducerEpoch, []TxnPartition{p})
	})
	if err != nil {
		return nil, err
	}
	if code != 0 {
		resp.ErrorCode = code
	}
	resp.ErrorCode = fencedCode(resp.ErrorCode, req.Version >= 2)
	return resp, nil
}

// EndTxn commits or aborts the ongoing transaction: the Prepare state is
// durable when this returns, the markers and the Complete state follow.
// Ending a transaction that already ended the same way succeeds (a retry).
func (c *TxnCoordinator) EndTxn(ctx context.Context, req *kmsg.EndTxnRequest) (*kmsg.EndTxnResponse, error) {
	resp := req.ResponseKind().(*kmsg.EndTxnResponse)
	resp.ProducerID, resp.ProducerEpoch = req.ProducerID, req.ProducerEpoch
	if req.TransactionalID == "" {
		resp.ErrorCode = kerr.InvalidRequest.Code
		return resp, nil
	}
	var ended chan struct{}
	var shardDone chan struct{}
	code, err := c.run(ctx, req.TransactionalID, func(sh *txnShard) {
		resp.ErrorCode = sh.endTxn(req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit)
		if resp.ErrorCode == 0 && c.cfg.EndTxnWait > 0 {
			ended, shardDone = sh.awaitEnd(req.TransactionalID), sh.done
		}
	})
	if err != nil {
		return nil, err
	}
	if code != 0 {
		resp.ErrorCode = code
	}
	if ended != nil {
		c.waitEnded(ctx, ended, shardDone)
	}
	resp.ErrorCode = fencedCode(resp.ErrorCode, req.Version >= 2)
	return resp, nil
}

// waitEnded waits up to EndTxnWait for ended to close. Whatever ends the
// wait, EndTxn's answer stands: the Prepare state is durable and the
// markers go on being written.
func (c *TxnCoordinator) waitEnded(ctx context.Context, ended, shardDone chan struct{}) {
	timeout := make(chan struct{})
	t := c.clock.AfterFunc(c.cfg.EndTxnWait, func() { close(timeout) })
	defer t.Stop()
	select {
	case <-ended:
	case <-timeout:
	case <-shardDone:
	case <-ctx.Done():
	}
}

func (sh *txnShard) endTxn(id string, pid int64, epoch int16, commit bool) int16 {
	m := sh.txns[id]
	switch {
	case m == nil || m.producerID != pid:
		return kerr.InvalidProducerIDMapping.Code
	case m.epoch != epoch:
		return kerr.ProducerFenced.Code
	}
	switch m.state {
	case TxnOngoing:
	case TxnCompleteCommit, TxnCompleteAbort:
		if (m.state == TxnCompleteCommit) == commit {
			return 0
		}
		return kerr.InvalidTxnState.Code
	case TxnPrepareCommit, TxnPrepareAbort:
		if (m.state == TxnPrepareCommit) == commit {
			return kerr.ConcurrentTransactions.Code
		}
		return kerr.InvalidTxnState.Code
	default:
		return kerr.InvalidTxnState.Code
	}
	next := m.clone()
	next.state = TxnPrepareAbort
	if commit {
		next.state = TxnPrepareCommit
	}
	next.updateMs = sh.nowMs()
	if err := sh.transition(m, next); err != nil {
		return appendErr
	}
	sh.sendMarkers(m)
	return 0
}

// DescribeTransactions describes transactional ids.
func (c *TxnCoordinator) DescribeTransactions(ctx context.Context, req *kmsg.DescribeTransactionsRequest) (*kmsg.DescribeTransactionsResponse, error) {
	resp := req.ResponseKind().(*kmsg.DescribeTransactionsResponse)
	for _, id := range req.TransactionalIDs {
		d := kmsg.NewDescribeTransactionsResponseTransactionState()
		d.TransactionalID = id
		d.ProducerID, d.ProducerEpoch, d.StartTimestamp = -1, -1, -1
		if id == "" {
			d.ErrorCode = kerr.InvalidRequest.Code
			resp.TransactionStates = append(resp.TransactionStates, d)
			continue
		}
		code, err := c.run(ctx, id, func(sh *txnShard) {
			m := sh.txns[id]
			if m == nil {
				d.ErrorCode = kerr.TransactionalIDNotFound.Code
				return
			}
			d.State = m.state.String()
			d.TimeoutMillis = m.timeoutMs
			d.StartTimestamp = m.startMs
			d.ProducerID, d.ProducerEpoch = m.producerID, m.epoch
			for _, p := range m.partitions {
				if n := len(d.Topics); n == 0 || d.Topics[n-1].Topic != p.Topic {
					t := kmsg.NewDescribeTransactionsResponseTransactionStateTopic()
					t.Topic = p.Topic
					d.Topics = append(d.Topics, t)
				}
				t := &d.Topics[len(d.Topics)-1]
				t.Partitions = append(t.Partitions, p.Partition)
			}
		})
		if err != nil {
			return nil, err
		}
		if code != 0 {
			d.ErrorCode = code
		}
		resp.TransactionStates = append(resp.TransactionStates, d)
	}
	return resp, nil
}

// ListTransactions lists the transactional ids of every loaded partition,
// filtered by state names, producer ids, running time (v1+: transactions
// started at least DurationFilterMillis ago) and id pattern (v2+). While a
// partition loads the answer is COORDINATOR_LOAD_IN_PROGRESS.
func (c *TxnCoordinator) ListTransactions(ctx context.Context, req *kmsg.ListTransactionsRequest) (*kmsg.ListTransactionsResponse, error) {
	resp := req.ResponseKind().(*kmsg.ListTransactionsResponse)
	states := map[TxnState]bool{}
	for _, name := range req.StateFilters {
		if s, ok := parseTxnState(name); ok {
			states[s] = true
		} else {
			resp.UnknownStateFilters = append(resp.UnknownStateFilters, name)
		}
	}
	if len(req.StateFilters) > 0 && len(states) == 0 {
		return resp, nil // only unknown states: nothing matches
	}
	var pattern *regexp.Regexp
	if req.Version >= 2 && req.TransactionalIDPattern != nil && *req.TransactionalIDPattern != "" {
		re, err := regexp.Compile(*req.TransactionalIDPattern)
		if err != nil {
			resp.ErrorCode = kerr.InvalidRegularExpression.Code
			return resp, nil
		}
		pattern = re
	}
	duration := int64(-1)
	if req.Version >= 1 {
		duration = req.DurationFilterMillis
	}
	var out []kmsg.ListTransactionsResponseTransactionState
	for _, sh := range c.allShards() {
		if sh.loading.Load() {
			resp.ErrorCode = kerr.CoordinatorLoadInProgress.Code
			return resp, nil
		}
		var l []kmsg.ListTransactionsResponseTransactionState
		err := sh.call(ctx, func() {
			now := sh.nowMs()
			for id, m := range sh.txns {
				switch {
				case len(states) > 0 && !states[m.state]:
				case len(req.ProducerIDFilters) > 0 && !slices.Contains(req.ProducerIDFilters, m.producerID):
				case duration >= 0 && now-m.startMs < duration:
				case pattern != nil && !pattern.MatchString(id):
				default:
					s := kmsg.NewListTransactionsResponseTransactionState()
					s.TransactionalID, s.ProducerID, s.TransactionState = id, m.producerID, m.state.String()
					l = append(l, s)
				}
			}
		})
		if err == ErrClosed {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, l...)
	}
	slices.SortFunc(out, func(a, b kmsg.ListTransactionsResponseTransactionState) int {
		switch {
		case a.TransactionalID < b.TransactionalID:
			return -1
		case a.TransactionalID > b.TransactionalID:
			return 1
		}
		return 0
	})
	resp.TransactionStates = out
	return resp, nil
}
