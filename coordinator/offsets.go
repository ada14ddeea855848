package coordinator

// Committed offsets: OffsetCommit, OffsetFetch, OffsetDelete, expiry, and
// the group administration requests (DescribeGroups, ListGroups,
// DeleteGroups). Everything runs on the shard goroutine.

import (
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (g *group) setOffset(topic string, partition int32, e offsetEntry) {
	ps := g.offsets[topic]
	if ps == nil {
		ps = map[int32]offsetEntry{}
		g.offsets[topic] = ps
	}
	ps[partition] = e
}

func (g *group) deleteOffset(topic string, partition int32) {
	if ps := g.offsets[topic]; ps != nil {
		delete(ps, partition)
		if len(ps) == 0 {
			delete(g.offsets, topic)
		}
	}
}

// commitCheck validates the committer (Kafka's validateOffsetCommit for
// classic groups): a simple consumer (generation < 0, no member) may
// commit to an empty group; a member commits for its current generation,
// also while the group prepares a rebalance (commits on revoke), but not
// while it completes one.
func (g *group) commitCheck(req *kmsg.OffsetCommitRequest) int16 {
	if g == nil {
		if req.Generation >= 0 || req.MemberID != "" {
			return kerr.IllegalGeneration.Code
		}
		return 0
	}
	if g.cg != nil {
		return g.consumerCommitCheck(req.MemberID, req.Generation, req.Version, false)
	}
	if req.Generation < 0 && req.MemberID == "" && req.InstanceID == nil {
		if g.state == stateEmpty {
			return 0
		}
		return kerr.UnknownMemberID.Code
	}
	if g.state == stateEmpty && req.MemberID == "" {
		return kerr.IllegalGeneration.Code
	}
	m, code := g.validateMember(req.MemberID, req.InstanceID, req.Generation)
	if code != 0 {
		return code
	}
	if g.state == stateCompletingRebalance {
		return kerr.RebalanceInProgress.Code
	}
	g.touch(m)
	return 0
}

func (sh *shard) commit(req *kmsg.OffsetCommitRequest) *kmsg.OffsetCommitResponse {
	resp := req.ResponseKind().(*kmsg.OffsetCommitResponse)
	g := sh.groups[req.Group]
	code := int16(0)
	if req.Group == "" {
		code = kerr.InvalidGroupID.Code
	} else {
		code = g.commitCheck(req)
	}
	nowMs := sh.now().UnixMilli()
	exists := sh.c.cfg.PartitionExists
	var recs []kv
	type pending struct {
		topic string
		part  int32
		e     offsetEntry
		code  *int16
	}
	var applied []pending
	for _, rt := range req.Topics {
		st := kmsg.NewOffsetCommitResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		st.Partitions = make([]kmsg.OffsetCommitResponseTopicPartition, len(rt.Partitions))
		for i, rp := range rt.Partitions {
			sp := &st.Partitions[i]
			sp.Partition = rp.Partition
			md := ""
			if rp.Metadata != nil {
				md = *rp.Metadata
			}
			switch {
			case code != 0:
				sp.ErrorCode = code
			case req.Version >= 10 && rt.Topic == "":
				sp.ErrorCode = kerr.UnknownTopicID.Code
			case exists != nil && !exists(rt.Topic, rp.Partition):
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case len(md) > sh.c.cfg.MaxMetadataSize:
				sp.ErrorCode = kerr.OffsetMetadataTooLarge.Code
			default:
				e := offsetEntry{offset: rp.Offset, leaderEpoch: -1, metadata: md, commitMs: nowMs}
				if req.Version >= 6 {
					e.leaderEpoch = rp.LeaderEpoch
				}
				recs = append(recs, kv{offsetCommitKey(req.Group, rt.Topic, rp.Partition), offsetCommitValue(e)})
				applied = append(applied, pending{rt.Topic, rp.Partition, e, &sp.ErrorCode})
			}
		}
		resp.Topics = append(resp.Topics, st)
	}
	if len(recs) == 0 {
		return resp
	}
	base, err := sh.appendBatch(buildBatch(nowMs, recs))
	if err != nil {
		for _, a := range applied {
			*a.code = kerr.UnknownServerError.Code
		}
		return resp
	}
	if g == nil {
		g = newGroup(sh, req.Group)
		sh.groups[req.Group] = g
	}
	for i, a := range applied {
		a.e.logOffset = base + int64(i)
		g.setOffset(a.topic, a.part, a.e)
	}
	return resp
}

// TopicPartitions names partitions of a topic.
type TopicPartitions struct {
	Topic      string
	Partitions []int32
}

// FetchedTopic is one topic of an OffsetFetch answer.
type FetchedTopic struct {
	Topic      string
	Partitions []FetchedPartition
}

// FetchedPartition is a committed offset; Offset -1 when none is.
type FetchedPartition struct {
	Partition   int32
	Offset      int64
	LeaderEpoch int32
	Metadata    string
	ErrorCode   int16
}

// fetch returns the committed offsets of the given partitions, or of every
// committed partition when topics is nil.
func (sh *shard) fetch(group string, topics []TopicPartitions) []FetchedTopic {
	g := sh.groups[group]
	var out []FetchedTopic
	if topics == nil {
		if g == nil {
			return nil
		}
		names := make([]string, 0, len(g.offsets))
		for t := range g.offsets {
			names = append(names, t)
		}
		slices.Sort(names)
		for _, t := range names {
			ft := FetchedTopic{Topic: t}
			parts := make([]int32, 0, len(g.offsets[t]))
			for p := range g.offsets[t] {
				parts = append(parts, p)
			}
			slices.Sort(parts)
			for _, p := range parts {
				e := g.offsets[t][p]
				ft.Partitions = append(ft.Partitions, FetchedPartition{Partition: p, Offset: e.offset, LeaderEpoch: e.leaderEpoch, Metadata: e.metadata})
			}
			out = append(out, ft)
		}
		return out
	}
	for _, tp := range topics {
		ft := FetchedTopic{Topic: tp.Topic}
		for _, p := range tp.Partitions {
			fp := FetchedPartition{Partition: p, Offset: -1, LeaderEpoch: -1}
			if g != nil {
				if e, ok := g.offsets[tp.Topic][p]; ok {
					fp.Offset, fp.LeaderEpoch, fp.Metadata = e.offset, e.leaderEpoch, e.metadata
				}
			}
			ft.Partitions = append(ft.Partitions, fp)
		}
		out = append(out, ft)
	}
	return out
}

// subscribedTopics returns the topics the members of a "consumer" group
// subscribe to, or ok=false if the group's subscriptions cannot be read.
func (g *group) subscribedTopics() (map[string]bool, bool) {
	if g.cg != nil {
		topics := map[string]bool{}
		view := g.sh.c.topics()
		for _, m := range g.cg.members {
			for _, t := range g.resolvedTopics(m, view) {
				topics[t] = true
			}
		}
		return topics, true
	}
	if g.protocolType != "consumer" {
		return nil, false
	}
	topics := map[string]bool{}
	for _, m := range g.members {
		var md kmsg.ConsumerMemberMetadata
		if err := md.ReadFrom(m.metadataFor(g.protocol)); err != nil {
			return nil, false
		}
		for _, t := range md.Topics {
			topics[t] = true
		}
	}
	return topics, true
}

func (sh *shard) deleteOffsets(req *kmsg.OffsetDeleteRequest) *kmsg.OffsetDeleteResponse {
	resp := req.ResponseKind().(*kmsg.OffsetDeleteResponse)
	g := sh.groups[req.Group]
	if g == nil {
		resp.ErrorCode = kerr.GroupIDNotFound.Code
		return resp
	}
	var subscribed map[string]bool
	if g.state != stateEmpty {
		var ok bool
		if subscribed, ok = g.subscribedTopics(); !ok {
			resp.ErrorCode = kerr.NonEmptyGroup.Code
			return resp
		}
	}
	var recs []kv
	type del struct {
		topic string
		part  int32
	}
	var dels []del
	for _, rt := range req.Topics {
		st := kmsg.NewOffsetDeleteResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewOffsetDeleteResponseTopicPartition()
			sp.Partition = rp.Partition
			if subscribed[rt.Topic] {
				sp.ErrorCode = kerr.GroupSubscribedToTopic.Code
			} else if _, ok := g.offsets[rt.Topic][rp.Partition]; ok {
				recs = append(recs, kv{offsetCommitKey(g.id, rt.Topic, rp.Partition), nil})
				dels = append(dels, del{rt.Topic, rp.Partition})
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	if err := sh.write(recs); err != nil {
		resp.ErrorCode = kerr.UnknownServerError.Code
		resp.Topics = nil
		return resp
	}
	for _, d := range dels {
		g.deleteOffset(d.topic, d.part)
	}
	return resp
}

// expireOffsets drops offsets older than the retention of groups that are
// empty (Kafka 2.1+: the clock starts when the group empties, or at the
// commit for groups without a protocol), then empty groups with nothing
// left.
func (sh *shard) expireOffsets() {
	retention := sh.c.cfg.OffsetsRetention
	if retention <= 0 {
		return
	}
	nowMs := sh.now().UnixMilli()
	var recs []kv
	var drop []*group
	type del struct {
		g     *group
		topic string
		part  int32
	}
	var dels []del
	for _, g := range sh.groups {
		if g.state != stateEmpty {
			continue
		}
		for t, ps := range g.offsets {
			for p, e := range ps {
				base := e.commitMs
				if g.protocolType != "" {
					base = max(base, g.stateSince.UnixMilli())
				}
				if nowMs-base >= retention.Milliseconds() {
					recs = append(recs, kv{offsetCommitKey(g.id, t, p), nil})
					dels = append(dels, del{g, t, p})
				}
			}
		}
	}
	for _, d := range dels {
		d.g.deleteOffset(d.topic, d.part)
	}
	for _, g := range sh.groups {
		if g.state == stateEmpty && len(g.offsets) == 0 && len(g.pending) == 0 && !sh.hasPendingTxn(g.id, "", 0) {
			recs = append(recs, kv{groupMetadataKey(g.id), nil})
			if g.cg != nil {
				recs = append(recs, consumerTombstones(g.id)...)
			}
			drop = append(drop, g)
		}
	}
	if err := sh.write(recs); err != nil {
		return // retried at the next check; memory already dropped the offsets
	}
	for _, g := range drop {
		delete(sh.groups, g.id)
	}
}

// describe answers DescribeGroups for one group.
func (sh *shard) describe(id string, includeOps bool) kmsg.DescribeGroupsResponseGroup {
	d := kmsg.NewDescribeGroupsResponseGroup()
	d.Group = id
	d.AuthorizedOperations = -2147483648
	if includeOps {
		d.AuthorizedOperations = 1<<3 | 1<<6 | 1<<8 // READ, DELETE, DESCRIBE
	}
	g := sh.groups[id]
	if g == nil {
		d.State = stateDead.String()
		return d
	}
	if g.cg != nil {
		// Kafka: DescribeGroups describes classic groups only.
		d.State = stateDead.String()
		d.ErrorCode = kerr.GroupIDNotFound.Code
		d.ErrorMessage = kmsg.StringPtr("Group " + id + " is not a classic group.")
		return d
	}
	d.State = g.state.String()
	d.ProtocolType = g.protocolType
	if g.state == stateStable {
		d.Protocol = g.protocol
	}
	for _, m := range g.sortedMembers() {
		dm := kmsg.NewDescribeGroupsResponseGroupMember()
		dm.MemberID, dm.InstanceID, dm.ClientID, dm.ClientHost = m.id, m.instanceID, m.clientID, m.clientHost
		if g.state == stateStable {
			dm.ProtocolMetadata = m.metadataFor(g.protocol)
			dm.MemberAssignment = m.assignment
		}
		d.Members = append(d.Members, dm)
	}
	return d
}

// Listing is one ListGroups entry.
type Listing struct {
	Group        string
	ProtocolType string
	State        string
	Type         GroupType
}

func (sh *shard) list(states []string) []Listing {
	var out []Listing
	for _, g := range sh.groups {
		st, typ := g.state.String(), GroupTypeClassic
		if g.cg != nil {
			st, typ = g.consumerStateName(), GroupTypeConsumer
		}
		if len(states) > 0 && !slices.ContainsFunc(states, func(s string) bool { return strings.EqualFold(s, st) }) {
			continue
		}
		out = append(out, Listing{Group: g.id, ProtocolType: g.protocolType, State: st, Type: typ})
	}
	return out
}

// deleteGroup deletes an empty group and its offsets.
func (sh *shard) deleteGroup(id string) int16 {
	g := sh.groups[id]
	if g == nil {
		return kerr.GroupIDNotFound.Code
	}
	if g.state != stateEmpty || len(g.pending) > 0 || (g.cg != nil && len(g.cg.members) > 0) {
		return kerr.NonEmptyGroup.Code
	}
	var recs []kv
	for t, ps := range g.offsets {
		for p := range ps {
			recs = append(recs, kv{offsetCommitKey(id, t, p), nil})
		}
	}
	recs = append(recs, kv{groupMetadataKey(id), nil})
	if g.cg != nil {
		recs = append(recs, consumerTombstones(id)...)
	}
	if err := sh.write(recs); err != nil {
		return kerr.UnknownServerError.Code
	}
	g.stopAll()
	g.state = stateDead
	delete(sh.groups, id)
	return 0
}
