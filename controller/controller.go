// Package controller holds gregor's cluster metadata: the cluster ID, the
// registered brokers, topics with their partitions and replica assignments,
// and topic-level configs.
//
// Every mutation is validated against the current state, turned into a
// batch of records, and handed to one writer (applyLocked) that persists
// the result to bbolt and publishes a new immutable *Snapshot. Today the
// writer runs on the single node; with a Raft quorum the same records
// become the replicated log entries and applyLocked the FSM.
//
// Readers call Snapshot() (an atomic load, never blocks) and must treat
// everything reachable from it as read-only.
package controller

import (
	"cmp"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
)

// DefaultMaxPartitionsPerTopic caps the partition count of one topic when
// Config.MaxPartitionsPerTopic is 0, so one request cannot make the
// controller allocate without bound (Kafka caps one controller operation
// at 10000 records).
const DefaultMaxPartitionsPerTopic = 10000

// Config configures a Controller.
type Config struct {
	// NodeID is this node's broker ID; it is also reported as ControllerID.
	NodeID int32
	// MetadataDir holds meta.db; created if missing.
	MetadataDir string
	// DefaultNumPartitions is num.partitions, used when CreateTopic asks
	// for -1 partitions. 0 means 1.
	DefaultNumPartitions int32
	// DefaultReplicationFactor is default.replication.factor, used when
	// CreateTopic asks for -1. 0 means 1.
	DefaultReplicationFactor int16
	// MaxPartitionsPerTopic bounds a topic's partition count. 0 means
	// DefaultMaxPartitionsPerTopic.
	MaxPartitionsPerTopic int32
}

func (cfg *Config) validate() error {
	if cfg.NodeID < 0 {
		return fmt.Errorf("controller: node id %d must be >= 0", cfg.NodeID)
	}
	if cfg.MetadataDir == "" {
		return errors.New("controller: metadata dir is required")
	}
	if cfg.DefaultNumPartitions == 0 {
		cfg.DefaultNumPartitions = 1
	}
	if cfg.DefaultNumPartitions < 0 {
		return fmt.Errorf("controller: num.partitions %d must be >= 1", cfg.DefaultNumPartitions)
	}
	if cfg.DefaultReplicationFactor == 0 {
		cfg.DefaultReplicationFactor = 1
	}
	if cfg.DefaultReplicationFactor < 0 {
		return fmt.Errorf("controller: default.replication.factor %d must be >= 1", cfg.DefaultReplicationFactor)
	}
	if cfg.MaxPartitionsPerTopic == 0 {
		cfg.MaxPartitionsPerTopic = DefaultMaxPartitionsPerTopic
	}
	if cfg.MaxPartitionsPerTopic < 0 {
		return fmt.Errorf("controller: max partitions per topic %d must be >= 1", cfg.MaxPartitionsPerTopic)
	}
	return nil
}

// Broker is a registered broker.
type Broker struct {
	NodeID int32   `json:"node_id"`
	Host   string  `json:"host"`
	Port   int32   `json:"port"`
	Rack   *string `json:"rack,omitempty"`
}

// Partition is one partition's assignment and leadership.
type Partition struct {
	Index          int32   `json:"index"`
	Leader         int32   `json:"leader"`
	LeaderEpoch    int32   `json:"leader_epoch"`
	PartitionEpoch int32   `json:"partition_epoch"`
	Replicas       []int32 `json:"replicas"`
	ISR            []int32 `json:"isr"`
}

// Topic is one topic. Reachable from a Snapshot, it is immutable.
type Topic struct {
	Name     string
	ID       [16]byte // random UUID v4, never all-zero
	Internal bool
	// Partitions is indexed by partition: Partitions[i].Index == i.
	Partitions []Partition
	// Configs holds only explicitly set topic configs (never nil).
	Configs map[string]string
}

// Partition returns partition p, or nil if out of range.
func (t *Topic) Partition(p int32) *Partition {
	if t == nil || p < 0 || int(p) >= len(t.Partitions) {
		return nil
	}
	return &t.Partitions[p]
}

// ConfigValue returns the topic's value for a topic config key: the
// explicitly set value (explicit = true), else Kafka's built-in default.
// Broker-level overrides of the default (log.retention.ms, ...) are the
// caller's to apply when explicit is false. ok is false for unknown keys.
func (t *Topic) ConfigValue(name string) (value string, explicit, ok bool) {
	if v, set := t.Configs[name]; set {
		return v, true, true
	}
	d, known := topicConfigDefs[name]
	return d.Default, false, known
}

// ReplicationFactor is the replica count of partition 0 (0 with no partitions).
func (t *Topic) ReplicationFactor() int16 {
	if t == nil || len(t.Partitions) == 0 {
		return 0
	}
	return int16(len(t.Partitions[0].Replicas))
}

// clone deep-copies the topic; partitions' slices are shared because a
// changed partition is replaced whole, never edited in place.
func (t *Topic) clone() *Topic {
	c := *t
	c.Partitions = slices.Clone(t.Partitions)
	c.Configs = maps.Clone(t.Configs)
	if c.Configs == nil {
		c.Configs = map[string]string{}
	}
	return &c
}

// Snapshot is an immutable view of the cluster metadata. Never modify
// anything reachable from it.
type Snapshot struct {
	// Version increases with every applied record batch (counted from 0 at
	// each Open; not persisted).
	Version      int64
	ClusterID    string // 22-char base64url of 16 random bytes
	ControllerID int32
	Brokers      []Broker // sorted by NodeID
	Topics       map[string]*Topic
	TopicsByID   map[[16]byte]*Topic
}

// Topic returns the named topic, or nil.
func (s *Snapshot) Topic(name string) *Topic { return s.Topics[name] }

// TopicByID returns the topic with the given ID, or nil.
func (s *Snapshot) TopicByID(id [16]byte) *Topic { return s.TopicsByID[id] }

// Broker returns the registered broker with the given node ID.
func (s *Snapshot) Broker(id int32) (Broker, bool) {
	i, ok := slices.BinarySearchFunc(s.Brokers, id, func(b Broker, id int32) int { return cmp.Compare(b.NodeID, id) })
	if !ok {
		return Broker{}, false
	}
	return s.Brokers[i], true
}

// TopicNames returns all topic names, sorted.
func (s *Snapshot) TopicNames() []string {
	return slices.Sorted(maps.Keys(s.Topics))
}

// Controller owns the cluster metadata.
//
// Lock order: mu, then subMu. mu serializes writers (validation + apply,
// including the bbolt write); readers never take it.
type Controller struct {
	cfg  Config
	snap atomic.Pointer[Snapshot]

	mu     sync.Mutex
	db     *bolt.DB // nil once closed
	rotate int      // next starting broker for replica assignment
	// onApply, if set (tests), sees every batch applied successfully.
	onApply func([]record)

	subMu   sync.Mutex
	subs    map[uint64]chan struct{}
	nextSub uint64
}

// Open opens (creating if needed) the metadata store in cfg.MetadataDir,
// loads the state and, the first time, generates the cluster ID.
func Open(cfg Config) (*Controller, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.MetadataDir, 0o755); err != nil {
		return nil, fmt.Errorf("controller: create metadata dir: %w", err)
	}
	path := filepath.Join(cfg.MetadataDir, "meta.db")
	db, err := bolt.Open(path, 0o644, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("controller: open %s: %w", path, err)
	}
	snap, err := load(db, cfg.NodeID)
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	c := &Controller{cfg: cfg, db: db, subs: map[uint64]chan struct{}{}}
	var b [1]byte
	_, _ = rand.Read(b[:])
	c.rotate = int(b[0])
	c.snap.Store(snap)
	if snap.ClusterID == "" {
		c.mu.Lock()
		err := c.applyLocked([]record{{Type: recClusterID, ClusterID: newClusterID()}})
		c.mu.Unlock()
		if err != nil {
			_ = db.Close()
			return nil, err
		}
	}
	return c, nil
}

// Close closes the metadata store. Later mutations return ErrClosed;
// Snapshot keeps returning the last state.
func (c *Controller) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.db == nil {
		return nil
	}
	err := c.db.Close()
	c.db = nil
	if err != nil {
		return fmt.Errorf("controller: close: %w", err)
	}
	return nil
}

// Snapshot returns the current immutable metadata.
func (c *Controller) Snapshot() *Snapshot { return c.snap.Load() }

// Subscribe returns a channel that receives a value after every change
// (buffered 1, coalescing: a slow reader sees one wakeup for many changes
// and should re-read Snapshot), and a function that unsubscribes.
func (c *Controller) Subscribe() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	c.subMu.Lock()
	id := c.nextSub
	c.nextSub++
	c.subs[id] = ch
	c.subMu.Unlock()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			c.subMu.Lock()
			delete(c.subs, id)
			c.subMu.Unlock()
		})
	}
}

func (c *Controller) notify() {
	c.subMu.Lock()
	defer c.subMu.Unlock()
	for _, ch := range c.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// RegisterBroker adds or replaces a broker registration. Re-registering
// identical details is a no-op.
func (c *Controller) RegisterBroker(b Broker) error {
	if b.NodeID < 0 {
		return fmt.Errorf("%w: node id %d must be >= 0", ErrInvalidBroker, b.NodeID)
	}
	if b.Host == "" {
		return fmt.Errorf("%w: broker %d has an empty host", ErrInvalidBroker, b.NodeID)
	}
	if b.Port < 0 || b.Port > 65535 {
		return fmt.Errorf("%w: broker %d port %d out of range", ErrInvalidBroker, b.NodeID, b.Port)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.snap.Load().Broker(b.NodeID); ok && brokerEqual(old, b) {
		return c.openLocked()
	}
	if b.Rack != nil {
		r := *b.Rack
		b.Rack = &r
	}
	return c.applyLocked([]record{{Type: recBroker, Broker: &b}})
}

func brokerEqual(a, b Broker) bool {
	if a.NodeID != b.NodeID || a.Host != b.Host || a.Port != b.Port || (a.Rack == nil) != (b.Rack == nil) {
		return false
	}
	return a.Rack == nil || *a.Rack == *b.Rack
}

// openLocked returns ErrClosed after Close. Lock mu must be held.
func (c *Controller) openLocked() error {
	if c.db == nil {
		return ErrClosed
	}
	return nil
}

// newUUID returns random UUID v4 bytes whose base64url form does not
// start with '-' (as Kafka's Uuid.randomUuid guarantees, so IDs are safe
// as command-line arguments). Never all-zero.
func newUUID() [16]byte {
	for {
		var u [16]byte
		_, _ = rand.Read(u[:]) // never fails (crypto/rand panics instead)
		u[6] = u[6]&0x0f | 0x40
		u[8] = u[8]&0x3f | 0x80
		// base64url of the first 6 bits: '-' is index 62 (0b111110).
		if u[0]>>2 == 62 {
			continue
		}
		return u
	}
}

func newClusterID() string {
	u := newUUID()
	return base64.RawURLEncoding.EncodeToString(u[:])
}
