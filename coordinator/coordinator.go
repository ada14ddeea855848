// Package coordinator is the classic consumer group coordinator: group
// membership (JoinGroup, SyncGroup, Heartbeat, LeaveGroup), committed
// offsets, and their persistence in __consumer_offsets.
//
// Each loaded __consumer_offsets partition is a shard owned by one
// goroutine: requests are closures sent to it over a channel, so group
// state needs no locks. Writes go to the partition's Log before the
// request is answered; a shard rebuilds its groups by replaying its Log
// when it is loaded. There is no networking here and time comes from the
// injected Clock, so tests drive timeouts without sleeping.
package coordinator

import (
	"context"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"gregor/storage"
)

// Log is one __consumer_offsets partition as the coordinator sees it.
type Log interface {
	// Append writes one magic-2 record batch and returns its base offset
	// once it is durable as the broker defines it (then it is
	// acknowledged).
	Append(batch []byte) (baseOffset int64, err error)
	// ReadAll calls fn with the log's batches in order from the log start,
	// one or more whole batches per call.
	ReadAll(fn func(batches []byte) error) error
}

// Clock is the coordinator's time source.
type Clock interface {
	Now() time.Time
	// AfterFunc calls f in its own goroutine after d.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a scheduled AfterFunc call.
type Timer interface {
	Stop() bool
}

type realClock struct{}

func (realClock) Now() time.Time                            { return time.Now() }
func (realClock) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }

// Config configures a Coordinator. Kafka's broker key names in comments.
type Config struct {
	// Partitions is offsets.topic.num.partitions.
	Partitions int32
	// MinSessionTimeout / MaxSessionTimeout: group.min.session.timeout.ms
	// (6 s) / group.max.session.timeout.ms (30 min).
	MinSessionTimeout, MaxSessionTimeout time.Duration
	// InitialRebalanceDelay: group.initial.rebalance.delay.ms (3 s).
	InitialRebalanceDelay time.Duration
	// MaxGroupSize: group.max.size (unlimited by default).
	MaxGroupSize int
	// OffsetsRetention: offsets.retention.minutes (7 days); checked every
	// RetentionCheckInterval (offsets.retention.check.interval.ms, 10 min).
	OffsetsRetention       time.Duration
	RetentionCheckInterval time.Duration
	// MaxMetadataSize: offset.metadata.max.bytes (4096).
	MaxMetadataSize int
	// PartitionExists reports whether an offset may be committed for a
	// partition (nil: any).
	PartitionExists func(topic string, partition int32) bool
	// ConsumerAssignors: group.consumer.assignors (uniform, range), the
	// first is the default.
	ConsumerAssignors []string
	// ConsumerHeartbeatInterval / ConsumerSessionTimeout:
	// group.consumer.heartbeat.interval.ms (5 s) /
	// group.consumer.session.timeout.ms (45 s).
	ConsumerHeartbeatInterval, ConsumerSessionTimeout time.Duration
	// ConsumerMaxSize: group.consumer.max.size (0: unlimited).
	ConsumerMaxSize int
	// ConsumerMigrationPolicy: group.consumer.migration.policy, the online
	// conversions between classic and consumer groups with members
	// (disabled, upgrade, downgrade, bidirectional; "": bidirectional).
	ConsumerMigrationPolicy string
	// Topics returns the cluster's topics now (nil: none).
	Topics func() Topics
	// Clock defaults to the wall clock.
	Clock  Clock
	Logger zerolog.Logger
}

// DefaultConfig returns Kafka's defaults.
func DefaultConfig() Config {
	return Config{
		Partitions:                50,
		MinSessionTimeout:         6 * time.Second,
		MaxSessionTimeout:         30 * time.Minute,
		InitialRebalanceDelay:     3 * time.Second,
		MaxGroupSize:              1<<31 - 1,
		OffsetsRetention:          7 * 24 * time.Hour,
		RetentionCheckInterval:    10 * time.Minute,
		MaxMetadataSize:           4096,
		ConsumerAssignors:         []string{"uniform", "range"},
		ConsumerHeartbeatInterval: 5 * time.Second,
		ConsumerSessionTimeout:    45 * time.Second,
		ConsumerMigrationPolicy:   MigrationBidirectional,
		Logger:                    zerolog.Nop(),
	}
}

// Coordinator owns the groups of the __consumer_offsets partitions loaded
// into it.
type Coordinator struct {
	cfg   Config
	clock Clock
	log   zerolog.Logger

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	shards map[int32]*shard
}

// New returns a coordinator with no partitions loaded.
func New(cfg Config) *Coordinator {
	if cfg.Clock == nil {
		cfg.Clock = realClock{}
	}
	if cfg.Partitions <= 0 {
		cfg.Partitions = 50
	}
	if cfg.MaxGroupSize <= 0 {
		cfg.MaxGroupSize = 1<<31 - 1
	}
	if cfg.MaxMetadataSize <= 0 {
		cfg.MaxMetadataSize = 4096
	}
	if len(cfg.ConsumerAssignors) == 0 {
		cfg.ConsumerAssignors = []string{"uniform", "range"}
	}
	if cfg.ConsumerHeartbeatInterval <= 0 {
		cfg.ConsumerHeartbeatInterval = 5 * time.Second
	}
	if cfg.ConsumerSessionTimeout <= 0 {
		cfg.ConsumerSessionTimeout = 45 * time.Second
	}
	if cfg.RetentionCheckInterval <= 0 {
		cfg.RetentionCheckInterval = 10 * time.Minute
	}
	c := &Coordinator{cfg: cfg, clock: cfg.Clock, log: cfg.Logger, shards: map[int32]*shard{}}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	return c
}

// Partition returns the __consumer_offsets partition holding group.
func (c *Coordinator) Partition(group string) int32 { return PartitionFor(group, c.cfg.Partitions) }

// Load makes this coordinator own partition p, whose log is l: a shard
// goroutine replays l, then serves the partition's groups. Requests sent
// meanwhile wait for the replay. Loading a loaded partition does nothing.
func (c *Coordinator) Load(p int32, l Log) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ctx.Err() != nil || c.shards[p] != nil {
		return
	}
	sh := newShard(c, p, l)
	c.shards[p] = sh
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		sh.run()
	}()
}

// Loaded reports whether partition p is loaded.
func (c *Coordinator) Loaded(p int32) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.shards[p] != nil
}

// Unload stops serving partition p (its leadership moved, or its topic was
// deleted), failing requests waiting on it, and waits for its goroutine.
func (c *Coordinator) Unload(p int32) {
	c.mu.Lock()
	sh := c.shards[p]
	delete(c.shards, p)
	c.mu.Unlock()
	if sh != nil {
		sh.cancel()
		<-sh.done
	}
}

// Close unloads every partition and waits for the shard goroutines.
func (c *Coordinator) Close() {
	c.mu.Lock()
	c.cancel()
	c.shards = map[int32]*shard{}
	c.mu.Unlock()
	c.wg.Wait()
}

// topics returns the configured topic view.
func (c *Coordinator) topics() Topics {
	if c.cfg.Topics != nil {
		if t := c.cfg.Topics(); t != nil {
			return t
		}
	}
	return noTopics{}
}

type noTopics struct{}

func (noTopics) Topic(string) (TopicInfo, bool)    { return TopicInfo{}, false }
func (noTopics) TopicName([16]byte) (string, bool) { return "", false }
func (noTopics) Names() []string                   { return nil }

func (c *Coordinator) shardFor(group string) *shard {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.shards[c.Partition(group)]
}

func (c *Coordinator) allShards() []*shard {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]*shard, 0, len(c.shards))
	for _, sh := range c.shards {
		out = append(out, sh)
	}
	return out
}

// shard is one loaded __consumer_offsets partition. Everything below
// groups is owned by the run goroutine.
type shard struct {
	c    *Coordinator
	part int32
	log  Log
	mailbox

	groups map[string]*group
	retain Timer
	// txnOffsets are offsets committed inside ongoing transactions, by
	// producer id (txnoffsets.go).
	txnOffsets map[int64][]txnOffset
}

func newShard(c *Coordinator, p int32, l Log) *shard {
	return &shard{c: c, part: p, log: l, mailbox: newMailbox(c.ctx), groups: map[string]*group{}}
}

func (sh *shard) run() {
	defer close(sh.done)
	defer sh.shutdown()
	if err := sh.load(); err != nil {
		// A partition that cannot be read is not served: requests for its
		// groups fail until it is loaded again.
		sh.c.log.Error().Err(err).Int32("partition", sh.part).Msg("loading __consumer_offsets partition failed")
		sh.c.mu.Lock()
		if sh.c.shards[sh.part] == sh {
			delete(sh.c.shards, sh.part)
		}
		sh.c.mu.Unlock()
		return
	}
	sh.scheduleRetention()
	sh.serve()
}

// shutdown stops the shard's timers and answers its parked requests.
func (sh *shard) shutdown() {
	if sh.retain != nil {
		sh.retain.Stop()
	}
	for _, g := range sh.groups {
		g.stopAll()
	}
}

// after runs f on the shard goroutine after d.
func (sh *shard) after(d time.Duration, f func()) Timer {
	return sh.c.clock.AfterFunc(d, func() { sh.post(f) })
}

func (sh *shard) now() time.Time { return sh.c.clock.Now() }

// write appends recs as one batch.
func (sh *shard) write(recs []kv) error {
	if len(recs) == 0 {
		return nil
	}
	_, err := sh.appendBatch(buildBatch(sh.now().UnixMilli(), recs))
	return err
}

// appendBatch appends one encoded batch and returns its base offset.
func (sh *shard) appendBatch(b []byte) (int64, error) {
	base, err := sh.log.Append(b)
	if err != nil {
		sh.c.log.Error().Err(err).Int32("partition", sh.part).Msg("__consumer_offsets append failed")
	}
	return base, err
}

// load replays the log into groups. Records of transactional batches are
// pending offsets of their producer until its marker (txnoffsets.go).
func (sh *shard) load() error {
	err := sh.log.ReadAll(func(b []byte) error {
		return walkBatches(b, func(h storage.BatchHeader, commit bool) error {
			sh.endTxn(h.ProducerID, commit)
			return nil
		}, func(h storage.BatchHeader, offset int64, key, value []byte) error {
			r, err := decodeRecord(key, value)
			if err != nil {
				return err
			}
			if r.offset != nil && r.offset.value != nil {
				r.offset.value.logOffset = offset
			}
			if h.IsTransactional() && h.ProducerID >= 0 {
				sh.replayTxn(h.ProducerID, r)
				return nil
			}
			sh.apply(r)
			return nil
		})
	})
	if err != nil {
		return err
	}
	for _, g := range sh.groups {
		if g.cg != nil {
			g.consumerLoaded()
		} else {
			g.loaded()
		}
	}
	return nil
}

// apply replays one record.
func (sh *shard) apply(r record) {
	switch {
	case r.offset != nil:
		o := r.offset
		g := sh.groups[o.group]
		if o.value == nil {
			if g != nil {
				g.deleteOffset(o.topic, o.partition)
			}
			return
		}
		if g == nil {
			g = newGroup(sh, o.group)
			sh.groups[o.group] = g
		}
		g.setOffset(o.topic, o.partition, *o.value)
	case r.cg != nil:
		sh.applyConsumer(r.cg)
	case r.group != nil:
		if r.group.value == nil {
			if g := sh.groups[r.group.group]; g != nil && len(g.offsets) > 0 {
				// The group record goes (e.g. an upgrade to a consumer
				// group); its offsets stay.
				ng := newGroup(sh, g.id)
				ng.offsets = g.offsets
				sh.groups[g.id] = ng
				return
			}
			delete(sh.groups, r.group.group)
			return
		}
		g := sh.groups[r.group.group]
		if g == nil {
			g = newGroup(sh, r.group.group)
			sh.groups[r.group.group] = g
		}
		g.restore(r.group.value)
	}
}

// scheduleRetention runs the expired-offsets cleanup periodically.
func (sh *shard) scheduleRetention() {
	sh.retain = sh.after(sh.c.cfg.RetentionCheckInterval, func() {
		sh.expireOffsets()
		sh.scheduleRetention()
	})
}
