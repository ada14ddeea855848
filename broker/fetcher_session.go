package broker

// The follower's side of a fetch session (KIP-227), after Kafka's
// FetchSessionHandler; the leader's side is fetch_sessions.go.
//
// A fetcher's first request is a full fetch asking for a session (id 0,
// epoch 0) and naming every partition it fetches. Once the leader answers
// with a session id, each request is incremental (that id, epochs 1, 2,
// ..., MaxInt32, then 1 again): it names only the partitions added since
// the last request or whose fetch offset, log start, leader epoch or max
// bytes changed, and lists the ones no longer fetched (a partition held
// back by the follower throttle, truncating, backing off after an error,
// or moved to another leader) in forgotten_topics_data. Its response
// names only partitions with news; the others keep their state.
//
// Any failure ends the session and the next request is a full fetch: a
// connection error, a response that does not match the session, and the
// top-level FETCH_SESSION_ID_NOT_FOUND (then a new session is asked for
// with id 0), INVALID_FETCH_SESSION_EPOCH, FETCH_SESSION_TOPIC_ID_ERROR
// or any other top-level error (then the old id with epoch 0, which
// closes it on the leader). So does a new leader epoch of any partition
// (fetcher.set). A leader that makes no session (id 0 in its answer) is
// asked again at every full fetch, and stays correct.
//
// The session is what the leader holds: it becomes the request's
// partitions only when the request got its answer, so a request that is
// never sent (every partition held back) changes nothing.

import (
	"cmp"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// fetchData is what a follower asks for one partition; a partition is
// resent in an incremental fetch when it changed.
type fetchData struct {
	epoch     int32 // current leader epoch
	offset    int64 // fetch offset: the follower's log end offset
	logStart  int64
	maxBytes  int32
	lastEpoch int32 // last fetched epoch (-1: not sent)
}

// fetchWant is a partition a fetch asks for.
type fetchWant struct {
	key  tp
	st   *fetchState
	data fetchData
}

// clientPartition is a partition of the follower's session: the fetch
// state it was asked for with, and what the leader was last sent.
type clientPartition struct {
	st   *fetchState
	data fetchData
}

// sessionClient is the follower's session with one leader. It belongs to
// the fetcher's run goroutine.
type sessionClient struct {
	id    int32                   // 0: none
	epoch int32                   // the next request's epoch; 0: a full fetch
	parts map[tp]*clientPartition // what the leader's session holds
}

// sessionBuild is one request of a session: the partitions its response
// may name, and what it carried.
type sessionBuild struct {
	full      bool
	parts     map[tp]*clientPartition // the session once this request is answered
	sent      int                     // partitions named in the request
	forgotten int                     // partitions in forgotten_topics_data
}

// reset ends the session: the next fetch is full and closes the current
// one on the leader.
func (c *sessionClient) reset() { c.epoch = 0 }

// build fills req's session id and epoch, topics and forgotten topics to
// fetch want (sorted by key).
func (c *sessionClient) build(req *kmsg.FetchRequest, want []fetchWant) *sessionBuild {
	b := &sessionBuild{full: c.epoch == 0, parts: make(map[tp]*clientPartition, len(want))}
	req.SessionID, req.SessionEpoch = c.id, c.epoch
	req.Topics, req.ForgottenTopics = req.Topics[:0], req.ForgottenTopics[:0]
	for _, w := range want {
		b.parts[w.key] = &clientPartition{st: w.st, data: w.data}
		if !b.full {
			if old := c.parts[w.key]; old != nil && old.data == w.data {
				continue // the leader has it
			}
		}
		if n := len(req.Topics); n == 0 || req.Topics[n-1].Topic != w.key.topic {
			t := kmsg.NewFetchRequestTopic()
			t.Topic = w.key.topic
			req.Topics = append(req.Topics, t)
		}
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition = w.key.index
		rp.CurrentLeaderEpoch = w.data.epoch
		rp.FetchOffset = w.data.offset
		rp.LastFetchedEpoch = w.data.lastEpoch
		rp.LogStartOffset = w.data.logStart
		rp.PartitionMaxBytes = w.data.maxBytes
		t := &req.Topics[len(req.Topics)-1]
		t.Partitions = append(t.Partitions, rp)
		b.sent++
	}
	if b.full {
		return b
	}
	var gone []tp
	for k := range c.parts {
		if b.parts[k] == nil {
			gone = append(gone, k)
		}
	}
	slices.SortFunc(gone, compareTP)
	for _, k := range gone {
		if n := len(req.ForgottenTopics); n == 0 || req.ForgottenTopics[n-1].Topic != k.topic {
			ft := kmsg.NewFetchRequestForgottenTopic()
			ft.Topic = k.topic
			req.ForgottenTopics = append(req.ForgottenTopics, ft)
		}
		ft := &req.ForgottenTopics[len(req.ForgottenTopics)-1]
		ft.Partitions = append(ft.Partitions, k.index)
	}
	b.forgotten = len(gone)
	return b
}

func compareTP(a, b tp) int {
	if c := cmp.Compare(a.topic, b.topic); c != 0 {
		return c
	}
	return cmp.Compare(a.index, b.index)
}

// isSessionError reports whether a top-level error only ends the session.
func isSessionError(code int16) bool {
	switch code {
	case kerr.FetchSessionIDNotFound.Code, kerr.InvalidFetchSessionEpoch.Code, kerr.FetchSessionTopicIDError.Code:
		return true
	}
	return false
}

// receive moves the session on after b's request was answered with resp,
// or failed with err. It reports whether resp is to be applied: false
// after an error, a top-level error code, or a response naming a
// partition outside the session (Kafka's verifyFullFetchResponsePartitions
// and verifyIncrementalFetchResponsePartitions); the next fetch is then
// full.
func (c *sessionClient) receive(b *sessionBuild, resp *kmsg.FetchResponse, err error) bool {
	switch {
	case err != nil:
		c.epoch = 0
		return false
	case resp.ErrorCode == kerr.FetchSessionIDNotFound.Code:
		c.id, c.epoch = 0, 0
		return false
	case resp.ErrorCode != 0, !b.full && resp.SessionID != 0 && resp.SessionID != c.id:
		c.epoch = 0
		return false
	}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if b.parts[tp{t.Topic, p.Partition}] == nil {
				c.epoch = 0
				return false
			}
		}
	}
	c.parts = b.parts
	switch {
	case resp.SessionID == 0: // none made, or the leader closed it
		c.id, c.epoch = 0, 0
	case b.full:
		c.id, c.epoch = resp.SessionID, 1
	default:
		c.epoch = nextEpoch(c.epoch)
	}
	return true
}
