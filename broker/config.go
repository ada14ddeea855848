package broker

import (
	"bufio"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"gregor/controller"
	"gregor/storage/vfs"
)

// Listener is one entry of listeners / advertised.listeners:
// NAME://host:port.
type Listener struct {
	Name string
	Host string
	Port int32
}

func (l Listener) String() string {
	return l.Name + "://" + net.JoinHostPort(l.Host, strconv.Itoa(int(l.Port)))
}

// Config is the broker's configuration, one sub-struct per component.
// Every field is parsed once, by Load, from the key table configDefs
// (Kafka's key names, in the field comments); DefaultConfig gives a broker
// that runs with no file. Code reads the typed fields; the table's string
// values serve only DescribeConfigs and the broker defaults of topic
// configs (keys such as log.retention.ms, which have no field: topics
// resolve them as strings, with their own overrides).
type Config struct {
	NodeID int32 // node.id (broker.id)

	Socket      SocketConfig
	Limits      LimitsConfig
	Log         LogConfig
	Topics      TopicsConfig
	Groups      GroupsConfig
	Replication ReplicationConfig
	Cluster     ClusterConfig
	Security    SecurityConfig   // listeners' TLS and SASL (config_security.go)
	Txn         TxnConfig        // transactions (config_txn.go)
	Authz       AuthzConfig      // authorizer (config_authz.go)
	Quota       QuotaConfig      // client quotas (config_quota.go)
	HTTP        HTTPConfig       // metrics, health and console listener (config_http.go)
	ClusterOps  ClusterOpsConfig // reassignment throttles, dynamic configs, log dirs (config_cluster_ops.go)
	Telemetry   TelemetryConfig  // client telemetry, KIP-714 (config_telemetry.go)

	// values holds every known key's effective value as a string, and set
	// the keys given explicitly (file, env or flag): DescribeConfigs reports
	// them as STATIC_BROKER_CONFIG, the rest as DEFAULT_CONFIG.
	values map[string]string
	set    map[string]bool
}

// SocketConfig is the client-facing network side.
type SocketConfig struct {
	Listeners           []Listener    // listeners
	AdvertisedListeners []Listener    // advertised.listeners; default: listeners except the controller's
	RequestMaxBytes     int32         // socket.request.max.bytes
	QueuedMaxRequests   int           // queued.max.requests, per connection
	ConnectionsMaxIdle  time.Duration // connections.max.idle.ms
	RequestReadTimeout  time.Duration // socket.request.read.timeout.ms (gregor)
}

// LimitsConfig bounds what clients may hold or ask for.
type LimitsConfig struct {
	MaxConnections      int // max.connections
	MaxConnectionsPerIP int // max.connections.per.ip
	// MaxConnectionCreationRate is max.connection.creation.rate: new
	// connections a second on the client listeners; over it accepting
	// waits (Kafka's acceptor throttling, KIP-612).
	MaxConnectionCreationRate int
	MessageMaxBytes           int32 // message.max.bytes (also the topic default of max.message.bytes)
	FetchMaxBytes             int32 // fetch.max.bytes: cap on one Fetch response

	FetchSessionSlots       int           // max.incremental.fetch.session.cache.slots
	FetchSessionMinEviction time.Duration // min.incremental.fetch.session.eviction.ms

	DescribeTopicPartitionsMax int32 // max.request.partition.size.limit: partitions per DescribeTopicPartitions response
}

// LogConfig is the broker-wide side of log storage. The topic defaults
// (log.segment.bytes, log.retention.ms, ...) are resolved per topic.
type LogConfig struct {
	Dir                    string        // the first of log.dirs: also holds the metadata log (__cluster_metadata-0)
	Dirs                   []string      // log.dirs (log.dir): every log dir (JBOD, jbod.go); empty: just Dir
	FlushOnAppend          bool          // log.flush.on.append (gregor): fsync before acknowledging
	RetentionCheckInterval time.Duration // log.retention.check.interval.ms
	FlushSchedulerInterval time.Duration // log.flush.scheduler.interval.ms
	CleanerEnable          bool          // log.cleaner.enable
	CleanerBackoff         time.Duration // log.cleaner.backoff.ms
	FS                     vfs.FS        // filesystem the partition logs are opened through (no key; tests inject faults); nil: the operating system's
}

// TopicsConfig is how topics are created and deleted.
type TopicsConfig struct {
	AutoCreate               bool  // auto.create.topics.enable
	NumPartitions            int32 // num.partitions
	DefaultReplicationFactor int16 // default.replication.factor
	DeleteEnable             bool  // delete.topic.enable
}

// GroupsConfig is the group coordinator and __consumer_offsets.
type GroupsConfig struct {
	OffsetsTopicPartitions        int32               // offsets.topic.num.partitions
	OffsetsTopicReplicationFactor int16               // offsets.topic.replication.factor (capped by live brokers)
	MinSessionTimeout             time.Duration       // group.min.session.timeout.ms
	MaxSessionTimeout             time.Duration       // group.max.session.timeout.ms
	InitialRebalanceDelay         time.Duration       // group.initial.rebalance.delay.ms
	MaxSize                       int                 // group.max.size
	OffsetsRetention              time.Duration       // offsets.retention.minutes
	OffsetsRetentionCheckInterval time.Duration       // offsets.retention.check.interval.ms
	OffsetMetadataMaxBytes        int                 // offset.metadata.max.bytes
	Consumer                      ConsumerGroupConfig // group.consumer.* (KIP-848)
}

// ReplicationConfig is the follower side of replication and ISR upkeep.
type ReplicationConfig struct {
	LagTimeMax            time.Duration // replica.lag.time.max.ms
	FetchMaxBytes         int32         // replica.fetch.max.bytes, per partition
	FetchResponseMaxBytes int32         // replica.fetch.response.max.bytes
	FetchWaitMax          time.Duration // replica.fetch.wait.max.ms
	RackAwareReads        bool          // replica.selector.class is RackAwareReplicaSelector (fetch_rack.go)
}

// ClusterConfig is the controller quorum and this broker's place in it
// (combined broker+controller nodes, KRaft's key names).
type ClusterConfig struct {
	BrokerOnly              bool               // process.roles=broker (config_quorum.go)
	ControllerOnly          bool               // process.roles=controller (config_quorum.go)
	Voters                  []controller.Voter // controller.quorum.voters; none: a single node
	Observers               []controller.Voter // controller.quorum.observers (config_quorum.go)
	ControllerListener      string             // controller.listener.names (the raft transport)
	InterBrokerListener     string             // inter.broker.listener.name; default: the first client listener
	Rack                    *string            // broker.rack
	BrokerSessionTimeout    time.Duration      // broker.session.timeout.ms
	BrokerHeartbeatInterval time.Duration      // broker.heartbeat.interval.ms
	ShutdownTimeout         time.Duration      // controlled.shutdown.timeout.ms

	interBrokerProtocol string // security.inter.broker.protocol as given
}

// configDef describes one broker key: its default, its Kafka ConfigType
// name and how its value is parsed into Config.
type configDef struct {
	name  string
	alias bool   // fills in another key; applied first, only when set
	typ   string // Kafka's ConfigType name: boolean, string, int, long, short, list, double
	def   string
	doc   string
	apply func(c *Config, v string) error // v is trimmed; the error does not repeat the key
}

func parseInt(v string, min, max int64) (int64, error) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return 0, fmt.Errorf("not an integer: %q", v)
	}
	if err != nil || n < min || n > max {
		return 0, fmt.Errorf("%s is out of range [%d, %d]", v, min, max)
	}
	return n, nil
}

func intKey(name, def, doc string, min, max int64, set func(*Config, int64)) configDef {
	return configDef{name: name, typ: "int", def: def, doc: doc, apply: func(c *Config, v string) error {
		n, err := parseInt(v, min, max)
		if err == nil && set != nil {
			set(c, n)
		}
		return err
	}}
}

func longKey(name, def, doc string, min int64, set func(*Config, int64)) configDef {
	d := intKey(name, def, doc, min, math.MaxInt64, set)
	d.typ = "long"
	return d
}

// msKey is an int (or, with max math.MaxInt64, a long) key holding
// milliseconds.
func msKey(name, def, doc string, min, max int64, set func(*Config, time.Duration)) configDef {
	d := intKey(name, def, doc, min, max, func(c *Config, n int64) { set(c, scaled(n, time.Millisecond)) })
	if max > math.MaxInt32 {
		d.typ = "long"
	}
	return d
}

// scaled is n units as a Duration, saturating where a Duration cannot
// hold it (Kafka's Long.MAX_VALUE "forever").
func scaled(n int64, unit time.Duration) time.Duration {
	if n > int64(math.MaxInt64/unit) {
		return math.MaxInt64
	}
	return time.Duration(n) * unit
}

func boolKey(name, def, doc string, set func(*Config, bool)) configDef {
	return configDef{name: name, typ: "boolean", def: def, doc: doc, apply: func(c *Config, v string) error {
		// Kafka's boolean parsing: true or false, any case.
		switch strings.ToLower(v) {
		case "true":
			if set != nil {
				set(c, true)
			}
		case "false":
			if set != nil {
				set(c, false)
			}
		default:
			return fmt.Errorf("not true or false: %q", v)
		}
		return nil
	}}
}

func enumKey(name, def, doc string, allowed ...string) configDef {
	return configDef{name: name, typ: "string", def: def, doc: doc, apply: func(_ *Config, v string) error {
		if !slices.Contains(allowed, v) {
			return fmt.Errorf("%q is not one of %s", v, strings.Join(allowed, ", "))
		}
		return nil
	}}
}

// aliasKey is a coarser unit of another key (log.retention.hours for
// log.retention.ms): setting it sets the target in milliseconds, unless
// the target is set itself. A negative value sets the target to -1.
func aliasKey(name, target string, unit time.Duration, min int64, doc string) configDef {
	return configDef{name: name, alias: true, typ: "int", doc: doc, apply: func(c *Config, v string) error {
		n, err := parseInt(v, min, math.MaxInt32)
		if err != nil {
			return err
		}
		if !c.set[target] {
			if n < 0 {
				c.values[target] = "-1"
			} else {
				c.values[target] = strconv.FormatInt(n*unit.Milliseconds(), 10)
			}
			c.set[target] = true // configured, through its synonym
		}
		return nil
	}}
}

// splitList splits a comma-separated list, dropping empty entries.
func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// configDefs lists every broker key gregor understands, with its default
// (Kafka's, except where the doc says gregor's) and its parser. An unknown
// key is a start-up error.
// configDefs is the core keys below and each area's keys (declared in
// config_<area>.go next to the area's section of Config).
var configDefs = slices.Concat(coreConfigDefs, txnConfigDefs, securityConfigDefs, interBrokerConfigDefs, controllerSASLConfigDefs, tlsConfigDefs, saslConfigDefs, authzConfigDefs, quotaConfigDefs, httpConfigDefs, consumerGroupConfigDefs, clusterOpsConfigDefs, rackConfigDefs, telemetryConfigDefs, quorumConfigDefs)

var coreConfigDefs = []configDef{
	intKey("node.id", "1", "The node id of this broker.", 0, math.MaxInt32, func(c *Config, n int64) { c.NodeID = int32(n) }),
	{name: "broker.id", alias: true, typ: "int", doc: "Alias of node.id (ZooKeeper-era name).", apply: func(c *Config, v string) error {
		if _, err := parseInt(v, 0, math.MaxInt32); err != nil {
			return err
		}
		if !c.set["node.id"] {
			c.values["node.id"] = v
		}
		return nil
	}},
	{name: "listeners", typ: "list", def: "PLAINTEXT://localhost:9092", doc: "Listener URIs, NAME://host:port.", apply: func(c *Config, v string) error {
		ls, err := parseListeners(v)
		c.Socket.Listeners = ls
		return err
	}},
	{name: "advertised.listeners", typ: "list", def: "", doc: "Listener URIs given to clients; defaults to listeners.", apply: func(c *Config, v string) error {
		ls, err := parseListeners(v)
		c.Socket.AdvertisedListeners = ls
		return err
	}},
	{name: "log.dirs", typ: "list", def: "./data", doc: "Directories holding the log data; new partitions go to the one holding the fewest (the first also holds the metadata log).", apply: func(c *Config, v string) error {
		dirs, err := parseLogDirs(splitList(v))
		if err != nil {
			return err
		}
		c.Log.Dir, c.Log.Dirs = dirs[0], dirs
		return nil
	}},
	{name: "log.dir", alias: true, typ: "string", doc: "Used when log.dirs is not set.", apply: func(c *Config, v string) error {
		if !c.set["log.dirs"] {
			c.values["log.dirs"] = v
		}
		return nil
	}},
	boolKey("auto.create.topics.enable", "true", "Create a topic when a client asks for its metadata or produces to it.", func(c *Config, b bool) { c.Topics.AutoCreate = b }),
	intKey("num.partitions", "1", "Default partition count of new topics.", 1, 1<<20, func(c *Config, n int64) { c.Topics.NumPartitions = int32(n) }),
	intKey("default.replication.factor", "1", "Default replication factor of new topics.", 1, math.MaxInt16, func(c *Config, n int64) { c.Topics.DefaultReplicationFactor = int16(n) }),
	boolKey("delete.topic.enable", "true", "Allow DeleteTopics.", func(c *Config, b bool) { c.Topics.DeleteEnable = b }),
	intKey("message.max.bytes", "1048588", "Largest record batch size allowed (topic default of max.message.bytes).", 0, math.MaxInt32, func(c *Config, n int64) { c.Limits.MessageMaxBytes = int32(n) }),
	intKey("socket.request.max.bytes", "104857600", "Largest request frame accepted; larger ones close the connection.", 1, math.MaxInt32, func(c *Config, n int64) { c.Socket.RequestMaxBytes = int32(n) }),
	intKey("queued.max.requests", "500", "Requests a connection may have in flight before the broker stops reading from it.", 1, 1<<20, func(c *Config, n int64) { c.Socket.QueuedMaxRequests = int(n) }),
	msKey("connections.max.idle.ms", "600000", "Idle connections are closed after this many milliseconds.", 1, math.MaxInt64, func(c *Config, d time.Duration) { c.Socket.ConnectionsMaxIdle = d }),
	msKey("socket.request.read.timeout.ms", "30000", "gregor: a request's body must arrive within this many milliseconds of its size prefix.", 1, math.MaxInt64, func(c *Config, d time.Duration) { c.Socket.RequestReadTimeout = d }),
	intKey("max.connections", "2147483647", "Connections the broker accepts at once; more are closed at accept.", 1, math.MaxInt32, func(c *Config, n int64) { c.Limits.MaxConnections = int(n) }),
	intKey("max.connections.per.ip", "2147483647", "Connections one client address may hold at once; more are closed at accept.", 1, math.MaxInt32, func(c *Config, n int64) { c.Limits.MaxConnectionsPerIP = int(n) }),
	intKey("max.connection.creation.rate", "2147483647", "New connections a second the client listeners accept; over it accepting waits.", 0, math.MaxInt32, func(c *Config, n int64) { c.Limits.MaxConnectionCreationRate = int(n) }),
	intKey("max.incremental.fetch.session.cache.slots", "1000", "Incremental fetch sessions (KIP-227) the broker keeps; 0 declines sessions.", 0, math.MaxInt32, func(c *Config, n int64) { c.Limits.FetchSessionSlots = int(n) }),
	msKey("min.incremental.fetch.session.eviction.ms", "120000", "A fetch session unused this long may be evicted for a new one; younger sessions only by a more valuable one once this old.", 0, math.MaxInt32, func(c *Config, d time.Duration) { c.Limits.FetchSessionMinEviction = d }),
	intKey("max.request.partition.size.limit", "2000", "Most partitions one DescribeTopicPartitions response carries; a client may ask for fewer.", 1, math.MaxInt32, func(c *Config, n int64) { c.Limits.DescribeTopicPartitionsMax = int32(n) }),
	intKey("fetch.max.bytes", "57671680", "Largest Fetch response the broker builds.", 1024, math.MaxInt32, func(c *Config, n int64) { c.Limits.FetchMaxBytes = int32(n) }),
	{name: "process.roles", typ: "list", def: "broker,controller", doc: "Roles of this node: broker,controller (a combined node: a broker and, with controller.quorum.voters, a controller voter), broker (a broker-only node: a Raft observer, listed in controller.quorum.observers, never a voter) or controller (a controller-only node: a voter in controller.quorum.voters that hosts no partitions, is never shown to clients, and serves only the controller APIs on its inter-broker listener).", apply: func(c *Config, v string) error {
		roles, err := parseRoles(v)
		c.Cluster.BrokerOnly = roles == "broker"
		c.Cluster.ControllerOnly = roles == "controller"
		return err
	}},
	{name: "controller.quorum.voters", typ: "list", def: "", doc: "The controller quorum, id@host:port of each voter's CONTROLLER listener; empty for a single node.", apply: func(c *Config, v string) error {
		vs, err := parseVoters(v)
		c.Cluster.Voters = vs
		return err
	}},
	{name: "controller.listener.names", typ: "list", def: "CONTROLLER", doc: "The listener the controller quorum (Raft) uses; it serves no Kafka clients.", apply: func(c *Config, v string) error {
		names := splitList(v)
		switch {
		case len(names) == 0:
			return fmt.Errorf("must name a listener")
		case len(names) > 1:
			return fmt.Errorf("several controller listeners are not supported yet (got %d)", len(names))
		}
		c.Cluster.ControllerListener = names[0]
		return nil
	}},
	{name: "inter.broker.listener.name", typ: "string", def: "", doc: "The listener brokers use to reach each other; default: the first non-controller listener.", apply: func(c *Config, v string) error {
		c.Cluster.InterBrokerListener = v
		return nil
	}},
	{name: "broker.rack", typ: "string", def: "", doc: "Rack of this broker, for rack-aware replica placement.", apply: func(c *Config, v string) error {
		if v != "" {
			c.Cluster.Rack = &v
		}
		return nil
	}},
	msKey("broker.session.timeout.ms", "9000", "The controller fences a broker that sent no heartbeat for this long.", 1, math.MaxInt32, func(c *Config, d time.Duration) { c.Cluster.BrokerSessionTimeout = d }),
	msKey("broker.heartbeat.interval.ms", "2000", "How often a broker heartbeats to the controller.", 1, math.MaxInt32, func(c *Config, d time.Duration) { c.Cluster.BrokerHeartbeatInterval = d }),
	msKey("controlled.shutdown.timeout.ms", "30000", "gregor: how long shutdown waits for in-flight requests and for leadership to move away.", 0, math.MaxInt64, func(c *Config, d time.Duration) { c.Cluster.ShutdownTimeout = d }),
	msKey("replica.lag.time.max.ms", "30000", "A follower that has not caught up for this long leaves the ISR.", 1, math.MaxInt64, func(c *Config, d time.Duration) { c.Replication.LagTimeMax = d }),
	intKey("replica.fetch.max.bytes", "1048576", "Bytes a follower fetches per partition (at least one batch).", 1, math.MaxInt32, func(c *Config, n int64) { c.Replication.FetchMaxBytes = int32(n) }),
	intKey("replica.fetch.response.max.bytes", "10485760", "Bytes a follower fetch returns in all.", 1, math.MaxInt32, func(c *Config, n int64) { c.Replication.FetchResponseMaxBytes = int32(n) }),
	msKey("replica.fetch.wait.max.ms", "500", "How long a follower fetch waits for data at the leader.", 0, math.MaxInt32, func(c *Config, d time.Duration) { c.Replication.FetchWaitMax = d }),
	intKey("min.insync.replicas", "1", "Topic default of min.insync.replicas.", 1, math.MaxInt32, nil),
	intKey("log.segment.bytes", "1073741824", "Topic default of segment.bytes.", 14, math.MaxInt32, nil),
	longKey("log.roll.ms", "604800000", "Topic default of segment.ms.", 1, nil),
	aliasKey("log.roll.hours", "log.roll.ms", time.Hour, 1, "Topic default of segment.ms, in hours."),
	longKey("log.retention.ms", "604800000", "Topic default of retention.ms (-1: forever).", -1, nil),
	aliasKey("log.retention.minutes", "log.retention.ms", time.Minute, math.MinInt32, "Topic default of retention.ms, in minutes."),
	aliasKey("log.retention.hours", "log.retention.ms", time.Hour, math.MinInt32, "Topic default of retention.ms, in hours."),
	longKey("log.retention.bytes", "-1", "Topic default of retention.bytes (-1: no limit).", math.MinInt64, nil),
	intKey("log.index.interval.bytes", "4096", "Topic default of index.interval.bytes.", 0, math.MaxInt32, nil),
	intKey("log.index.size.max.bytes", "10485760", "Topic default of segment.index.bytes.", 4, math.MaxInt32, nil),
	longKey("log.flush.interval.messages", "9223372036854775807", "Topic default of flush.messages.", 1, nil),
	longKey("log.flush.interval.ms", "9223372036854775807", "Topic default of flush.ms.", 0, nil),
	boolKey("log.flush.on.append", "false", "gregor: fsync every append before acknowledging it.", func(c *Config, b bool) { c.Log.FlushOnAppend = b }),
	enumKey("log.message.timestamp.type", "CreateTime", "Topic default of message.timestamp.type.", "CreateTime", "LogAppendTime"),
	{name: "log.cleanup.policy", typ: "list", def: "delete", doc: "Topic default of cleanup.policy.", apply: func(_ *Config, v string) error {
		for _, p := range splitList(v) {
			if p != "delete" && p != "compact" {
				return fmt.Errorf("%q is not delete or compact", p)
			}
		}
		return nil
	}},
	enumKey("compression.type", "producer", "Topic default of compression.type.", "producer", "uncompressed", "gzip", "snappy", "lz4", "zstd"),
	boolKey("unclean.leader.election.enable", "false", "Topic default of unclean.leader.election.enable.", nil),
	longKey("log.cleaner.delete.retention.ms", "86400000", "Topic default of delete.retention.ms.", 0, nil),
	{name: "log.cleaner.min.cleanable.ratio", typ: "double", def: "0.5", doc: "Topic default of min.cleanable.dirty.ratio.", apply: func(_ *Config, v string) error {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return fmt.Errorf("not a number: %q", v)
		}
		if f < 0 || f > 1 {
			return fmt.Errorf("%s is out of range [0, 1]", v)
		}
		return nil
	}},
	longKey("log.cleaner.min.compaction.lag.ms", "0", "Topic default of min.compaction.lag.ms.", 0, nil),
	longKey("log.cleaner.max.compaction.lag.ms", "9223372036854775807", "Topic default of max.compaction.lag.ms.", 1, nil),
	longKey("log.segment.delete.delay.ms", "60000", "Topic default of file.delete.delay.ms.", 0, nil),
	msKey("log.retention.check.interval.ms", "60000", "How often the broker deletes the segments retention allows (gregor's default is 1 minute; Kafka's is 5).", 1, math.MaxInt64, func(c *Config, d time.Duration) { c.Log.RetentionCheckInterval = d }),
	msKey("log.flush.scheduler.interval.ms", "1000", "How often the background flusher applies flush.ms (gregor's default; Kafka's never checks).", 1, math.MaxInt64, func(c *Config, d time.Duration) { c.Log.FlushSchedulerInterval = d }),
	boolKey("log.cleaner.enable", "true", "Run the log cleaner, which compacts topics with cleanup.policy compact.", func(c *Config, b bool) { c.Log.CleanerEnable = b }),
	msKey("log.cleaner.backoff.ms", "15000", "How often the log cleaner looks for logs to compact.", 1, math.MaxInt64, func(c *Config, d time.Duration) { c.Log.CleanerBackoff = d }),
	boolKey("log.preallocate", "false", "Topic default of preallocate.", nil),
	intKey("offsets.topic.num.partitions", "50", "Partitions of __consumer_offsets.", 1, 1<<16, func(c *Config, n int64) { c.Groups.OffsetsTopicPartitions = int32(n) }),
	intKey("offsets.topic.replication.factor", "1", "Replication factor of __consumer_offsets, at most the live brokers (gregor's default; Kafka's is 3).", 1, math.MaxInt16, func(c *Config, n int64) { c.Groups.OffsetsTopicReplicationFactor = int16(n) }),
	msKey("group.min.session.timeout.ms", "6000", "Smallest session timeout a group member may ask for.", 0, math.MaxInt32, func(c *Config, d time.Duration) { c.Groups.MinSessionTimeout = d }),
	msKey("group.max.session.timeout.ms", "1800000", "Largest session timeout a group member may ask for.", 0, math.MaxInt32, func(c *Config, d time.Duration) { c.Groups.MaxSessionTimeout = d }),
	msKey("group.initial.rebalance.delay.ms", "3000", "How long an empty group's first rebalance waits for more members.", 0, math.MaxInt32, func(c *Config, d time.Duration) { c.Groups.InitialRebalanceDelay = d }),
	intKey("group.max.size", "2147483647", "Most members a consumer group may have.", 1, math.MaxInt32, func(c *Config, n int64) { c.Groups.MaxSize = int(n) }),
	intKey("offsets.retention.minutes", "10080", "Committed offsets of empty groups are deleted after this many minutes.", 1, math.MaxInt32, func(c *Config, n int64) { c.Groups.OffsetsRetention = scaled(n, time.Minute) }),
	msKey("offsets.retention.check.interval.ms", "600000", "How often expired offsets are looked for.", 1, math.MaxInt64, func(c *Config, d time.Duration) { c.Groups.OffsetsRetentionCheckInterval = d }),
	intKey("offset.metadata.max.bytes", "4096", "Largest metadata string of an offset commit.", 0, math.MaxInt32, func(c *Config, n int64) { c.Groups.OffsetMetadataMaxBytes = int(n) }),
}

func configDefByName(name string) (configDef, bool) {
	for _, d := range configDefs {
		if d.name == name {
			return d, true
		}
	}
	return configDef{}, false
}

// DefaultConfig returns the configuration of a broker started with no file.
func DefaultConfig() Config {
	c, err := build(nil)
	if err != nil {
		panic(err) // the table's defaults are constants; config_test checks them
	}
	return c
}

// Load builds a Config from a Java properties file (path may be empty), then
// environment variables GREGOR_<KEY> (dots as underscores, upper case, e.g.
// GREGOR_LOG_DIRS), then key=value overrides, later sources winning.
// An unknown key, a value that does not parse or is out of range, and a
// setting gregor does not support are errors naming the key.
func Load(path string, environ []string, overrides []string) (Config, error) {
	var kvs [][2]string
	if path != "" {
		f, err := os.Open(path)
		if err != nil {
			return Config{}, fmt.Errorf("config: %w", err)
		}
		defer f.Close()
		fileKVs, err := parseProperties(f)
		if err != nil {
			return Config{}, fmt.Errorf("config: %s: %w", path, err)
		}
		kvs = append(kvs, fileKVs...)
	}
	for _, e := range environ {
		k, v, ok := strings.Cut(e, "=")
		if !ok || !strings.HasPrefix(k, "GREGOR_") {
			continue
		}
		key := strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(k, "GREGOR_"), "_", "."))
		kvs = append(kvs, [2]string{key, v})
	}
	for _, o := range overrides {
		k, v, ok := strings.Cut(o, "=")
		if !ok {
			return Config{}, fmt.Errorf("config: override %q is not key=value", o)
		}
		kvs = append(kvs, [2]string{strings.TrimSpace(k), v})
	}
	return build(kvs)
}

// build applies kvs over the table's defaults, then derives the listener
// defaults and validates the result.
func build(kvs [][2]string) (Config, error) {
	c := Config{values: map[string]string{}, set: map[string]bool{}}
	var perListener [][2]string // listener.name.<l>.<key> (config_security.go)
	for _, kv := range kvs {
		if _, _, ok := listenerKey(kv[0]); ok {
			perListener = append(perListener, kv)
			continue
		}
		if _, ok := configDefByName(kv[0]); !ok {
			return Config{}, fmt.Errorf("config: unknown key %q", kv[0])
		}
		c.values[kv[0]] = strings.TrimSpace(kv[1])
		c.set[kv[0]] = true
	}
	for _, d := range configDefs {
		if _, ok := c.values[d.name]; !ok && d.def != "" {
			c.values[d.name] = d.def
		}
	}
	// Aliases first (they fill in their targets), then every key in table order.
	for _, aliases := range []bool{true, false} {
		for _, d := range configDefs {
			v, ok := c.values[d.name]
			if !ok || d.alias != aliases {
				continue
			}
			if err := d.apply(&c, v); err != nil {
				return Config{}, fmt.Errorf("config: %s: %w", d.name, err)
			}
		}
	}
	if len(c.Socket.AdvertisedListeners) == 0 {
		// As Kafka: advertise what we listen on, with a host a client on
		// this machine can reach when the listener binds every address.
		for _, l := range c.Socket.Listeners {
			if l.Name == c.Cluster.ControllerListener {
				continue
			}
			if l.Host == "" || l.Host == "0.0.0.0" || l.Host == "::" {
				l.Host = "localhost"
			}
			c.Socket.AdvertisedListeners = append(c.Socket.AdvertisedListeners, l)
		}
	}
	if err := c.resolveInterBrokerListener(); err != nil {
		return Config{}, err
	}
	if c.Cluster.InterBrokerListener == "" {
		for _, l := range c.Socket.Listeners {
			if l.Name != c.Cluster.ControllerListener {
				c.Cluster.InterBrokerListener = l.Name
				break
			}
		}
	}
	if err := c.applyListenerKeys(perListener); err != nil {
		return Config{}, err
	}
	if err := c.buildOAuthBearer(); err != nil {
		return Config{}, err
	}
	if err := c.buildTLS(); err != nil {
		return Config{}, err
	}
	if err := c.buildInterBroker(); err != nil {
		return Config{}, err
	}
	if err := c.buildControllerSASL(); err != nil {
		return Config{}, err
	}
	return c, c.Validate()
}

// Validate checks what one key's parser cannot: relations between keys,
// and, for a Config changed after Load, that the fields the broker runs
// tickers and timeouts on are positive. Errors name the keys.
func (c *Config) Validate() error {
	if len(c.Socket.Listeners) == 0 {
		return fmt.Errorf("config: listeners: at least one listener is required")
	}
	if c.Log.Dir == "" {
		return fmt.Errorf("config: log.dirs: must name a directory")
	}
	if len(c.Log.Dirs) > 0 && c.Log.Dirs[0] != c.Log.Dir {
		return fmt.Errorf("config: log.dirs: Log.Dir must be the first of Log.Dirs")
	}
	if _, err := parseLogDirs(c.Log.Dirs); len(c.Log.Dirs) > 0 && err != nil {
		return fmt.Errorf("config: log.dirs: %w", err)
	}
	for _, a := range c.Socket.AdvertisedListeners {
		if _, ok := c.listener(a.Name); !ok {
			return fmt.Errorf("config: advertised.listeners: %s names no listener in listeners", a)
		}
		if a.Host == "" || a.Host == "0.0.0.0" || a.Host == "::" {
			return fmt.Errorf("config: advertised.listeners: %s: a client cannot connect to an unspecified host; set advertised.listeners", a)
		}
		if a.Name == c.Cluster.ControllerListener {
			return fmt.Errorf("config: advertised.listeners: %s is the controller listener and cannot be advertised to clients", a.Name)
		}
	}
	if !slices.ContainsFunc(c.Socket.Listeners, func(l Listener) bool { return l.Name != c.Cluster.ControllerListener }) && c.Cluster.ControllerOnly {
		return fmt.Errorf("config: process.roles=controller: listeners needs a Kafka listener besides %s (gregor's %s listener carries Raft; the controller APIs are served on the inter-broker listener)", c.Cluster.ControllerListener, c.Cluster.ControllerListener)
	}
	if !slices.ContainsFunc(c.Socket.Listeners, func(l Listener) bool { return l.Name != c.Cluster.ControllerListener }) {
		return fmt.Errorf("config: listeners: a listener for clients is required besides %s", c.Cluster.ControllerListener)
	}
	if _, ok := c.listener(c.Cluster.InterBrokerListener); !ok || c.Cluster.InterBrokerListener == c.Cluster.ControllerListener {
		return fmt.Errorf("config: inter.broker.listener.name: %q is not a client listener in listeners", c.Cluster.InterBrokerListener)
	}
	if len(c.Cluster.Voters) > 0 {
		if _, ok := c.listener(c.Cluster.ControllerListener); !ok {
			return fmt.Errorf("config: controller.quorum.voters is set but listeners has no %s listener for the quorum", c.Cluster.ControllerListener)
		}
	}
	if err := c.validateQuorum(); err != nil {
		return err
	}
	if err := c.validateSecurity(); err != nil {
		return err
	}
	if c.Limits.MessageMaxBytes > c.Socket.RequestMaxBytes {
		return fmt.Errorf("config: message.max.bytes (%d) exceeds socket.request.max.bytes (%d)", c.Limits.MessageMaxBytes, c.Socket.RequestMaxBytes)
	}
	// Relations the broker would misbehave under: a follower dropping out
	// of the ISR while it waits, a broker fenced between heartbeats, a
	// group no member can join.
	if c.Replication.FetchWaitMax > c.Replication.LagTimeMax {
		return fmt.Errorf("config: replica.fetch.wait.max.ms (%d) exceeds replica.lag.time.max.ms (%d)", c.Replication.FetchWaitMax.Milliseconds(), c.Replication.LagTimeMax.Milliseconds())
	}
	if c.Cluster.BrokerHeartbeatInterval > c.Cluster.BrokerSessionTimeout {
		return fmt.Errorf("config: broker.heartbeat.interval.ms (%d) exceeds broker.session.timeout.ms (%d)", c.Cluster.BrokerHeartbeatInterval.Milliseconds(), c.Cluster.BrokerSessionTimeout.Milliseconds())
	}
	if c.Groups.MinSessionTimeout > c.Groups.MaxSessionTimeout {
		return fmt.Errorf("config: group.min.session.timeout.ms (%d) exceeds group.max.session.timeout.ms (%d)", c.Groups.MinSessionTimeout.Milliseconds(), c.Groups.MaxSessionTimeout.Milliseconds())
	}
	for _, p := range []struct {
		key string
		d   time.Duration
	}{
		{"connections.max.idle.ms", c.Socket.ConnectionsMaxIdle},
		{"socket.request.read.timeout.ms", c.Socket.RequestReadTimeout},
		{"broker.session.timeout.ms", c.Cluster.BrokerSessionTimeout},
		{"broker.heartbeat.interval.ms", c.Cluster.BrokerHeartbeatInterval},
		{"replica.lag.time.max.ms", c.Replication.LagTimeMax},
		{"log.retention.check.interval.ms", c.Log.RetentionCheckInterval},
		{"log.flush.scheduler.interval.ms", c.Log.FlushSchedulerInterval},
		{"log.cleaner.backoff.ms", c.Log.CleanerBackoff},
		{"offsets.retention.check.interval.ms", c.Groups.OffsetsRetentionCheckInterval},
	} {
		if p.d <= 0 {
			return fmt.Errorf("config: %s: must be positive", p.key)
		}
	}
	for _, p := range []struct {
		key string
		n   int64
	}{
		{"socket.request.max.bytes", int64(c.Socket.RequestMaxBytes)},
		{"queued.max.requests", int64(c.Socket.QueuedMaxRequests)},
		{"max.connections", int64(c.Limits.MaxConnections)},
		{"max.connections.per.ip", int64(c.Limits.MaxConnectionsPerIP)},
		{"fetch.max.bytes", int64(c.Limits.FetchMaxBytes)},
		{"replica.fetch.max.bytes", int64(c.Replication.FetchMaxBytes)},
		{"replica.fetch.response.max.bytes", int64(c.Replication.FetchResponseMaxBytes)},
		{"offsets.topic.num.partitions", int64(c.Groups.OffsetsTopicPartitions)},
		{"offsets.topic.replication.factor", int64(c.Groups.OffsetsTopicReplicationFactor)},
		{"num.partitions", int64(c.Topics.NumPartitions)},
		{"default.replication.factor", int64(c.Topics.DefaultReplicationFactor)},
	} {
		if p.n <= 0 {
			return fmt.Errorf("config: %s: must be positive", p.key)
		}
	}
	return nil
}

// value returns a key's effective value as the table holds it, and whether
// it was set explicitly. Only DescribeConfigs and the broker defaults of
// topic configs read it; everything else reads the typed fields.
func (c *Config) value(key string) (v string, explicit, ok bool) {
	v, ok = c.values[key]
	return v, c.set[key], ok
}

// listener returns the configured listener named name.
func (c *Config) listener(name string) (Listener, bool) {
	for _, l := range c.Socket.Listeners {
		if l.Name == name {
			return l, true
		}
	}
	return Listener{}, false
}

// parseVoters parses controller.quorum.voters: id@host:port,...
func parseVoters(v string) ([]controller.Voter, error) {
	var vs []controller.Voter
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		id, addr, ok := strings.Cut(s, "@")
		n, err := strconv.ParseInt(id, 10, 32)
		if !ok || err != nil || n < 0 {
			return nil, fmt.Errorf("%q is not id@host:port", s)
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return nil, fmt.Errorf("%q: %v", s, err)
		}
		for _, o := range vs {
			if o.ID == int32(n) {
				return nil, fmt.Errorf("voter %d repeated", n)
			}
		}
		vs = append(vs, controller.Voter{ID: int32(n), Addr: addr})
	}
	return vs, nil
}

func parseListeners(v string) ([]Listener, error) {
	var ls []Listener
	for _, s := range strings.Split(v, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		name, hostport, ok := strings.Cut(s, "://")
		if !ok || name == "" {
			return nil, fmt.Errorf("%q is not NAME://host:port", s)
		}
		host, port, err := net.SplitHostPort(hostport)
		if err != nil {
			return nil, fmt.Errorf("%q: %v", s, err)
		}
		p, err := strconv.ParseUint(port, 10, 16)
		if err != nil {
			return nil, fmt.Errorf("%q: bad port", s)
		}
		for _, l := range ls {
			if l.Name == name {
				return nil, fmt.Errorf("listener name %s repeated", name)
			}
		}
		ls = append(ls, Listener{Name: name, Host: host, Port: int32(p)})
	}
	return ls, nil
}

// parseProperties reads a Java properties file: key=value or key:value
// lines, # and ! comments, backslash line continuations.
func parseProperties(f *os.File) ([][2]string, error) {
	var kvs [][2]string
	sc := bufio.NewScanner(f)
	var cont strings.Builder
	line := 0
	for sc.Scan() {
		line++
		s := strings.TrimSpace(sc.Text())
		if cont.Len() == 0 && (s == "" || s[0] == '#' || s[0] == '!') {
			continue
		}
		if strings.HasSuffix(s, `\`) {
			cont.WriteString(strings.TrimSuffix(s, `\`))
			continue
		}
		cont.WriteString(s)
		s = cont.String()
		cont.Reset()
		i := strings.IndexAny(s, "=:")
		if i < 0 {
			return nil, fmt.Errorf("line %d: %q is not key=value", line, s)
		}
		kvs = append(kvs, [2]string{strings.TrimSpace(s[:i]), strings.TrimSpace(s[i+1:])})
	}
	return kvs, sc.Err()
}
