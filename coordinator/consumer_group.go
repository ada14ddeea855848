package coordinator

// KIP-848 consumer groups (ConsumerGroupHeartbeat), after Kafka's
// GroupMetadataManager, ConsumerGroup and CurrentAssignmentBuilder:
//
//   - the group epoch is bumped when a member joins or leaves, changes its
//     subscription, or the subscribed topics change (created, deleted,
//     partitions added);
//   - the server-side assignor computes the target assignment of the
//     group epoch (the target assignment epoch);
//   - each member converges to its target with its member epoch: partitions
//     it must give up are revoked first (the member keeps its epoch until a
//     heartbeat shows it no longer owns them, within its rebalance
//     timeout), partitions still owned by another member are given only
//     once that member released them.
//
// A consumer group lives in the same group map as classic groups (a group
// has one type) and shares their committed offsets. An empty classic group
// becomes a consumer group on its first ConsumerGroupHeartbeat, an empty
// consumer group becomes classic on its first JoinGroup; groups with
// members migrate online (consumer_migrate.go). Every method here runs on
// the shard goroutine. Membership is written to __consumer_offsets
// (consumer_records.go).

import (
	"crypto/rand"
	"encoding/base64"
	"hash/fnv"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TopicInfo is what a consumer group needs of a topic.
type TopicInfo struct {
	ID         [16]byte
	Partitions int32
}

// Topics is a consistent view of the cluster's topics.
type Topics interface {
	Topic(name string) (TopicInfo, bool)
	TopicName(id [16]byte) (string, bool)
	// Names returns every topic name (regex subscriptions match them).
	Names() []string
}

type reconcileState int8

const (
	memberStable reconcileState = iota
	// memberUnrevoked: the member must first give up partitions.
	memberUnrevoked
	// memberUnreleased: part of the member's target is still owned by
	// other members.
	memberUnreleased
)

func (s reconcileState) String() string {
	return [...]string{"stable", "unrevoked_partitions", "unreleased_partitions"}[s]
}

type cmember struct {
	id               string
	instanceID       *string
	rackID           *string
	clientID         string
	clientHost       string
	rebalanceTimeout time.Duration
	topics           []string // subscribed topic names, sorted
	regex            string   // subscribed_topic_regex ("" if none)
	assignor         string   // server_assignor the member asked for

	epoch, prevEpoch int32
	state            reconcileState
	assigned         map[string][]int32 // by topic name, ascending
	revoking         map[string][]int32
	// staticLeft: a static member left with epoch -2; its assignment is
	// kept for its replacement until its session expires.
	staticLeft bool
	changed    bool // the assignment changed since the last response

	// The member's records as last written (consumer_records.go).
	writtenMeta, writtenTarget, writtenCurrent []byte

	session    Timer
	sessionSeq uint64
	revoke     Timer
	revokeSeq  uint64

	// classic is set for a member of the classic protocol
	// (consumer_migrate.go), with its join and sync timers.
	classic   *classicMeta
	joinTimer Timer
	joinSeq   uint64
	syncTimer Timer
	syncSeq   uint64
}

type partKey struct {
	topic string
	part  int32
}

// consumerState is the KIP-848 part of a group of type consumer.
type consumerState struct {
	epoch       int32 // group epoch
	targetEpoch int32 // epoch of target
	target      Assignment
	assignor    string // assignor of the last target
	members     map[string]*cmember
	statics     map[string]string  // group.instance.id -> member id
	owners      map[partKey]string // partition -> member holding it (assigned or revoking)
	metaHash    int64              // hash of the subscribed topics' ids and partition counts at epoch
	regexes     map[string]*regexp.Regexp

	// Persistence (consumer_records.go): the group records as last
	// written, whether the target changed since, and members removed
	// since (their records get tombstones).
	written     struct{ group, target []byte }
	targetDirty bool
	removed     []string
}

func newConsumerState() *consumerState {
	return &consumerState{
		target: Assignment{}, members: map[string]*cmember{}, statics: map[string]string{},
		owners: map[partKey]string{}, regexes: map[string]*regexp.Regexp{},
	}
}

// consumerStateName is the group state Kafka reports for consumer groups.
func (g *group) consumerStateName() string {
	cg := g.cg
	switch {
	case len(cg.members) == 0:
		return "Empty"
	case cg.epoch > cg.targetEpoch:
		return "Assigning"
	}
	for _, m := range cg.members {
		if m.epoch != cg.targetEpoch || m.state != memberStable {
			return "Reconciling"
		}
	}
	return "Stable"
}

func newConsumerMemberID() string {
	var u [16]byte
	rand.Read(u[:])
	return base64.RawURLEncoding.EncodeToString(u[:])
}

func cgErr(resp *kmsg.ConsumerGroupHeartbeatResponse, code int16, msg string) *kmsg.ConsumerGroupHeartbeatResponse {
	resp.ErrorCode = code
	if msg != "" {
		resp.ErrorMessage = &msg
	}
	return resp
}

// consumerHeartbeat handles one ConsumerGroupHeartbeat.
func (sh *shard) consumerHeartbeat(req *kmsg.ConsumerGroupHeartbeatRequest, cl Client) *kmsg.ConsumerGroupHeartbeatResponse {
	cfg := &sh.c.cfg
	resp := req.ResponseKind().(*kmsg.ConsumerGroupHeartbeatResponse)
	switch {
	case req.Group == "":
		return cgErr(resp, kerr.InvalidRequest.Code, "GroupId can't be empty.")
	case req.InstanceID != nil && *req.InstanceID == "":
		return cgErr(resp, kerr.InvalidRequest.Code, "InstanceId can't be empty.")
	case req.RackID != nil && *req.RackID == "":
		return cgErr(resp, kerr.InvalidRequest.Code, "RackId can't be empty.")
	case req.MemberEpoch < -2:
		return cgErr(resp, kerr.InvalidRequest.Code, "MemberEpoch is invalid.")
	case req.MemberEpoch == -2 && req.InstanceID == nil:
		return cgErr(resp, kerr.InvalidRequest.Code, "InstanceId can't be null when MemberEpoch is -2.")
	case req.MemberID == "" && (req.Version >= 1 || req.MemberEpoch != 0):
		return cgErr(resp, kerr.InvalidRequest.Code, "MemberId can't be empty.")
	case req.MemberEpoch == 0 && req.RebalanceTimeoutMillis < 0:
		return cgErr(resp, kerr.InvalidRequest.Code, "RebalanceTimeoutMs must be provided in first request.")
	case req.MemberEpoch == 0 && len(req.Topics) > 0:
		return cgErr(resp, kerr.InvalidRequest.Code, "TopicPartitions must be empty when (re-)joining.")
	case req.MemberEpoch == 0 && req.SubscribedTopicNames == nil && req.SubscribedTopicRegex == nil:
		return cgErr(resp, kerr.InvalidRequest.Code, "SubscribedTopicNames or SubscribedTopicRegex must be set in first request.")
	case req.ServerAssignor != nil && !slices.Contains(cfg.ConsumerAssignors, *req.ServerAssignor):
		return cgErr(resp, kerr.UnsupportedAssignor.Code, "ServerAssignor "+*req.ServerAssignor+" is not supported.")
	}
	if req.SubscribedTopicRegex != nil && *req.SubscribedTopicRegex != "" {
		if _, err := regexp.Compile(*req.SubscribedTopicRegex); err != nil {
			return cgErr(resp, kerr.InvalidRegularExpression.Code, err.Error())
		}
	}
	g := sh.groups[req.Group]
	if g != nil && g.cg == nil {
		switch {
		case len(g.members) == 0 && g.state == stateEmpty:
			g.toConsumer()
		case req.MemberEpoch != 0:
			return cgErr(resp, kerr.GroupIDNotFound.Code, "Group "+req.Group+" is not a consumer group.")
		default:
			// Online upgrade (consumer_migrate.go).
			if code, msg := g.upgradeToConsumer(); code != 0 {
				return cgErr(resp, code, msg)
			}
		}
	}
	if g == nil {
		if req.MemberEpoch != 0 {
			if req.MemberEpoch < 0 {
				return cgErr(resp, kerr.UnknownMemberID.Code, "")
			}
			return cgErr(resp, kerr.GroupIDNotFound.Code, "Group "+req.Group+" not found.")
		}
		g = newGroup(sh, req.Group)
		g.toConsumer()
		sh.groups[req.Group] = g
	}
	if req.MemberEpoch < 0 {
		return g.consumerLeave(req, resp)
	}
	m, code, msg := g.consumerMember(req)
	if code != 0 {
		if len(g.cg.members) == 0 && len(g.offsets) == 0 && g.cg.epoch == 0 {
			delete(sh.groups, g.id)
		}
		return cgErr(resp, code, msg)
	}
	cg := g.cg
	m.clientID, m.clientHost = cl.ID, cl.Host
	if req.RackID != nil {
		m.rackID = req.RackID
	}
	if req.RebalanceTimeoutMillis >= 0 {
		m.rebalanceTimeout = time.Duration(req.RebalanceTimeoutMillis) * time.Millisecond
	}
	if req.ServerAssignor != nil {
		m.assignor = *req.ServerAssignor
	}
	bump := req.MemberEpoch == 0 && m.epoch == 0
	if req.SubscribedTopicNames != nil {
		ts := slices.Clone(req.SubscribedTopicNames)
		slices.Sort(ts)
		ts = slices.Compact(ts)
		if !slices.Equal(ts, m.topics) {
			m.topics, bump = ts, true
		}
	}
	if req.SubscribedTopicRegex != nil && *req.SubscribedTopicRegex != m.regex {
		m.regex, bump = *req.SubscribedTopicRegex, true
	}
	if h := g.subscriptionHash(); h != cg.metaHash {
		cg.metaHash, bump = h, true
	}
	if bump {
		cg.epoch++
	}
	g.touchConsumer(m)
	if cg.epoch > cg.targetEpoch {
		g.computeTarget()
	}
	owned, ownedKnown := g.ownedFromRequest(req)
	g.reconcile(m, owned, ownedKnown)
	if !g.flushConsumer() {
		return cgErr(resp, kerr.NotCoordinator.Code, "")
	}

	resp.MemberID = &m.id
	resp.MemberEpoch = m.epoch
	resp.HeartbeatIntervalMillis = int32(cfg.ConsumerHeartbeatInterval.Milliseconds())
	full := req.MemberEpoch == 0 || (req.Topics != nil && req.RebalanceTimeoutMillis >= 0 && (req.SubscribedTopicNames != nil || req.SubscribedTopicRegex != nil))
	if m.changed || full {
		m.changed = false
		a := &kmsg.ConsumerGroupHeartbeatResponseAssignment{Topics: []kmsg.ConsumerGroupHeartbeatResponseAssignmentTopic{}}
		topics := sh.c.topics()
		for _, t := range sortedKeys(m.assigned) {
			ti, ok := topics.Topic(t)
			if !ok {
				continue
			}
			at := kmsg.NewConsumerGroupHeartbeatResponseAssignmentTopic()
			at.TopicID, at.Partitions = ti.ID, slices.Clone(m.assigned[t])
			a.Topics = append(a.Topics, at)
		}
		resp.Assignment = a
	}
	return resp
}

// toConsumer makes an empty group a consumer group (its offsets stay).
func (g *group) toConsumer() {
	g.stopAll()
	g.pending = map[string]Timer{}
	g.cg = newConsumerState()
	g.protocolType = "consumer"
	g.protocol = ""
	g.leader = ""
	g.generation = 0
	g.setState(stateEmpty)
}

// consumerMember finds or creates the member a joining or heartbeating
// request is from.
func (g *group) consumerMember(req *kmsg.ConsumerGroupHeartbeatRequest) (*cmember, int16, string) {
	cg := g.cg
	m := cg.members[req.MemberID]
	if m != nil && m.classic != nil {
		return nil, kerr.UnknownMemberID.Code, "Member " + m.id + " uses the classic protocol."
	}
	if req.MemberEpoch > 0 {
		if m == nil || m.staticLeft {
			return nil, kerr.UnknownMemberID.Code, ""
		}
		if req.MemberEpoch != m.epoch {
			// Kafka lets a member that missed the response of its last
			// epoch bump go on if it owns no more than it is assigned.
			owned, known := g.ownedFromRequest(req)
			if req.MemberEpoch != m.prevEpoch || !known || !ownedWithin(owned, m.assigned) {
				return nil, kerr.FencedMemberEpoch.Code, "The consumer group member has a greater epoch than the request."
			}
		}
		if req.InstanceID != nil && (m.instanceID == nil || *m.instanceID != *req.InstanceID) {
			return nil, kerr.FencedInstanceID.Code, ""
		}
		return m, 0, ""
	}
	// Joining (epoch 0).
	if req.InstanceID != nil {
		if oldID, ok := cg.statics[*req.InstanceID]; ok && oldID != req.MemberID {
			old := cg.members[oldID]
			if old != nil && !old.staticLeft && old.classic == nil {
				return nil, kerr.UnreleasedInstanceID.Code, "Static member " + *req.InstanceID + " is still in use."
			}
			// A classic static member is replaced at once (Kafka's rule
			// when either side speaks the classic protocol).
			if old != nil {
				id := req.MemberID
				if id == "" {
					id = newConsumerMemberID()
				}
				m := g.replaceConsumerStatic(old, id, req.InstanceID)
				m.classic = nil
				return m, 0, ""
			}
		}
	}
	if m != nil {
		// A known member rejoining keeps its place and assignment; the
		// full response gives the assignment back.
		m.staticLeft = false
		return m, 0, ""
	}
	if cg.maxSizeReached(g.sh.c.cfg.ConsumerMaxSize) {
		return nil, kerr.GroupMaxSizeReached.Code, ""
	}
	id := req.MemberID
	if id == "" {
		id = newConsumerMemberID()
	}
	m = &cmember{id: id, instanceID: req.InstanceID, assigned: map[string][]int32{}, revoking: map[string][]int32{}}
	cg.members[id] = m
	if m.instanceID != nil {
		cg.statics[*m.instanceID] = id
	}
	g.setState(stateStable)
	return m, 0, ""
}

func (cg *consumerState) maxSizeReached(limit int) bool {
	return limit > 0 && len(cg.members) >= limit
}

// replaceConsumerStatic hands a static member's place (epoch, assignment, target)
// to the member rejoining with its instance id under member id id.
func (g *group) replaceConsumerStatic(old *cmember, id string, instanceID *string) *cmember {
	cg := g.cg
	g.stopConsumerTimers(old)
	m := &cmember{
		id: id, instanceID: instanceID, rackID: old.rackID, rebalanceTimeout: old.rebalanceTimeout,
		topics: old.topics, regex: old.regex, assignor: old.assignor,
		epoch: old.epoch, prevEpoch: old.prevEpoch, state: old.state,
		assigned: old.assigned, revoking: old.revoking, changed: true, classic: old.classic,
	}
	delete(cg.members, old.id)
	cg.removed = append(cg.removed, old.id)
	cg.members[id] = m
	cg.statics[*instanceID] = id
	if t, ok := cg.target[old.id]; ok {
		delete(cg.target, old.id)
		cg.target[id] = t
	}
	for k, owner := range cg.owners {
		if owner == old.id {
			cg.owners[k] = id
		}
	}
	if m.state == memberUnrevoked && m.classic == nil {
		g.startRevokeTimer(m)
	}
	return m
}

// consumerLeave handles epoch -1 (leave) and -2 (static member leaves
// for now).
func (g *group) consumerLeave(req *kmsg.ConsumerGroupHeartbeatRequest, resp *kmsg.ConsumerGroupHeartbeatResponse) *kmsg.ConsumerGroupHeartbeatResponse {
	cg := g.cg
	m := cg.members[req.MemberID]
	if m == nil && req.InstanceID != nil {
		m = cg.members[cg.statics[*req.InstanceID]]
	}
	if m == nil || m.classic != nil {
		return cgErr(resp, kerr.UnknownMemberID.Code, "")
	}
	if req.InstanceID != nil && (m.instanceID == nil || *m.instanceID != *req.InstanceID) {
		return cgErr(resp, kerr.FencedInstanceID.Code, "")
	}
	resp.MemberID = &req.MemberID
	resp.MemberEpoch = req.MemberEpoch
	ok := true
	if req.MemberEpoch == -2 {
		m.staticLeft = true
		g.touchConsumer(m)
		ok = g.flushConsumer()
	} else {
		ok = g.fenceConsumerMember(m, "leave")
	}
	if !ok {
		return cgErr(resp, kerr.NotCoordinator.Code, "")
	}
	return resp
}

// removeConsumerMember drops m, frees its partitions and bumps the group
// epoch.
func (g *group) removeConsumerMember(m *cmember, why string) {
	cg := g.cg
	if cg.members[m.id] != m {
		return
	}
	g.sh.c.log.Info().Str("group", g.id).Str("member", m.id).Str("reason", why).Msg("consumer group member removed")
	g.stopConsumerTimers(m)
	delete(cg.members, m.id)
	cg.removed = append(cg.removed, m.id)
	if m.instanceID != nil && cg.statics[*m.instanceID] == m.id {
		delete(cg.statics, *m.instanceID)
	}
	delete(cg.target, m.id)
	for k, owner := range cg.owners {
		if owner == m.id {
			delete(cg.owners, k)
		}
	}
	cg.epoch++
	if len(cg.members) == 0 {
		cg.targetEpoch = cg.epoch
		g.setState(stateEmpty)
	}
}

func (g *group) stopConsumerTimers(m *cmember) {
	m.sessionSeq++
	m.revokeSeq++
	m.joinSeq++
	m.syncSeq++
	for _, t := range []Timer{m.session, m.revoke, m.joinTimer, m.syncTimer} {
		if t != nil {
			t.Stop()
		}
	}
}

// touchConsumer restarts m's session timer (a classic member's own
// session timeout, else group.consumer.session.timeout.ms).
func (g *group) touchConsumer(m *cmember) {
	if m.session != nil {
		m.session.Stop()
	}
	m.sessionSeq++
	seq := m.sessionSeq
	timeout := g.sh.c.cfg.ConsumerSessionTimeout
	if m.classic != nil {
		timeout = m.classic.sessionTimeout
	}
	m.session = g.sh.after(timeout, func() {
		if g.cg != nil && g.cg.members[m.id] == m && m.sessionSeq == seq {
			g.fenceConsumerMember(m, "session expired")
		}
	})
}

// startRevokeTimer fences m if it has not revoked its partitions within
// its rebalance timeout.
func (g *group) startRevokeTimer(m *cmember) {
	if m.revoke != nil {
		m.revoke.Stop()
	}
	m.revokeSeq++
	seq := m.revokeSeq
	m.revoke = g.sh.after(m.rebalanceTimeout, func() {
		if g.cg != nil && g.cg.members[m.id] == m && m.revokeSeq == seq && m.state == memberUnrevoked {
			g.fenceConsumerMember(m, "rebalance timeout")
		}
	})
}

// resolvedTopics returns the existing topics m subscribes to.
func (g *group) resolvedTopics(m *cmember, topics Topics) []string {
	var out []string
	for _, t := range m.topics {
		if _, ok := topics.Topic(t); ok {
			out = append(out, t)
		}
	}
	if m.regex != "" {
		re := g.cg.regexes[m.regex]
		if re == nil {
			var err error
			// The broker matches the whole topic name (Kafka's RE2/J
			// matches()).
			if re, err = regexp.Compile("^(?:" + m.regex + ")$"); err != nil {
				return out
			}
			g.cg.regexes[m.regex] = re
		}
		for _, t := range topics.Names() {
			if _, ok := topics.Topic(t); ok && re.MatchString(t) {
				out = append(out, t)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// subscriptionHash hashes the subscribed topics as they are now: a change
// (topic created, deleted, partitions added) bumps the group epoch.
func (g *group) subscriptionHash() int64 {
	topics := g.sh.c.topics()
	set := map[string]bool{}
	for _, m := range g.cg.members {
		for _, t := range g.resolvedTopics(m, topics) {
			set[t] = true
		}
	}
	var b strings.Builder
	for _, t := range sortedKeys(set) {
		ti, _ := topics.Topic(t)
		b.WriteString(t)
		b.WriteByte(':')
		b.Write(ti.ID[:])
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(int(ti.Partitions)))
		b.WriteByte(';')
	}
	if b.Len() == 0 {
		return 0
	}
	h := fnv.New64a()
	h.Write([]byte(b.String()))
	return int64(h.Sum64())
}

// groupAssignor is the assignor members asked for most (ties: the
// configured order), else the first configured one.
func (g *group) groupAssignor() string {
	assignors := g.sh.c.cfg.ConsumerAssignors
	counts := map[string]int{}
	for _, m := range g.cg.members {
		if m.assignor != "" {
			counts[m.assignor]++
		}
	}
	best, n := "", 0
	for _, a := range assignors {
		if counts[a] > n {
			best, n = a, counts[a]
		}
	}
	if best == "" && len(assignors) > 0 {
		best = assignors[0]
	}
	return best
}

// computeTarget runs the assignor for the group epoch.
func (g *group) computeTarget() {
	cg := g.cg
	topics := g.sh.c.topics()
	partitions := map[string]int32{}
	ms := make([]AssignMember, 0, len(cg.members))
	for _, id := range sortedKeys(cg.members) {
		m := cg.members[id]
		ts := g.resolvedTopics(m, topics)
		for _, t := range ts {
			ti, _ := topics.Topic(t)
			partitions[t] = ti.Partitions
		}
		ms = append(ms, AssignMember{ID: id, Topics: ts, Current: cg.target[id]})
	}
	cg.assignor = g.groupAssignor()
	if cg.assignor == "range" {
		cg.target = AssignRange(ms, partitions)
	} else {
		cg.target = AssignUniform(ms, partitions)
	}
	cg.targetEpoch = cg.epoch
	cg.targetDirty = true
}

// ownedFromRequest returns the partitions a heartbeat says the member
// owns, by topic name; known is false if the request does not say.
func (g *group) ownedFromRequest(req *kmsg.ConsumerGroupHeartbeatRequest) (map[string][]int32, bool) {
	if req.Topics == nil {
		return nil, false
	}
	topics := g.sh.c.topics()
	out := map[string][]int32{}
	for _, t := range req.Topics {
		name, ok := topics.TopicName(t.TopicID)
		if !ok {
			continue
		}
		out[name] = append(out[name], t.Partitions...)
	}
	return out, true
}

// ownedWithin reports whether owned is a subset of assigned.
func ownedWithin(owned, assigned map[string][]int32) bool {
	for t, ps := range owned {
		for _, p := range ps {
			if !slices.Contains(assigned[t], p) {
				return false
			}
		}
	}
	return true
}

func ownsAny(owned, parts map[string][]int32) bool {
	for t, ps := range parts {
		for _, p := range ps {
			if slices.Contains(owned[t], p) {
				return true
			}
		}
	}
	return false
}

// reconcile moves m towards its target (Kafka's CurrentAssignmentBuilder).
func (g *group) reconcile(m *cmember, owned map[string][]int32, ownedKnown bool) {
	cg := g.cg
	switch m.state {
	case memberUnrevoked:
		if !ownedKnown || ownsAny(owned, m.revoking) {
			return
		}
		// The member released what it had to revoke.
		for t, ps := range m.revoking {
			for _, p := range ps {
				if cg.owners[partKey{t, p}] == m.id {
					delete(cg.owners, partKey{t, p})
				}
			}
		}
		m.revoking = map[string][]int32{}
		m.revokeSeq++
		g.nextAssignment(m)
	case memberStable:
		if m.epoch != cg.targetEpoch {
			g.nextAssignment(m)
		}
	case memberUnreleased:
		g.nextAssignment(m)
	}
}

// nextAssignment computes m's next step to its target: revoke what the
// target drops first; otherwise take the target's free partitions and the
// target epoch.
func (g *group) nextAssignment(m *cmember) {
	cg := g.cg
	target := cg.target[m.id]
	keep := map[string][]int32{}
	revoke := map[string][]int32{}
	for t, ps := range m.assigned {
		for _, p := range ps {
			if slices.Contains(target[t], p) {
				keep[t] = append(keep[t], p)
			} else {
				revoke[t] = append(revoke[t], p)
			}
		}
	}
	if len(revoke) > 0 {
		m.assigned, m.revoking = keep, revoke
		m.state = memberUnrevoked
		m.changed = true
		if m.classic == nil { // classic members have join and sync timers instead
			g.startRevokeTimer(m)
		}
		return
	}
	unreleased := false
	next := map[string][]int32{}
	for t, ps := range target {
		for _, p := range ps {
			owner, held := cg.owners[partKey{t, p}]
			switch {
			case !held || owner == m.id:
				cg.owners[partKey{t, p}] = m.id
				next[t] = append(next[t], p)
			default:
				unreleased = true
			}
		}
	}
	for t := range next {
		slices.Sort(next[t])
	}
	if !assignmentEqual(next, m.assigned) {
		m.changed = true
	}
	if m.epoch != cg.targetEpoch {
		m.prevEpoch, m.epoch = m.epoch, cg.targetEpoch
		m.changed = true
	}
	m.assigned = next
	m.state = memberStable
	if unreleased {
		m.state = memberUnreleased
	}
}

func assignmentEqual(a, b map[string][]int32) bool {
	if len(a) != len(b) {
		return false
	}
	for t, ps := range a {
		if !slices.Equal(ps, b[t]) {
			return false
		}
	}
	return true
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// consumerDescribe answers ConsumerGroupDescribe for one group.
func (sh *shard) consumerDescribe(id string, includeOps bool) kmsg.ConsumerGroupDescribeResponseGroup {
	d := kmsg.NewConsumerGroupDescribeResponseGroup()
	d.Group = id
	d.AuthorizedOperations = -2147483648
	if includeOps {
		d.AuthorizedOperations = 1<<3 | 1<<6 | 1<<8 // READ, DELETE, DESCRIBE
	}
	g := sh.groups[id]
	if g == nil || g.cg == nil {
		d.ErrorCode = kerr.GroupIDNotFound.Code
		msg := "Group " + id + " not found."
		if g != nil {
			msg = "Group " + id + " is not a consumer group."
		}
		d.ErrorMessage = &msg
		return d
	}
	cg := g.cg
	topics := sh.c.topics()
	d.State = g.consumerStateName()
	d.Epoch, d.AssignmentEpoch = cg.epoch, cg.targetEpoch
	d.AssignorName = cg.assignor
	if d.AssignorName == "" {
		d.AssignorName = g.groupAssignor()
	}
	toAssignment := func(a map[string][]int32) kmsg.Assignment {
		out := kmsg.NewAssignment()
		out.TopicPartitions = []kmsg.AssignmentTopicPartition{}
		for _, t := range sortedKeys(a) {
			ti, ok := topics.Topic(t)
			if !ok {
				continue
			}
			tp := kmsg.NewAssignmentTopicPartition()
			tp.TopicID, tp.Topic, tp.Partitions = ti.ID, t, slices.Clone(a[t])
			out.TopicPartitions = append(out.TopicPartitions, tp)
		}
		return out
	}
	for _, mid := range sortedKeys(cg.members) {
		m := cg.members[mid]
		dm := kmsg.NewConsumerGroupDescribeResponseGroupMember()
		dm.MemberID, dm.InstanceID, dm.RackID = m.id, m.instanceID, m.rackID
		dm.MemberEpoch = m.epoch
		dm.ClientID, dm.ClientHost = m.clientID, m.clientHost
		dm.SubscribedTopics = slices.Clone(m.topics)
		if dm.SubscribedTopics == nil {
			dm.SubscribedTopics = []string{}
		}
		if m.regex != "" {
			dm.SubscribedTopicRegex = &m.regex
		}
		dm.Assignment = toAssignment(m.assigned)
		dm.TargetAssignment = toAssignment(cg.target[m.id])
		dm.MemberType = 1 // consumer protocol
		if m.classic != nil {
			dm.MemberType = 0
		}
		d.Members = append(d.Members, dm)
	}
	return d
}

// consumerCommitCheck validates an OffsetCommit (or OffsetFetch) of a
// consumer group (Kafka's ConsumerGroup.validateOffsetCommit): a
// committer that is not a member (epoch < 0) may commit to an empty group;
// a member commits with its current member epoch.
func (g *group) consumerCommitCheck(memberID string, epoch int32, version int16, fetch bool) int16 {
	cg := g.cg
	if epoch < 0 && memberID == "" {
		if len(cg.members) == 0 || fetch {
			return 0
		}
		return kerr.UnknownMemberID.Code
	}
	m := cg.members[memberID]
	if m == nil {
		return kerr.UnknownMemberID.Code
	}
	if !fetch && version < 9 && m.classic == nil {
		return kerr.UnsupportedVersion.Code
	}
	if epoch != m.epoch {
		if m.classic != nil {
			return kerr.IllegalGeneration.Code // its generation is its member epoch
		}
		return kerr.StaleMemberEpoch.Code
	}
	return 0
}
