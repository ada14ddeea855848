// Package controller holds gregor's cluster metadata: the cluster ID, the
// registered brokers and their liveness, topics with their partitions,
// replica assignments, leaders and ISRs, topic-level configs, and the
// producer-ID high-water mark.
//
// Every mutation is validated against the current state, turned into a
// batch of records, and handed to one applier (applyLocked) that persists
// the result to bbolt and publishes a new immutable *Snapshot.
//
// Without Config.Voters (single node, zero config) the writer applies
// batches directly. With Voters every node runs hashicorp/raft (combined
// mode: every broker is a controller voter): the batches are Raft log
// entries, applyLocked is the state machine on every node, and only the
// leader (the active controller) accepts mutations; others return
// ErrNotController. Snapshot readers on any node see committed state.
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

	"github.com/hashicorp/raft"
	"github.com/rs/zerolog"
	bolt "go.etcd.io/bbolt"
)

// DefaultMaxPartitionsPerTopic caps the partition count of one topic when
// Config.MaxPartitionsPerTopic is 0, so one request cannot make the
// controller allocate without bound (Kafka caps one controller operation
// at 10000 records).
const DefaultMaxPartitionsPerTopic = 10000

// Config configures a Controller.
type Config struct {
	// NodeID is node.id: this node's broker ID and, with Voters, its
	// controller (Raft server) ID.
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

	// Voters is controller.quorum.voters (id@host:port, the CONTROLLER
	// listener of every voter). Empty: a single node that applies changes
	// directly, without Raft. Otherwise NodeID must be one of them.
	Voters []Voter
	// Observers are nodes that start outside the voter set: the voters
	// bootstrap them as non-voters (they replicate the metadata log but
	// do not vote) and a node listed here itself never bootstraps, it
	// waits for the leader to replicate to it (quorum.go). With Voters,
	// NodeID must be in exactly one of the two lists.
	Observers []Voter
	// RaftBind is the address the Raft transport listens on. Default:
	// this node's entry in Voters or Observers. Ignored with Transport.
	RaftBind string
	// RaftDir holds the Raft log (raft.db) and snapshots. Default
	// MetadataDir/raft.
	RaftDir string
	// Raft timing; zero values take the LAN defaults
	// DefaultHeartbeatTimeout and friends. Tests use a few ms.
	HeartbeatTimeout   time.Duration
	ElectionTimeout    time.Duration
	LeaderLeaseTimeout time.Duration
	CommitTimeout      time.Duration
	// SnapshotThreshold is how many log entries since the last snapshot
	// trigger a new one (0 = 8192); TrailingLogs how many entries a
	// snapshot leaves in the log (0 = 10240).
	SnapshotThreshold uint64
	TrailingLogs      uint64
	// RaftTLS, when set, runs the Raft transport over TLS (an SSL
	// controller listener). Ignored with Transport.
	RaftTLS *RaftTLS
	// RaftSASL, when set, logs every Raft connection in first (a
	// SASL_PLAINTEXT or SASL_SSL controller listener; raft_sasl.go).
	// Ignored with Transport.
	RaftSASL *RaftSASL
	// Transport replaces the TCP transport (tests pass
	// raft.NewInmemTransport). Raft closes it on Close.
	Transport raft.Transport
	// BrokerSessionTimeout is broker.session.timeout.ms: the active
	// controller fences a broker that sent no heartbeat for this long.
	// 0 means 9s.
	BrokerSessionTimeout time.Duration
	// Now is the clock for broker sessions (tests inject one). Default
	// time.Now.
	Now func() time.Time
	// Logger receives the controller's and Raft's log lines. The zero
	// value discards them.
	Logger zerolog.Logger

	// BootstrapScram are SCRAM credentials written together with the
	// cluster ID when the cluster is first created (the first
	// administrator, as `kafka-storage format --add-scram` does); ignored
	// once the cluster exists.
	BootstrapScram []ScramUpsertion

	// sessionCheckInterval is how often the active controller looks for
	// expired sessions; 0 = BrokerSessionTimeout/8 (tests shorten it).
	sessionCheckInterval time.Duration
}

// Voter is one entry of controller.quorum.voters.
type Voter struct {
	ID   int32
	Addr string // host:port of its Raft transport
}

// Raft timing defaults, tuned for a LAN.
const (
	DefaultHeartbeatTimeout     = 500 * time.Millisecond
	DefaultElectionTimeout      = 500 * time.Millisecond
	DefaultLeaderLeaseTimeout   = 250 * time.Millisecond
	DefaultCommitTimeout        = 50 * time.Millisecond
	DefaultBrokerSessionTimeout = 9 * time.Second
)

// Validate checks cfg and fills in the defaults its zero fields stand for
// (Open calls it).
func (cfg *Config) Validate() error {
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
	if cfg.BrokerSessionTimeout == 0 {
		cfg.BrokerSessionTimeout = DefaultBrokerSessionTimeout
	}
	if cfg.BrokerSessionTimeout < 0 {
		return fmt.Errorf("controller: broker.session.timeout.ms %v must be positive", cfg.BrokerSessionTimeout)
	}
	if cfg.sessionCheckInterval <= 0 {
		cfg.sessionCheckInterval = cfg.BrokerSessionTimeout / 8
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if err := cfg.validateBootstrapScram(); err != nil {
		return err
	}
	if len(cfg.Voters) == 0 {
		return nil
	}
	seen := map[int32]bool{}
	self := false
	for _, v := range slices.Concat(cfg.Voters, cfg.Observers) {
		if v.ID < 0 || seen[v.ID] {
			return fmt.Errorf("controller: controller.quorum.voters/observers: bad or duplicate id %d", v.ID)
		}
		seen[v.ID] = true
		if v.Addr == "" {
			return fmt.Errorf("controller: controller.quorum.voters/observers: node %d has no address", v.ID)
		}
		if v.ID == cfg.NodeID {
			self = true
			if cfg.RaftBind == "" {
				cfg.RaftBind = v.Addr
			}
		}
	}
	if !self {
		return fmt.Errorf("controller: node.id %d is not in controller.quorum.voters or controller.quorum.observers", cfg.NodeID)
	}
	if cfg.RaftDir == "" {
		cfg.RaftDir = filepath.Join(cfg.MetadataDir, "raft")
	}
	for _, d := range []*time.Duration{&cfg.HeartbeatTimeout, &cfg.ElectionTimeout, &cfg.LeaderLeaseTimeout, &cfg.CommitTimeout} {
		if *d < 0 {
			return fmt.Errorf("controller: negative raft timeout %v", *d)
		}
	}
	if cfg.HeartbeatTimeout == 0 {
		cfg.HeartbeatTimeout = DefaultHeartbeatTimeout
	}
	if cfg.ElectionTimeout == 0 {
		cfg.ElectionTimeout = DefaultElectionTimeout
	}
	if cfg.LeaderLeaseTimeout == 0 {
		cfg.LeaderLeaseTimeout = DefaultLeaderLeaseTimeout
	}
	if cfg.CommitTimeout == 0 {
		cfg.CommitTimeout = DefaultCommitTimeout
	}
	return nil
}

// Broker is a registered broker.
type Broker struct {
	NodeID int32   `json:"node_id"`
	Host   string  `json:"host"`
	Port   int32   `json:"port"`
	Rack   *string `json:"rack,omitempty"`
	// Fenced brokers (session expired or shut down) lead nothing, are
	// not added to ISRs and get no new replicas; Metadata should list
	// only unfenced brokers. Set by the controller; ignored by
	// RegisterBroker.
	Fenced bool `json:"fenced,omitempty"`
	// Epoch counts this broker's registrations that changed it (Kafka's
	// broker epoch). Set by the controller; ignored by RegisterBroker.
	Epoch int64 `json:"epoch,omitempty"`
	// Endpoints are the broker's advertised listeners by name (Host and
	// Port repeat the inter-broker one). Metadata answers a client with
	// the endpoint of the listener it connected to.
	Endpoints []Endpoint `json:"endpoints,omitempty"`
	// OfflineReplicas are the broker's replicas in a failed log dir
	// (dirs.go). Set by the controller; ignored (cleared) by
	// RegisterBroker.
	OfflineReplicas []Replica `json:"offline_replicas,omitempty"`
	// BrokerOnly is set for a node that runs only the broker role
	// (process.roles=broker): a Raft observer AddVoter refuses to make a
	// voter.
	BrokerOnly bool `json:"broker_only,omitempty"`
	// ControllerOnly is set for a node that runs only the controller role
	// (process.roles=controller). It registers so that brokers find its
	// Kafka listener when it is the active controller, but it hosts no
	// replicas (placement skips it, assignments naming it are refused) and
	// brokers never show it to clients.
	ControllerOnly bool `json:"controller_only,omitempty"`
}

// ServesClients reports whether clients may be told about b: a live node
// with the broker role.
func (b Broker) ServesClients() bool { return !b.Fenced && !b.ControllerOnly }

// Endpoint is one advertised listener of a broker.
type Endpoint struct {
	Name string `json:"name"`
	Host string `json:"host"`
	Port int32  `json:"port"`
}

// Endpoint returns the broker's advertised endpoint for listener name,
// falling back to Host and Port.
func (b Broker) Endpoint(name string) (host string, port int32) {
	for _, e := range b.Endpoints {
		if e.Name == name {
			return e.Host, e.Port
		}
	}
	return b.Host, b.Port
}

// Partition is one partition's assignment and leadership.
type Partition struct {
	Index          int32   `json:"index"`
	Leader         int32   `json:"leader"`
	LeaderEpoch    int32   `json:"leader_epoch"`
	PartitionEpoch int32   `json:"partition_epoch"`
	Replicas       []int32 `json:"replicas"`
	ISR            []int32 `json:"isr"`
	// AddingReplicas and RemovingReplicas are set while a reassignment
	// is in progress (reassign.go), as in Kafka's PartitionRecord:
	// Replicas is then the target replicas followed by the removing ones.
	AddingReplicas   []int32 `json:"adding_replicas,omitempty"`
	RemovingReplicas []int32 `json:"removing_replicas,omitempty"`
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

// ReplicationFactor is the replica count of the first partition not being
// reassigned (reassign.go); if all are, partition 0's target replica
// count. 0 with no partitions.
func (t *Topic) ReplicationFactor() int16 {
	if t == nil || len(t.Partitions) == 0 {
		return 0
	}
	for i := range t.Partitions {
		if p := &t.Partitions[i]; !p.Reassigning() {
			return int16(len(p.Replicas))
		}
	}
	p := &t.Partitions[0]
	return int16(len(p.Replicas) - len(p.RemovingReplicas))
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
	// Version increases with every applied record batch and every
	// ControllerID change (counted from 0 at each Open; not persisted).
	Version   int64
	ClusterID string // 22-char base64url of 16 random bytes
	// ControllerID is the active controller: NodeID without Voters, the
	// Raft leader with them (-1 while none is known).
	ControllerID int32
	Brokers      []Broker // sorted by NodeID
	// NextProducerID is the first producer ID not yet handed out by
	// AllocateProducerIDs.
	NextProducerID int64
	Topics         map[string]*Topic
	TopicsByID     map[[16]byte]*Topic

	// scram holds the SCRAM credentials (scram.go: ScramCredential,
	// ScramUsers).
	scram map[scramKey]ScramCredential

	// brokerConfigs holds the dynamic broker configs by broker id, the
	// cluster default under DefaultBrokerConfigs; brokerConfigsGen counts
	// their changes (brokerconfigs.go).
	brokerConfigs    map[int32]map[string]string
	brokerConfigsGen int64
	// clientMetrics holds the client-metrics subscriptions by name
	// (clientmetrics.go); clientMetricsGen counts their changes.
	clientMetrics    map[string]map[string]string
	clientMetricsGen int64
	// quotas holds the client quotas (quotas.go: ClientQuotas).
	quotas map[QuotaEntity]map[string]float64
	// acls holds the ACL bindings (acls.go: ACLs); nil means none.
	acls *ACLSet
	// features holds the finalized feature levels records set, the
	// defaults standing for the others; featuresEpoch counts their
	// changes (features.go: FeatureLevel, FeaturesEpoch).
	features      map[string]int16
	featuresEpoch int64
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

// Live reports whether broker id is registered and not fenced: only live
// brokers lead partitions, join ISRs and get new replicas.
func (s *Snapshot) Live(id int32) bool {
	b, ok := s.Broker(id)
	return ok && !b.Fenced
}

// Controller owns the cluster metadata.
//
// Lock order: wmu, then mu, then subMu; hbMu is taken alone. wmu
// serializes writers (validation, then commit: direct apply or a Raft
// round trip, so it is held across I/O on purpose: two writers must not
// validate against the same state). mu serializes appliers (the writer in
// single-node mode, the Raft FSM otherwise). Readers take neither.
type Controller struct {
	cfg  Config
	log  zerolog.Logger
	snap atomic.Pointer[Snapshot]

	wmu    sync.Mutex
	rotate int // next starting broker for replica assignment; wmu
	// barrierTerm is the Raft term in which this node, as leader, last
	// applied everything committed before it; wmu.
	barrierTerm uint64
	activeTerm  atomic.Uint64 // barrierTerm, for IsLeader

	mu      sync.Mutex
	db      *bolt.DB // nil once closed
	applied uint64   // Raft index of the last applied entry (0 without Raft)
	dbStale bool     // a persist failed: rewrite everything next time
	// onApply, if set (tests), sees every batch applied successfully.
	onApply func([]record)

	closed atomic.Bool
	raft   *raft.Raft   // nil without Voters
	rs     *raftRuntime // nil without Voters

	hbMu   sync.Mutex
	lastHB map[int32]time.Time // leader only: last heartbeat per broker

	subMu   sync.Mutex
	subs    map[uint64]chan struct{}
	nextSub uint64
}

// Open opens (creating if needed) the metadata store in cfg.MetadataDir
// and loads the state. Without Voters it generates the cluster ID the
// first time and is ready at once. With Voters it also starts Raft
// (bootstrapping the voter set on first start); the cluster ID is
// generated by the first leader, and mutations need the leader.
func Open(cfg Config) (*Controller, error) {
	if err := cfg.Validate(); err != nil {
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
	snap, applied, err := load(db, cfg.NodeID)
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	c := &Controller{
		cfg:     cfg,
		log:     cfg.Logger.With().Str("component", "controller").Int32("node", cfg.NodeID).Logger(),
		db:      db,
		applied: applied,
		lastHB:  map[int32]time.Time{},
		subs:    map[uint64]chan struct{}{},
	}
	var b [1]byte
	_, _ = rand.Read(b[:])
	c.rotate = int(b[0])
	if len(cfg.Voters) > 0 {
		snap.ControllerID = -1
		c.snap.Store(snap)
		if err := c.startRaft(); err != nil {
			_ = db.Close()
			return nil, err
		}
		return c, nil
	}
	c.snap.Store(snap)
	if snap.ClusterID == "" {
		c.mu.Lock()
		recs := append([]record{{Type: recClusterID, ClusterID: newClusterID()}}, cfg.bootstrapScramRecords()...)
		err := c.applyLocked(recs, 0)
		c.mu.Unlock()
		if err != nil {
			_ = db.Close()
			return nil, err
		}
	}
	return c, nil
}

// Close stops Raft (if any) and closes the metadata store. Later
// mutations return ErrClosed; Snapshot keeps returning the last state.
func (c *Controller) Close() error {
	var err error
	if !c.closed.Swap(true) && c.rs != nil {
		err = c.stopRaft()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.db == nil {
		return err
	}
	if cerr := c.db.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("controller: close: %w", cerr)
	}
	c.db = nil
	return err
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

// RegisterBroker adds or replaces a broker registration and unfences
// the broker (electing it leader of offline partitions whose last ISR
// member it is). Re-registering identical details of an unfenced broker
// is a no-op. Needs the active controller.
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
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.beginWriteLocked(); err != nil {
		return err
	}
	c.touchHeartbeat(b.NodeID)
	s := c.snap.Load()
	old, ok := s.Broker(b.NodeID)
	if ok && brokerEqual(old, b) && !old.Fenced {
		return nil
	}
	if b.Rack != nil {
		r := *b.Rack
		b.Rack = &r
	}
	b.Endpoints = append([]Endpoint(nil), b.Endpoints...)
	b.Fenced = false
	b.OfflineReplicas = nil
	b.Epoch = old.Epoch + 1
	recs := []record{{Type: recBroker, Broker: &b}}
	if ok && old.Fenced {
		recs = append(recs, unfenceElections(s, b.NodeID)...)
	}
	return c.commitLocked(recs)
}

func brokerEqual(a, b Broker) bool {
	if a.NodeID != b.NodeID || a.Host != b.Host || a.Port != b.Port || a.BrokerOnly != b.BrokerOnly || a.ControllerOnly != b.ControllerOnly || (a.Rack == nil) != (b.Rack == nil) || len(a.Endpoints) != len(b.Endpoints) {
		return false
	}
	for i := range a.Endpoints {
		if a.Endpoints[i] != b.Endpoints[i] {
			return false
		}
	}
	return a.Rack == nil || *a.Rack == *b.Rack
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
