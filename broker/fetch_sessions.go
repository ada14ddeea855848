package broker

// Fetch sessions (KIP-227), Kafka's FetchSessionCache rules.
//
// A Fetch v7+ carries session_id/session_epoch:
//   - 0/0 is a full fetch that asks for a session: the response carries a
//     new nonzero session id when the cache has room (or can evict), else 0;
//   - 0/-1 is a sessionless full fetch;
//   - X/0 and X/-1 close session X; X/0 then asks for a new session, X/-1
//     is served sessionless;
//   - X/N (N > 0) is an incremental fetch: the request names only added or
//     changed partitions and forgotten_topics_data. N must be the session's
//     next epoch (INVALID_FETCH_SESSION_EPOCH), X must exist
//     (FETCH_SESSION_ID_NOT_FOUND), and a session made with topic ids (v13+)
//     must keep using them (FETCH_SESSION_TOPIC_ID_ERROR).
//
// An incremental response holds only the partitions with records, an
// error, or a high watermark or log start offset that differs from the
// last one the session sent (a new partition has none yet, so it is sent).
// Partitions that got records move to the end of the session's order, as
// in Kafka, so that a response's max_bytes is shared out over time.
//
// The cache holds max.incremental.fetch.session.cache.slots sessions. When
// full, a new session evicts the least recently used one if it has been
// idle longer than min.incremental.fetch.session.eviction.ms (that is how
// sessions expire); otherwise the least valuable evictable one if the new
// session is at least as valuable, where value orders by privileged
// (follower) first, then partition count. Sessions younger than the
// eviction time are evictable only by a follower's session, and only when
// they are not themselves a follower's.

import (
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// sessionKey names a partition in a session: by topic id when the session
// uses ids (v13+), else by name.
type sessionKey struct {
	topic     string
	id        [16]byte
	partition int32
}

// sessionPartition is one partition of a session: what the client last
// asked for and what the session last sent about it.
type sessionPartition struct {
	req      kmsg.FetchRequestTopicPartition
	hw       int64 // -1: never sent (or sent with an error), so sent next time
	logStart int64
	lso      int64 // the last stable offset last sent
}

type fetchSession struct {
	id         int32
	epoch      int32 // the epoch the next incremental fetch must carry
	privileged bool
	topicIDs   bool
	created    time.Time
	lastUsed   time.Time
	parts      map[sessionKey]*sessionPartition
	order      []sessionKey // partitions in the order they were added
}

// fetchSessions is the broker's session cache.
type fetchSessions struct {
	clock       Clock
	log         zerolog.Logger
	slots       int
	minEviction time.Duration

	mu       sync.Mutex
	sessions map[int32]*fetchSession
}

func newFetchSessions(clock Clock, cfg LimitsConfig, log zerolog.Logger) *fetchSessions {
	return &fetchSessions{clock: clock, log: log, slots: cfg.FetchSessionSlots,
		minEviction: cfg.FetchSessionMinEviction, sessions: map[int32]*fetchSession{}}
}

// fetchContext is how one Fetch request uses the cache: the full request
// to serve, and how to finish its response.
type fetchContext struct {
	fs      *fetchSessions
	session *fetchSession // nil: sessionless
	create  bool          // a full fetch asking for a new session
	req     *kmsg.FetchRequest
}

// begin resolves req's session. It returns the request to serve (for an
// incremental fetch, every partition of the session) or a top-level error
// code to answer at once.
func (fs *fetchSessions) begin(req *kmsg.FetchRequest, privileged bool) (*fetchContext, int16) {
	fc := &fetchContext{fs: fs, req: req}
	if req.Version < 7 {
		return fc, 0
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if req.SessionEpoch == 0 || req.SessionEpoch == -1 {
		if req.SessionID != 0 {
			if _, ok := fs.sessions[req.SessionID]; ok {
				delete(fs.sessions, req.SessionID)
				fs.log.Debug().Int32("session", req.SessionID).Msg("fetch session closed")
			}
		}
		fc.create = req.SessionEpoch == 0 && fs.slots > 0
		return fc, 0
	}
	if req.SessionEpoch < 0 {
		return nil, kerr.InvalidFetchSessionEpoch.Code
	}
	s, ok := fs.sessions[req.SessionID]
	if !ok {
		return nil, kerr.FetchSessionIDNotFound.Code
	}
	if s.epoch != req.SessionEpoch {
		return nil, kerr.InvalidFetchSessionEpoch.Code
	}
	if s.topicIDs != (req.Version >= 13) {
		return nil, kerr.FetchSessionTopicIDError.Code
	}
	s.epoch = nextEpoch(s.epoch)
	s.lastUsed = fs.clock.Now()
	for _, rt := range req.Topics {
		for _, rp := range rt.Partitions {
			k := keyOf(s.topicIDs, rt.Topic, rt.TopicID, rp.Partition)
			if sp, ok := s.parts[k]; ok {
				sp.req = rp
				continue
			}
			s.parts[k] = &sessionPartition{req: rp, hw: -1, logStart: -1, lso: -1}
			s.order = append(s.order, k)
		}
	}
	// Kafka's order: adds and updates first, then forgets.
	forgot := false
	for _, ft := range req.ForgottenTopics {
		for _, p := range ft.Partitions {
			k := keyOf(s.topicIDs, ft.Topic, ft.TopicID, p)
			if _, ok := s.parts[k]; ok {
				delete(s.parts, k)
				forgot = true
			}
		}
	}
	if forgot { // one pass, however many were forgotten
		s.order = slices.DeleteFunc(s.order, func(k sessionKey) bool { return s.parts[k] == nil })
	}
	// Serve every partition of the session, grouped by topic in the order
	// the topics were added.
	full := *req
	full.Topics = nil
	full.ForgottenTopics = nil
	at := map[sessionKey]int{}
	for _, k := range s.order {
		tk := sessionKey{topic: k.topic, id: k.id}
		i, ok := at[tk]
		if !ok {
			i = len(full.Topics)
			at[tk] = i
			t := kmsg.NewFetchRequestTopic()
			t.Topic, t.TopicID = k.topic, k.id
			full.Topics = append(full.Topics, t)
		}
		full.Topics[i].Partitions = append(full.Topics[i].Partitions, s.parts[k].req)
	}
	fc.session = s
	fc.req = &full
	return fc, 0
}

func keyOf(ids bool, topic string, id [16]byte, p int32) sessionKey {
	if ids {
		return sessionKey{id: id, partition: p}
	}
	return sessionKey{topic: topic, partition: p}
}

// nextEpoch is Kafka's: 1 after MaxInt32.
func nextEpoch(e int32) int32 {
	if e == math.MaxInt32 {
		return 1
	}
	return e + 1
}

// finish sets resp's session id and, for an incremental fetch, drops the
// partitions the client need not hear about. Dropped partitions carry no
// records, so the record markers of the kept ones stay in order.
func (fc *fetchContext) finish(resp *kmsg.FetchResponse, privileged bool) {
	fs := fc.fs
	if fc.req.Version < 7 {
		return
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fc.create {
		resp.SessionID = fs.create(fc.req, resp, privileged)
		return
	}
	if fc.session == nil {
		resp.SessionID = 0
		return
	}
	s := fc.session
	resp.SessionID = s.id
	if fs.sessions[s.id] != s {
		// Closed or evicted while this fetch ran: the client learns at its
		// next fetch; this response is whole.
		return
	}
	topics := resp.Topics[:0]
	var served map[sessionKey]bool
	for _, t := range resp.Topics {
		parts := t.Partitions[:0]
		for _, p := range t.Partitions {
			k := keyOf(s.topicIDs, t.Topic, t.TopicID, p.Partition)
			sp := s.parts[k]
			if sp == nil || sp.mustRespond(&p) {
				parts = append(parts, p)
			}
			if sp != nil && len(p.RecordBatches) > 0 {
				if served == nil {
					served = map[sessionKey]bool{}
				}
				served[k] = true
			}
		}
		if len(parts) > 0 {
			t.Partitions = parts
			topics = append(topics, t)
		}
	}
	resp.Topics = topics
	if served != nil {
		// Kafka's fairness: partitions that got records go to the end, so
		// that max_bytes does not always go to the same first ones of a
		// session whose partitions are served in one order every time.
		rest := make([]sessionKey, 0, len(s.order))
		for _, k := range s.order {
			if !served[k] {
				rest = append(rest, k)
			}
		}
		for _, k := range s.order {
			if served[k] {
				rest = append(rest, k)
			}
		}
		s.order = rest
	}
}

// mustRespond reports whether p goes into an incremental response, and
// records what was sent.
func (sp *sessionPartition) mustRespond(p *kmsg.FetchResponseTopicPartition) bool {
	must := len(p.RecordBatches) > 0
	if sp.hw != p.HighWatermark {
		sp.hw = p.HighWatermark
		must = true
	}
	if sp.lso != p.LastStableOffset {
		sp.lso = p.LastStableOffset
		must = true
	}
	if sp.logStart != p.LogStartOffset {
		sp.logStart = p.LogStartOffset
		must = true
	}
	if p.ErrorCode != 0 {
		sp.hw = -1 // sent again once the error clears
		must = true
	}
	if p.PreferredReadReplica >= 0 { // KIP-392: the consumer must learn it
		must = true
	}
	return must
}

// create makes a session from a full fetch and its response, when the
// cache has room or can evict; it returns the session id, or 0. Called
// with fs.mu held.
func (fs *fetchSessions) create(req *kmsg.FetchRequest, resp *kmsg.FetchResponse, privileged bool) int32 {
	n := 0
	for _, t := range req.Topics {
		n += len(t.Partitions)
	}
	now := fs.clock.Now()
	if len(fs.sessions) >= fs.slots && !fs.evict(privileged, n, now) {
		return 0
	}
	id := rand.Int32N(math.MaxInt32) + 1
	for fs.sessions[id] != nil {
		id = rand.Int32N(math.MaxInt32) + 1
	}
	s := &fetchSession{id: id, epoch: 1, privileged: privileged, topicIDs: req.Version >= 13,
		created: now, lastUsed: now, parts: make(map[sessionKey]*sessionPartition, n)}
	for _, t := range req.Topics {
		for _, rp := range t.Partitions {
			k := keyOf(s.topicIDs, t.Topic, t.TopicID, rp.Partition)
			if _, dup := s.parts[k]; !dup {
				s.order = append(s.order, k)
			}
			s.parts[k] = &sessionPartition{req: rp, hw: -1, logStart: -1, lso: -1}
		}
	}
	for _, t := range resp.Topics {
		for i := range t.Partitions {
			p := &t.Partitions[i]
			if sp := s.parts[keyOf(s.topicIDs, t.Topic, t.TopicID, p.Partition)]; sp != nil {
				sp.mustRespond(p)
			}
		}
	}
	fs.sessions[id] = s
	fs.log.Debug().Int32("session", id).Int("partitions", n).Bool("privileged", privileged).Msg("fetch session created")
	return id
}

// evict makes room for a new session of n partitions, by Kafka's rules (see
// the file comment). Called with fs.mu held.
func (fs *fetchSessions) evict(privileged bool, n int, now time.Time) bool {
	var lru, least *fetchSession
	for _, s := range fs.sessions {
		if lru == nil || s.lastUsed.Before(lru.lastUsed) || (s.lastUsed.Equal(lru.lastUsed) && s.id < lru.id) {
			lru = s
		}
		old := now.Sub(s.created) > fs.minEviction
		if !old && (!privileged || s.privileged) {
			continue
		}
		if least == nil || lessValuable(s.privileged, len(s.parts), s.id, least) {
			least = s
		}
	}
	switch {
	case lru != nil && now.Sub(lru.lastUsed) > fs.minEviction:
		delete(fs.sessions, lru.id)
		fs.log.Debug().Int32("session", lru.id).Msg("stale fetch session evicted")
		return true
	case least == nil || lessValuable(privileged, n, 0, least):
		return false
	default:
		delete(fs.sessions, least.id)
		fs.log.Debug().Int32("session", least.id).Msg("fetch session evicted for a more valuable one")
		return true
	}
}

// lessValuable orders sessions by privileged, partition count, then id.
func lessValuable(privileged bool, n int, id int32, than *fetchSession) bool {
	if privileged != than.privileged {
		return !privileged
	}
	if n != len(than.parts) {
		return n < len(than.parts)
	}
	return id < than.id
}

// len is the number of sessions cached.
func (fs *fetchSessions) len() int {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return len(fs.sessions)
}
