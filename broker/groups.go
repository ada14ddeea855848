package broker

// Glue between the broker and the group coordinator: the __consumer_offsets
// topic (created on first use, compacted, internal), loading its partitions
// this broker leads into the coordinator, and a coordinator.Log over a
// partition's storage.Log.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kerr"

	"gregor/controller"
	"gregor/coordinator"
	"gregor/storage"
)

type groups struct {
	coord     *coordinator.Coordinator
	n         int32 // offsets.topic.num.partitions
	rf        int16 // offsets.topic.replication.factor
	self      int32
	meta      metaView
	parts     *partitions
	creator   topicCreator
	log       zerolog.Logger
	ctx       context.Context // ends at shutdown
	clock     Clock
	commitTTL time.Duration // how long a commit waits for the ISR

	mu sync.Mutex // serializes creating the topic and loading partitions
}

// topicCreator creates topics (through the active controller).
type topicCreator interface {
	createTopic(controller.CreateTopic) (*controller.Topic, error)
}

// coordinatorConfig maps the broker's group keys to the coordinator's
// configuration.
func coordinatorConfig(gc GroupsConfig, meta metaView, clock Clock, log zerolog.Logger) coordinator.Config {
	cfg := coordinator.DefaultConfig()
	cfg.Partitions = gc.OffsetsTopicPartitions
	cfg.MinSessionTimeout = gc.MinSessionTimeout
	cfg.MaxSessionTimeout = gc.MaxSessionTimeout
	cfg.InitialRebalanceDelay = gc.InitialRebalanceDelay
	cfg.MaxGroupSize = gc.MaxSize
	cfg.OffsetsRetention = gc.OffsetsRetention
	cfg.RetentionCheckInterval = gc.OffsetsRetentionCheckInterval
	cfg.MaxMetadataSize = gc.OffsetMetadataMaxBytes
	cfg.Logger = log.With().Str("component", "coordinator").Logger()
	cfg.Clock = clock
	cfg.ConsumerAssignors = gc.Consumer.Assignors
	cfg.ConsumerHeartbeatInterval = gc.Consumer.HeartbeatInterval
	cfg.ConsumerSessionTimeout = gc.Consumer.SessionTimeout
	cfg.ConsumerMaxSize = gc.Consumer.MaxSize
	cfg.ConsumerMigrationPolicy = gc.Consumer.MigrationPolicy
	cfg.Topics = func() coordinator.Topics { return snapshotTopics{meta.Snapshot()} }
	cfg.PartitionExists = func(topic string, partition int32) bool {
		t := meta.Snapshot().Topic(topic)
		return t != nil && partition >= 0 && int(partition) < len(t.Partitions)
	}
	return cfg
}

// groupSummary describes a classic or consumer group for the console and
// metrics: state, protocol type, member count; ok false if neither kind
// knows it.
func groupSummary(ctx context.Context, coord *coordinator.Coordinator, name string) (state, protocolType string, members int, ok bool) {
	if d, err := coord.DescribeGroup(ctx, name, false); err == nil && d.ErrorCode == 0 {
		return d.State, d.ProtocolType, len(d.Members), true
	}
	if d, err := coord.ConsumerGroupDescribe(ctx, name, false); err == nil && d.ErrorCode == 0 {
		return d.State, "consumer", len(d.Members), true
	}
	return "", "", 0, false
}

// snapshotTopics is a controller snapshot as consumer groups see topics.
type snapshotTopics struct{ s *controller.Snapshot }

func (t snapshotTopics) Topic(name string) (coordinator.TopicInfo, bool) {
	tt := t.s.Topic(name)
	if tt == nil {
		return coordinator.TopicInfo{}, false
	}
	return coordinator.TopicInfo{ID: tt.ID, Partitions: int32(len(tt.Partitions))}, true
}

func (t snapshotTopics) TopicName(id [16]byte) (string, bool) {
	tt := t.s.TopicByID(id)
	if tt == nil {
		return "", false
	}
	return tt.Name, true
}

func (t snapshotTopics) Names() []string { return t.s.TopicNames() }

// newGroups returns the group coordinator of node self: coordinator
// configured by cfg, over the __consumer_offsets partitions in parts,
// creating that topic with creator (replication factor rf, capped by the
// live brokers) on first use.
func newGroups(cfg coordinator.Config, rf int16, self int32, meta metaView, parts *partitions, creator topicCreator,
	clock Clock, log zerolog.Logger, ctx context.Context) *groups {
	return &groups{coord: coordinator.New(cfg), n: cfg.Partitions, rf: rf, self: self, meta: meta, parts: parts, creator: creator,
		clock: clock, log: log, ctx: ctx, commitTTL: 5 * time.Second}
}

// start loads the partitions of an existing __consumer_offsets topic, so
// groups and offsets are back before the first client asks.
func (g *groups) start() {
	if g.meta.Snapshot().Topic(controller.ConsumerOffsetsTopic) != nil {
		if _, err := g.ensure(-1); err != nil {
			g.log.Error().Err(err).Msg("loading __consumer_offsets failed")
		}
	}
}

func (g *groups) close() { g.coord.Close() }

// ensure creates __consumer_offsets if it does not exist and loads the
// partitions this broker leads (only p when p >= 0). It returns the topic.
func (g *groups) ensure(p int32) (*controller.Topic, error) {
	t := g.meta.Snapshot().Topic(controller.ConsumerOffsetsTopic)
	if t != nil && p >= 0 && int(p) < len(t.Partitions) && (t.Partitions[p].Leader != g.self || g.coord.Loaded(p)) {
		return t, nil // fast path
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if t = g.meta.Snapshot().Topic(controller.ConsumerOffsetsTopic); t == nil {
		// offsets.topic.replication.factor, but no more than the live
		// brokers, so a single node needs no configuration.
		rf := g.rf
		live := int16(0)
		for _, b := range g.meta.Snapshot().Brokers {
			if b.ServesClients() {
				live++
			}
		}
		rf = max(1, min(rf, live))
		var err error
		t, err = g.creator.createTopic(controller.CreateTopic{
			Name:              controller.ConsumerOffsetsTopic,
			NumPartitions:     g.n,
			ReplicationFactor: rf,
			Configs:           map[string]string{"cleanup.policy": "compact", "compression.type": "producer", "segment.bytes": "104857600"},
			Internal:          true,
		})
		if errors.Is(err, controller.ErrTopicExists) {
			t, err = g.meta.Snapshot().Topic(controller.ConsumerOffsetsTopic), nil
		}
		if err != nil {
			return nil, fmt.Errorf("broker: create __consumer_offsets: %w", err)
		}
		g.log.Info().Int32("partitions", g.n).Msg("created __consumer_offsets")
	}
	if int32(len(t.Partitions)) != g.n {
		// Kafka requires offsets.topic.num.partitions to match the topic.
		return nil, fmt.Errorf("broker: __consumer_offsets has %d partitions, offsets.topic.num.partitions is %d", len(t.Partitions), g.n)
	}
	for i := range t.Partitions {
		if (p >= 0 && int32(i) != p) || t.Partitions[i].Leader != g.self || g.coord.Loaded(int32(i)) {
			continue
		}
		part, err := g.parts.get(t.Name, int32(i))
		if err != nil {
			return nil, err
		}
		g.loadPartition(int32(i), part)
	}
	return t, nil
}

// loadPartition makes the coordinator serve __consumer_offsets partition i,
// which this broker leads.
func (g *groups) loadPartition(i int32, p *partition) {
	g.coord.Load(i, &offsetsLog{p: p, meta: g.meta, self: g.self, ctx: g.ctx, clock: g.clock, timeout: g.commitTTL})
}

// unloadPartition stops the coordinator serving partition i, which this
// broker no longer leads.
func (g *groups) unloadPartition(i int32) { g.coord.Unload(i) }

// coordinatorFor returns the node coordinating key's group, or an error
// code (COORDINATOR_NOT_AVAILABLE while __consumer_offsets cannot be set up).
func (g *groups) coordinatorFor(key string, adv Listener) (node int32, host string, port int32, code int16) {
	p := g.coord.Partition(key)
	t, err := g.ensure(p)
	if err != nil {
		g.log.Warn().Err(err).Msg("__consumer_offsets unavailable")
		return -1, "", -1, kerr.CoordinatorNotAvailable.Code
	}
	leader := t.Partitions[p].Leader
	if leader == g.self {
		return leader, adv.Host, adv.Port, 0
	}
	b, ok := g.meta.Snapshot().Broker(leader)
	if !ok || b.Fenced {
		return -1, "", -1, kerr.CoordinatorNotAvailable.Code
	}
	host, port = b.Endpoint(adv.Name)
	return b.NodeID, host, port, 0
}

// prepare makes sure group's partition is loaded before a group request;
// an error leaves the coordinator answering NOT_COORDINATOR.
func (g *groups) prepare(group string) {
	if _, err := g.ensure(g.coord.Partition(group)); err != nil {
		g.log.Warn().Err(err).Msg("__consumer_offsets unavailable")
	}
}

// clientOf identifies r's client for group membership.
func clientOf(r *request) coordinator.Client {
	c := coordinator.Client{Host: "/"}
	if r.ClientID != nil {
		c.ID = *r.ClientID
	}
	if r.conn != nil && r.conn.nc != nil {
		if host, _, err := net.SplitHostPort(r.conn.nc.RemoteAddr().String()); err == nil {
			c.Host = "/" + host
		}
	}
	return c
}

// offsetsLog adapts a __consumer_offsets partition to coordinator.Log.
type offsetsLog struct {
	p       *partition
	meta    metaView
	self    int32
	ctx     context.Context // ends at shutdown
	clock   Clock
	timeout time.Duration // offsets.commit.timeout.ms
}

func (l *offsetsLog) Append(batch []byte) (int64, error) {
	epoch := int32(0)
	if t := l.meta.Snapshot().Topic(l.p.topic); t != nil && int(l.p.index) < len(t.Partitions) {
		epoch = t.Partitions[l.p.index].LeaderEpoch
	}
	res, err := l.p.log.Append(batch, epoch)
	if err != nil {
		return -1, err
	}
	l.p.wake()
	l.p.afterAppend(l.self)
	// A commit is acknowledged only once the ISR has it.
	ctx, cancel := withTimeout(l.ctx, l.clock, l.timeout)
	defer cancel()
	if code := l.p.waitHW(ctx, res.LastOffset+1, epoch); code != 0 {
		return -1, fmt.Errorf("broker: %s-%d append not replicated: %w", l.p.topic, l.p.index, kerr.ErrorForCode(code))
	}
	return res.BaseOffset, nil
}

func (l *offsetsLog) ReadAll(fn func([]byte) error) error {
	off := l.p.log.LogStartOffset()
	for {
		end := l.p.log.LogEndOffset()
		if off >= end {
			return nil
		}
		reg, err := l.p.log.Read(off, end, 1<<20, true)
		if err != nil {
			return err
		}
		b, err := reg.ReadAll()
		reg.Release()
		if err != nil {
			return err
		}
		next := off
		for rest := b; len(rest) >= storage.BatchHeaderSize; {
			h, err := storage.ParseBatchHeader(rest)
			if err != nil || h.Size() > int64(len(rest)) || h.Size() <= 0 {
				break
			}
			next = h.LastOffset() + 1
			rest = rest[h.Size():]
		}
		if next <= off {
			return nil // nothing readable past off
		}
		if err := fn(b); err != nil {
			return err
		}
		off = next
	}
}
