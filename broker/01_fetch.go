package broker

// Fetch (key 1), v0-v18.
//
// Reads whole record batches from each partition's log up to the high
// watermark and sends them with sendfile (see splice.go). Long poll: when
// fewer than min_bytes are available the request waits, up to max_wait_ms,
// for an append to any of its partitions. max_bytes and partition
// max_bytes bound the response, except that the first batch of the first
// partition with data is always returned whole (KIP-74), so a consumer
// never sticks behind a batch larger than its limits. isolation_level=1
// (read_committed) reads stop at the last stable offset and carry the
// aborted transactions (storage's .txnindex) overlapping the range served;
// every partition reports its last stable offset.
//
// Fetch sessions (KIP-227, v7+) are served by fetch_sessions.go: an
// incremental fetch is expanded to every partition of its session, served
// as a full one (long poll included), and its response then trimmed to the
// partitions that changed. v13+ names topics by id. Followers (replica id >= 0) read up to the log end offset, and their
// fetch offsets move the leader's high watermark (replica.go). v0-v3 read
// message sets of magic 0/1, converted from the log's batches in memory
// (fetch_downconvert.go). Consumers v11+ may read from followers, and
// are sent to one in their rack by a rack-aware leader (KIP-392,
// fetch_rack.go). An I/O
// error reading a log is KAFKA_STORAGE_ERROR and takes the log dir offline
// for writes (Server.failLogDir), as Kafka does.

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/controller"
)

var fetchHandler = handle(kmsg.Fetch, 0, 18, func(s *deps, r *request, req *kmsg.FetchRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.FetchResponse)
	privileged := replicaOf(r) >= 0
	fc, code := s.sessions.begin(req, privileged)
	if code != 0 {
		resp.ErrorCode = code
		return resp, nil
	}
	req = fc.req
	maxBytes := req.MaxBytes
	if maxBytes <= 0 || maxBytes > s.cfg.Limits.FetchMaxBytes {
		maxBytes = s.cfg.Limits.FetchMaxBytes
	}
	deadline := s.clock.Now().Add(time.Duration(req.MaxWaitMillis) * time.Millisecond)
	var wake chan struct{}
	var pass fetchPass
	for {
		snap := s.ctrl.Snapshot()
		resp.Topics = resp.Topics[:0]
		releaseRegions(r.regions) // a previous pass's regions are not sent
		r.regions = r.regions[:0]
		pass = s.fetchOnce(snap, r, req, resp, maxBytes)
		if pass.now || pass.total >= int64(req.MinBytes) || req.MinBytes <= 0 || !s.clock.Now().Before(deadline) {
			break
		}
		// Not enough yet: wait for an append to one of our partitions.
		if wake == nil {
			wake = make(chan struct{}, 1)
			for _, rt := range req.Topics {
				name := rt.Topic
				if req.Version >= 13 {
					if t := snap.TopicByID(rt.TopicID); t != nil {
						name = t.Name
					}
				}
				for _, rp := range rt.Partitions {
					if p := s.parts.lookup(name, rp.Partition); p != nil {
						p.addWaiter(wake)
						defer p.removeWaiter(wake)
					}
				}
			}
			continue // re-check: an append may have landed before we registered
		}
		expired, stop := after(s.clock, deadline.Sub(s.clock.Now()))
		waitStart := s.clock.Now()
		select {
		case <-wake:
		case <-expired:
		case <-s.ctx.Done():
		}
		stop()
		r.waited += s.clock.Now().Sub(waitStart)
		if s.ctx.Err() != nil {
			deadline = s.clock.Now()
		}
	}
	s.repl.followerReads.Add(pass.followerReads)
	s.repl.readRedirects.Add(pass.redirects)
	fc.finish(resp, privileged)
	return resp, nil
})

// fetchPass is what one pass over a fetch's partitions found.
type fetchPass struct {
	total int64 // record bytes
	// now: answer at once, without waiting for min_bytes: a partition
	// failed, was redirected to a preferred read replica, or has a high
	// watermark its follower has not been sent yet.
	now           bool
	followerReads int64 // partitions read here as a follower, for a consumer
	redirects     int64 // partitions answered with a preferred read replica
}

// fetchOnce reads every requested partition once, filling resp and
// r.regions.
func (s *deps) fetchOnce(snap *controller.Snapshot, r *request, req *kmsg.FetchRequest, resp *kmsg.FetchResponse, maxBytes int32) (pass fetchPass) {
	// Consumers v11+ may read from any replica (KIP-392).
	anyReplica := replicaOf(r) < 0 && req.Version >= 11
	for i := range req.Topics {
		rt := &req.Topics[i]
		st := kmsg.NewFetchResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		t := snap.Topic(rt.Topic)
		if req.Version >= 13 {
			t = snap.TopicByID(rt.TopicID)
		}
		denied := (t != nil || req.Version < 13) && !s.authorizeFetch(r, topicName(t, rt.Topic))
		for j := range rt.Partitions {
			rp := &rt.Partitions[j]
			sp := kmsg.NewFetchResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = -1, -1, -1
			sp.RecordBatches = []byte{}
			switch {
			case denied:
				sp.ErrorCode = kerr.TopicAuthorizationFailed.Code
			case t == nil && req.Version >= 13:
				sp.ErrorCode = kerr.UnknownTopicID.Code
			case t == nil || rp.Partition < 0 || int(rp.Partition) >= len(t.Partitions):
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case fetchMagic(req.Version) < 2 && !s.cfg.downConversionEnabled(t):
				sp.ErrorCode = kerr.UnsupportedVersion.Code
			default:
				meta := &t.Partitions[rp.Partition]
				asFollower := anyReplica && meta.Leader != s.cfg.NodeID
				if asFollower {
					sp.ErrorCode = checkReplicaEpoch(s.cfg.NodeID, meta, rp.CurrentLeaderEpoch)
				} else {
					sp.ErrorCode = checkLeaderEpoch(s.cfg.NodeID, meta, rp.CurrentLeaderEpoch)
				}
				if sp.ErrorCode == 0 {
					limit := rp.PartitionMaxBytes
					if left := int64(maxBytes) - pass.total; int64(limit) > left {
						limit = int32(max(left, 0))
					}
					var rack string
					if anyReplica && !asFollower {
						rack = req.Rack
					}
					n, err := s.fetchPartition(snap, t.Name, rp, limit, pass.total == 0, rack, r, &sp, &pass)
					if err != nil {
						sp.ErrorCode = errCode(err)
						if sp.ErrorCode == kerr.UnknownServerError.Code || sp.ErrorCode == kerr.KafkaStorageError.Code {
							s.parts.dirFor(t.Name, rp.Partition).failureEvent(err).Str("topic", t.Name).Int32("partition", rp.Partition).Msg("fetch failed")
						}
						if sp.ErrorCode == kerr.KafkaStorageError.Code {
							s.parts.failPartitionDir(t.Name, rp.Partition, err)
						}
					}
					pass.total += n
					if err == nil && asFollower {
						pass.followerReads++
					}
				}
			}
			if sp.ErrorCode != 0 {
				sp.ErrorCode = oldFetchError(req.Version, sp.ErrorCode)
				pass.now = true
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return pass
}

// checkLeaderEpoch validates a client's current leader epoch (KIP-320):
// -1 skips the check.
func checkLeaderEpoch(self int32, meta *controller.Partition, epoch int32) int16 {
	switch {
	case meta.Leader != self:
		return kerr.NotLeaderForPartition.Code
	case epoch < 0 || epoch == meta.LeaderEpoch:
		return 0
	case epoch < meta.LeaderEpoch:
		return kerr.FencedLeaderEpoch.Code
	default:
		return kerr.UnknownLeaderEpoch.Code
	}
}

// fetchPartition reads one partition for sp. rack is the consumer's
// rack_id when this node may send it to a preferred read replica.
func (s *deps) fetchPartition(snap *controller.Snapshot, topic string, rp *kmsg.FetchRequestTopicPartition, limit int32, first bool, rack string,
	r *request, sp *kmsg.FetchResponseTopicPartition, pass *fetchPass) (int64, error) {
	p, err := s.parts.get(topic, rp.Partition)
	if err != nil {
		return 0, err
	}
	follower := false
	var hw int64
	if id := replicaOf(r); id >= 0 {
		var news bool
		hw, news, follower = s.repl.recordFollowerFetch(p, id, rp.FetchOffset, rp.LogStartOffset)
		pass.now = pass.now || news
	}
	if !follower {
		hw = p.log.HighWatermark()
	}
	lso := p.log.LastStableOffset()
	maxOffset := hw
	readCommitted := false
	if follower {
		// A follower: it replicates everything, committed or not, and its
		// fetch offset is its log end offset.
		maxOffset = p.log.LogEndOffset()
	} else if req := r.body.(*kmsg.FetchRequest); req.IsolationLevel == 1 {
		// read_committed: nothing at or past the last stable offset.
		maxOffset, readCommitted = lso, true
	}
	sp.HighWatermark = hw
	sp.LastStableOffset = lso
	sp.LogStartOffset = p.log.LogStartOffset()
	if rack != "" {
		if id := s.preferredReadReplica(snap, p, rack, r.conn.adv.Name, rp.FetchOffset); id >= 0 {
			// KIP-392: no records, the consumer goes to that replica.
			sp.PreferredReadReplica = id
			pass.redirects++
			pass.now = true
			return 0, nil
		}
	}
	var throttledTopic *controller.Topic // a follower fetch of a leader-throttled replica (replication_throttle.go)
	if follower {
		if t := snap.Topic(topic); s.repl.throttle.throttled(t, leaderThrottledReplicas, rp.Partition) {
			if s.repl.throttle.leaderSkip(t, rp.Partition, p.inISR(replicaOf(r))) {
				return 0, nil // over the leader throttle: no records this time
			}
			throttledTopic = t
		}
	}
	region, err := p.log.Read(rp.FetchOffset, maxOffset, limit, first)
	if err != nil {
		return 0, err
	}
	if throttledTopic != nil {
		s.repl.throttle.recordLeader(int(region.Len))
	}
	if region.Len == 0 {
		return 0, nil
	}
	if readCommitted {
		// The aborted transactions overlapping what is served, so the
		// client drops their records (Kafka bounds the range by the LSO too).
		for _, a := range p.log.AbortedTransactions(rp.FetchOffset, maxOffset) {
			at := kmsg.NewFetchResponseTopicPartitionAbortedTransaction()
			at.ProducerID, at.FirstOffset = a.ProducerID, a.FirstOffset
			sp.AbortedTransactions = append(sp.AbortedTransactions, at)
		}
	}
	if req := r.body.(*kmsg.FetchRequest); fetchMagic(req.Version) < 2 {
		set, err := downConvert(p.log, region, fetchMagic(req.Version), rp.FetchOffset, maxOffset, limit, first)
		if err != nil {
			return 0, err
		}
		p.traffic.out(int64(len(set)))
		sp.RecordBatches = set
		return int64(len(set)), nil
	}
	if !follower {
		p.traffic.out(region.Len)
	}
	sp.RecordBatches = recordsMarker(len(r.regions))
	r.regions = append(r.regions, region)
	return region.Len, nil
}

// replicaOf returns the replica id of a follower's Fetch, or -1 for a
// consumer.
func replicaOf(r *request) int32 {
	req := r.body.(*kmsg.FetchRequest)
	if req.Version >= 15 {
		return req.ReplicaState.ID
	}
	return req.ReplicaID
}
