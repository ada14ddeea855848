package broker

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/controller"
)

// fetchTarget is a partition a follower replicates from one leader.
type fetchTarget struct {
	p     *partition
	epoch int32 // the leader epoch it follows
}

type fetchState struct {
	fetchTarget
	truncated bool      // truncated to the leader's epoch end since epoch began
	backoff   time.Time // skip until then after an error
}

// fetchStats counts a node's follower fetch requests (metrics, tests).
type fetchStats struct {
	full, incremental atomic.Int64 // requests by kind
	partitions        atomic.Int64 // partitions named in requests
	forgotten         atomic.Int64 // partitions in forgotten_topics_data
	bytes             atomic.Int64 // encoded request bodies
}

func (s *fetchStats) record(b *sessionBuild, size int) {
	if b.full {
		s.full.Add(1)
	} else {
		s.incremental.Add(1)
	}
	s.partitions.Add(int64(b.sent))
	s.forgotten.Add(int64(b.forgotten))
	s.bytes.Add(int64(size))
}

// fetcher replicates every partition this node follows from one leader,
// over one connection.
type fetcher struct {
	leader int32
	self   int32
	cfg    ReplicationConfig
	peers  *peers
	clock  Clock
	log    zerolog.Logger
	ctx    context.Context // ends at shutdown
	// throttle and meta, when set, hold back throttled partitions
	// (replication_throttle.go).
	throttle *replicationThrottle
	meta     metaView
	stats    *fetchStats // nil: none kept

	session sessionClient // run goroutine only (fetcher_session.go)
	sizeBuf []byte        // run goroutine only: requests encoded to measure them

	mu    sync.Mutex
	parts map[tp]*fetchState
	// newEpochs: a partition's leader epoch changed, so the next fetch is
	// full and opens a new session.
	newEpochs bool
	kick      chan struct{}
	done      chan struct{}
	once      sync.Once
}

// newFetcher returns a fetcher, for node self, of the partitions it is
// given (set) from node leader, connecting through peers.
func newFetcher(leader, self int32, cfg ReplicationConfig, peers *peers, clock Clock, log zerolog.Logger, ctx context.Context) *fetcher {
	return &fetcher{leader: leader, self: self, cfg: cfg, peers: peers, clock: clock,
		log: log.With().Int32("leader", leader).Logger(), ctx: ctx, parts: map[tp]*fetchState{}, kick: make(chan struct{}, 1), done: make(chan struct{})}
}

// set replaces the partitions fetched; a new leader epoch means truncating
// again before fetching.
func (f *fetcher) set(targets map[tp]fetchTarget) {
	f.mu.Lock()
	for k := range f.parts {
		if _, ok := targets[k]; !ok {
			delete(f.parts, k)
		}
	}
	for k, t := range targets {
		if st := f.parts[k]; st == nil || st.epoch != t.epoch || st.p != t.p {
			f.parts[k] = &fetchState{fetchTarget: t}
			f.newEpochs = f.newEpochs || (st != nil && st.epoch != t.epoch)
		}
	}
	f.mu.Unlock()
	select {
	case f.kick <- struct{}{}:
	default:
	}
}

func (f *fetcher) stop() { f.once.Do(func() { close(f.done) }) }

func (f *fetcher) run() {
	ctx, cancel := context.WithCancel(f.ctx)
	defer cancel()
	go func() {
		select {
		case <-f.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	for ctx.Err() == nil {
		f.mu.Lock()
		if f.newEpochs {
			f.session.reset()
			f.newEpochs = false
		}
		var work []*fetchState
		now := f.clock.Now()
		for _, st := range f.parts {
			if now.After(st.backoff) {
				work = append(work, st)
			}
		}
		f.mu.Unlock()
		if len(work) == 0 {
			idle, stop := after(f.clock, 100*time.Millisecond)
			select {
			case <-f.kick:
			case <-idle:
			case <-ctx.Done():
			}
			stop()
			continue
		}
		peer, err := f.peers.get(f.leader, "fetch")
		if err == nil {
			err = f.truncate(ctx, peer, work)
		}
		if err == nil {
			err = f.fetch(ctx, peer, work)
		}
		if err != nil {
			f.session.reset() // whatever failed, the next fetch is full
		}
		if err != nil && ctx.Err() == nil {
			f.log.Debug().Err(err).Msg("replica fetch failed")
			sleep(ctx, f.clock, 500*time.Millisecond)
		}
	}
}

// truncate brings every partition that has not yet done so since its
// leader epoch began back to the leader's end of our latest epoch.
func (f *fetcher) truncate(ctx context.Context, peer *peer, work []*fetchState) error {
	req := kmsg.NewPtrOffsetForLeaderEpochRequest()
	req.Version = 3
	req.ReplicaID = f.self
	byTopic := map[string]int{}
	var pending []*fetchState
	for _, st := range work {
		if st.truncated {
			continue
		}
		epochs := st.p.log.LeaderEpochs()
		if len(epochs) == 0 {
			st.truncated = true // nothing of ours can diverge
			continue
		}
		i, ok := byTopic[st.p.topic]
		if !ok {
			i = len(req.Topics)
			byTopic[st.p.topic] = i
			rt := kmsg.NewOffsetForLeaderEpochRequestTopic()
			rt.Topic = st.p.topic
			req.Topics = append(req.Topics, rt)
		}
		rp := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
		rp.Partition, rp.CurrentLeaderEpoch, rp.LeaderEpoch = st.p.index, st.epoch, epochs[len(epochs)-1].Epoch
		req.Topics[i].Partitions = append(req.Topics[i].Partitions, rp)
		pending = append(pending, st)
	}
	if len(pending) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	resp, err := peer.do(ctx, req)
	if err != nil {
		return err
	}
	for _, rt := range resp.(*kmsg.OffsetForLeaderEpochResponse).Topics {
		for _, sp := range rt.Partitions {
			st := f.find(pending, rt.Topic, sp.Partition)
			if st == nil {
				continue
			}
			if sp.ErrorCode != 0 {
				st.backoff = f.clock.Now().Add(200 * time.Millisecond)
				continue
			}
			end := sp.EndOffset
			if sp.LeaderEpoch >= 0 {
				// KIP-279: never keep more than our own end of the epoch the
				// leader answered for.
				if mine, e := st.p.log.EndOffsetForEpoch(sp.LeaderEpoch); e == sp.LeaderEpoch && mine >= 0 {
					end = min(end, mine)
				}
			}
			if end >= 0 && end < st.p.log.LogEndOffset() {
				f.log.Info().Str("topic", st.p.topic).Int32("partition", st.p.index).Int64("from", st.p.log.LogEndOffset()).Int64("to", end).Msg("truncating diverged replica")
				if err := st.p.log.TruncateTo(end); err != nil {
					return err
				}
			}
			st.truncated = true
		}
	}
	return nil
}

func (f *fetcher) find(sts []*fetchState, topic string, partition int32) *fetchState {
	for _, st := range sts {
		if st.p.topic == topic && st.p.index == partition {
			return st
		}
	}
	return nil
}

func (f *fetcher) fetch(ctx context.Context, peer *peer, work []*fetchState) error {
	cfg := &f.cfg
	req := kmsg.NewPtrFetchRequest()
	req.Version = 12
	req.ReplicaID = f.self
	req.MaxWaitMillis = int32(cfg.FetchWaitMax.Milliseconds())
	req.MinBytes = 1
	req.MaxBytes = cfg.FetchResponseMaxBytes
	var snap *controller.Snapshot
	if f.throttle != nil {
		snap = f.meta.Snapshot()
	}
	held := 0
	want := make([]fetchWant, 0, len(work))
	for _, st := range work {
		if !st.truncated {
			continue
		}
		if snap != nil && f.throttle.followerSkip(snap.Topic(st.p.topic), st.p.index, st.p.inISR(f.self)) {
			held++ // left out of the session until the rate comes down
			continue
		}
		want = append(want, fetchWant{key: tp{st.p.topic, st.p.index}, st: st, data: fetchData{
			epoch: st.epoch, offset: st.p.log.LogEndOffset(), logStart: st.p.log.LogStartOffset(),
			maxBytes: cfg.FetchMaxBytes, lastEpoch: -1}})
	}
	if len(want) == 0 {
		if held > 0 { // all over the follower throttle: wait for the rate to come down
			sleep(ctx, f.clock, 50*time.Millisecond)
		}
		return nil // the session is unchanged: nothing was sent
	}
	slices.SortFunc(want, func(a, b fetchWant) int { return compareTP(a.key, b.key) })
	b := f.session.build(req, want)
	if f.stats != nil {
		f.sizeBuf = req.AppendTo(f.sizeBuf[:0])
		f.stats.record(b, len(f.sizeBuf))
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.FetchWaitMax+30*time.Second)
	defer cancel()
	resp, err := peer.do(ctx, req)
	fr, _ := resp.(*kmsg.FetchResponse)
	if !f.session.receive(b, fr, err) {
		switch {
		case err != nil:
			return err
		case isSessionError(fr.ErrorCode):
			f.log.Debug().Err(kerr.ErrorForCode(fr.ErrorCode)).Int32("session", req.SessionID).Msg("fetch session ended")
			return nil // the next fetch is full, at once
		case fr.ErrorCode != 0:
			return kerr.ErrorForCode(fr.ErrorCode)
		default:
			return errSessionMismatch
		}
	}
	for _, rt := range fr.Topics {
		for i := range rt.Partitions {
			sp := &rt.Partitions[i]
			cp := b.parts[tp{rt.Topic, sp.Partition}]
			if cp.st.p.log.LogEndOffset() != cp.data.offset {
				// The log moved since the leader was told where to read
				// (Kafka's check of the fetch offset): what it sent is not
				// ours to append; the new offset goes in the next fetch.
				continue
			}
			f.apply(cp.st, sp)
			if snap != nil && f.throttle.throttled(snap.Topic(cp.st.p.topic), followerThrottledRepl, cp.st.p.index) {
				f.throttle.recordFollower(len(sp.RecordBatches))
			}
		}
	}
	return nil
}

// apply appends one partition's fetched batches and follows the leader's
// high watermark.
func (f *fetcher) apply(st *fetchState, sp *kmsg.FetchResponseTopicPartition) {
	l := st.p.log
	switch sp.ErrorCode {
	case 0:
	case kerr.OffsetOutOfRange.Code:
		if l.LogEndOffset() < sp.LogStartOffset {
			// We are behind the leader's log start: start over there.
			f.log.Info().Str("topic", st.p.topic).Int32("partition", st.p.index).Int64("offset", sp.LogStartOffset).Msg("replica behind leader log start, resetting")
			if err := l.ResetTo(sp.LogStartOffset); err != nil {
				f.log.Error().Err(err).Msg("resetting replica failed")
			}
		} else {
			st.truncated = false // ahead of the leader: truncate again
		}
		return
	default:
		st.backoff = f.clock.Now().Add(200 * time.Millisecond)
		return
	}
	if len(sp.RecordBatches) > 0 {
		if _, err := l.AppendReplicated(sp.RecordBatches); err != nil {
			f.log.Error().Err(err).Str("topic", st.p.topic).Int32("partition", st.p.index).Msg("appending replicated batches failed")
			st.backoff = f.clock.Now().Add(time.Second)
			if isDirFailure(err) && st.p.dir != nil {
				st.p.dir.fail(err) // its replicas are reported offline (dirfailure.go)
			}
			return
		}
	}
	st.p.leaderHW.Store(sp.HighWatermark)
	if hw := min(sp.HighWatermark, l.LogEndOffset()); hw > l.HighWatermark() {
		l.SetHighWatermark(hw)
		st.p.wake() // consumers long-polling this follower (KIP-392)
	}
	// Follow the leader's log start (retention, DeleteRecords).
	if lso := sp.LogStartOffset; lso > l.LogStartOffset() && lso <= l.HighWatermark() {
		if _, err := l.DeleteRecords(lso); err != nil {
			f.log.Debug().Err(err).Str("topic", st.p.topic).Int32("partition", st.p.index).Msg("following leader log start failed")
		}
	}
}
