package broker

// Fetching from the closest replica (KIP-392).
//
// A consumer's Fetch v11+ carries its rack_id. When replica.selector.class
// names Kafka's org.apache.kafka.common.replica.RackAwareReplicaSelector,
// the leader of a partition answers such a fetch with
// preferred_read_replica instead of records when a follower in the
// consumer's rack can serve it: an ISR member, not fenced, advertising the
// listener the consumer came in on, whose log holds the fetch offset (log
// start <= offset <= log end, as the leader last heard from its fetches).
// Of several, the one with the highest log end offset wins, then the one
// caught up most recently (then the lowest id, where Kafka leaves it to a
// set's order). The leader keeps the consumer when it is in the consumer's
// rack itself, when no replica is, or when rack_id is empty. That answer
// carries the leader's high watermark, last stable offset and log start
// offset, and is sent at once, without the long poll (Kafka's
// ReplicaManager.findPreferredReadReplica). Without the key (the default,
// as Kafka's) every consumer reads from the leader.
//
// Every replica serves consumer fetches v11+ (Kafka's fetchOnlyLeader is
// only for followers and for consumers below v11): a follower reads its
// own log up to its high watermark (the last stable offset for
// read_committed), which it learns from the leader's fetch responses
// (fetcher.go). A leader answers a follower's fetch at once, without the
// long poll, when its high watermark moved past the one it last sent that
// follower, so followers (and the consumers reading from them) are behind
// by a round trip, not by replica.fetch.wait.max.ms. A follower's errors
// are Kafka's for a read that need not be on the leader:
// NOT_LEADER_OR_FOLLOWER when this broker holds no replica of the
// partition, FENCED_LEADER_EPOCH / UNKNOWN_LEADER_EPOCH when the
// consumer's current leader epoch is older / newer than the one this
// replica knows, OFFSET_OUT_OF_RANGE before its log start or past its log
// end (an offset between its high watermark and log end waits, as one at
// the end does).

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"gregor/controller"
)

// rackAwareReplicaSelector is the one replica.selector.class gregor
// knows, Kafka's rack-aware selector.
const rackAwareReplicaSelector = "org.apache.kafka.common.replica.RackAwareReplicaSelector"

// rackConfigDefs are the keys of follower fetching.
var rackConfigDefs = []configDef{
	{name: "replica.selector.class", typ: "string", def: "", doc: "Which replica a consumer fetch v11+ is sent to (KIP-392): empty for the leader, or " + rackAwareReplicaSelector + " for an in-sync replica in the consumer's rack (client.rack) when the leader is not in it.",
		apply: func(c *Config, v string) error {
			switch v {
			case "":
				c.Replication.RackAwareReads = false
			case rackAwareReplicaSelector:
				c.Replication.RackAwareReads = true
			default:
				return fmt.Errorf("unknown replica selector %q (only %s)", v, rackAwareReplicaSelector)
			}
			return nil
		}},
}

// readReplica is a replica a consumer could read a partition from, as
// its leader sees it (Kafka's ReplicaView).
type readReplica struct {
	id            int32
	rack          string // "": none
	leo           int64
	sinceCaughtUp time.Duration
}

// selectRackReplica is RackAwareReplicaSelector: the follower a consumer
// in rack should read from, or -1 for the leader (in leaderRack).
// followers are the ones that can serve the fetch. (Kafka's selector
// weighs the leader's log end offset too, but only among replicas of
// the consumer's rack, and returns the leader whenever it is one of
// them.)
func selectRackReplica(rack, leaderRack string, followers []readReplica) int32 {
	if rack == "" || leaderRack == rack {
		return -1
	}
	best := -1
	for i, f := range followers {
		if f.rack != rack {
			continue
		}
		if best < 0 || moreCaughtUp(f, followers[best]) {
			best = i
		}
	}
	if best < 0 {
		return -1
	}
	return followers[best].id
}

// moreCaughtUp orders replicas as Kafka's ReplicaView.comparator (log end
// offset, then time since last caught up), then by id.
func moreCaughtUp(a, b readReplica) bool {
	if c := cmp.Compare(a.leo, b.leo); c != 0 {
		return c > 0
	}
	if c := cmp.Compare(a.sinceCaughtUp, b.sinceCaughtUp); c != 0 {
		return c < 0
	}
	return a.id < b.id
}

// readReplicas returns the followers of p that could serve a consumer at
// fetchOffset: in the ISR, and holding the offset as of their last fetch.
// It reports false when this node does not lead p.
func (p *partition) readReplicas(self int32, fetchOffset int64, now time.Time) ([]readReplica, bool) {
	r := &p.rep
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.role != roleLeader || r.leader != self {
		return nil, false
	}
	var out []readReplica
	for _, id := range r.isr {
		f := r.followers[id]
		if id == self || f == nil || f.leo < fetchOffset || f.logStart > fetchOffset {
			continue
		}
		out = append(out, readReplica{id: id, leo: f.leo, sinceCaughtUp: now.Sub(f.lastCaughtUp)})
	}
	return out, true
}

// preferredReadReplica returns the follower a consumer in rack, on
// listener, fetching p at fetchOffset should read from instead of this
// leader, or -1.
func (s *deps) preferredReadReplica(snap *controller.Snapshot, p *partition, rack, listener string, fetchOffset int64) int32 {
	if !s.cfg.Replication.RackAwareReads || rack == "" {
		return -1
	}
	followers, leading := p.readReplicas(s.cfg.NodeID, fetchOffset, s.clock.Now())
	if !leading || len(followers) == 0 {
		return -1
	}
	reachable := followers[:0]
	for _, f := range followers {
		b, ok := snap.Broker(f.id)
		if !ok || b.Fenced || !advertises(b, listener) {
			continue
		}
		if b.Rack != nil {
			f.rack = *b.Rack
		}
		reachable = append(reachable, f)
	}
	leaderRack := ""
	if s.cfg.Cluster.Rack != nil {
		leaderRack = *s.cfg.Cluster.Rack
	}
	return selectRackReplica(rack, leaderRack, reachable)
}

// advertises reports whether b has an endpoint on the named listener
// (brokers registered without endpoints have only their one address).
func advertises(b controller.Broker, listener string) bool {
	return len(b.Endpoints) == 0 || slices.ContainsFunc(b.Endpoints, func(e controller.Endpoint) bool { return e.Name == listener })
}

// checkReplicaEpoch validates a consumer's current leader epoch at a
// replica that need not lead the partition (KIP-392): NOT_LEADER_OR_FOLLOWER
// if self holds no replica, else as checkLeaderEpoch against the epoch
// the metadata gives.
func checkReplicaEpoch(self int32, meta *controller.Partition, epoch int32) int16 {
	switch {
	case !slices.Contains(meta.Replicas, self):
		return kerr.NotLeaderForPartition.Code
	case epoch < 0 || epoch == meta.LeaderEpoch:
		return 0
	case epoch < meta.LeaderEpoch:
		return kerr.FencedLeaderEpoch.Code
	default:
		return kerr.UnknownLeaderEpoch.Code
	}
}
