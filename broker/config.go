package broker

import (
	"bufio"
	"fmt"
	"math"
	"net"
	"os"
	"slices"
	"sort"
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

// Config is the broker's configuration. Fields are set from Kafka's key
// names (see configDefs); Default() gives a broker that runs with no file.
type Config struct {
	NodeID                   int32
	Listeners                []Listener
	AdvertisedListeners      []Listener
	LogDirs                  []string
	AutoCreateTopics         bool
	NumPartitions            int32
	DefaultReplicationFactor int16
	DeleteTopicEnable        bool
	MessageMaxBytes          int32
	SocketRequestMaxBytes    int32
	QueuedMaxRequests        int
	ConnectionsMaxIdle       time.Duration
	ShutdownTimeout          time.Duration
	RequestReadTimeout       time.Duration
	MaxConnections           int
	MaxConnectionsPerIP      int

	// Cluster (combined broker+controller nodes, KRaft's key names).
	Voters                  []controller.Voter // controller.quorum.voters; none: a single node
	ControllerListener      string             // controller.listener.names (the raft transport)
	InterBrokerListener     string             // inter.broker.listener.name
	Rack                    *string            // broker.rack
	BrokerSessionTimeout    time.Duration
	BrokerHeartbeatInterval time.Duration
	ReplicaLagTimeMax       time.Duration
	ReplicaFetchMaxBytes    int32
	ReplicaFetchRespMax     int32
	ReplicaFetchWaitMax     time.Duration
	FetchMaxBytes           int32 // broker cap on a Fetch response (fetch.max.bytes)

	FS vfs.FS // filesystem the partition logs are opened through; nil: the operating system's (tests inject faults)

	// values holds every known key's effective value as a string, and set
	// the keys given explicitly (file, env or flag): DescribeConfigs reports
	// them as STATIC_BROKER_CONFIG, the rest as DEFAULT_CONFIG.
	values map[string]string
	set    map[string]bool
}

// configDef describes one broker key: its Kafka default and how it is applied.
type configDef struct {
	name  string
	alias bool   // fills in another key; applied first, only when set
	typ   string // Kafka's ConfigType name: boolean, string, int, long, short, list, double
	def   string
	doc   string
	apply func(c *Config, v string) error
}

func intKey(name, def, doc string, min, max int64, set func(*Config, int64)) configDef {
	return configDef{name: name, typ: "int", def: def, doc: doc, apply: func(c *Config, v string) error {
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil || n < min || n > max {
			return fmt.Errorf("must be an integer in [%d, %d]", min, max)
		}
		if set != nil {
			set(c, n)
		}
		return nil
	}}
}

func longKey(name, def, doc string, min int64, set func(*Config, int64)) configDef {
	d := intKey(name, def, doc, min, math.MaxInt64, set)
	d.typ = "long"
	return d
}

func boolKey(name, def, doc string, set func(*Config, bool)) configDef {
	return configDef{name: name, typ: "boolean", def: def, doc: doc, apply: func(c *Config, v string) error {
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			return fmt.Errorf("must be true or false")
		}
		if set != nil {
			set(c, b)
		}
		return nil
	}}
}

func enumKey(name, def, doc string, allowed ...string) configDef {
	return configDef{name: name, typ: "string", def: def, doc: doc, apply: func(_ *Config, v string) error {
		for _, a := range allowed {
			if v == a {
				return nil
			}
		}
		return fmt.Errorf("must be one of %s", strings.Join(allowed, ", "))
	}}
}

// aliasKey is a coarser unit of another key (log.retention.hours for
// log.retention.ms): setting it sets the target in milliseconds.
func aliasKey(name, target string, unit time.Duration, doc string) configDef {
	return configDef{name: name, alias: true, typ: "int", doc: doc, apply: func(c *Config, v string) error {
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil {
			return fmt.Errorf("must be an integer")
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

// configDefs lists every broker key gregor understands. An unknown key is a
// start-up error.
var configDefs = []configDef{
	intKey("node.id", "1", "The node id of this broker.", 0, math.MaxInt32, func(c *Config, n int64) { c.NodeID = int32(n) }),
	{name: "broker.id", alias: true, typ: "int", doc: "Alias of node.id (ZooKeeper-era name).", apply: func(c *Config, v string) error {
		if !c.set["node.id"] {
			c.values["node.id"] = strings.TrimSpace(v)
		}
		return nil
	}},
	{name: "listeners", typ: "list", def: "PLAINTEXT://localhost:9092", doc: "Listener URIs, NAME://host:port.", apply: func(c *Config, v string) error {
		ls, err := parseListeners(v)
		c.Listeners = ls
		return err
	}},
	{name: "advertised.listeners", typ: "list", def: "", doc: "Listener URIs given to clients; defaults to listeners.", apply: func(c *Config, v string) error {
		ls, err := parseListeners(v)
		c.AdvertisedListeners = ls
		return err
	}},
	{name: "log.dirs", typ: "list", def: "./data", doc: "Directories holding the log data.", apply: func(c *Config, v string) error {
		c.LogDirs = nil
		for _, d := range strings.Split(v, ",") {
			if d = strings.TrimSpace(d); d != "" {
				c.LogDirs = append(c.LogDirs, d)
			}
		}
		if len(c.LogDirs) == 0 {
			return fmt.Errorf("must name at least one directory")
		}
		return nil
	}},
	{name: "log.dir", alias: true, typ: "string", doc: "Used when log.dirs is not set.", apply: func(c *Config, v string) error {
		if !c.set["log.dirs"] {
			c.values["log.dirs"] = v
		}
		return nil
	}},
	boolKey("auto.create.topics.enable", "true", "Create a topic when a client asks for its metadata or produces to it.", func(c *Config, b bool) { c.AutoCreateTopics = b }),
	intKey("num.partitions", "1", "Default partition count of new topics.", 1, 1<<20, func(c *Config, n int64) { c.NumPartitions = int32(n) }),
	intKey("default.replication.factor", "1", "Default replication factor of new topics.", 1, math.MaxInt16, func(c *Config, n int64) { c.DefaultReplicationFactor = int16(n) }),
	boolKey("delete.topic.enable", "true", "Allow DeleteTopics.", func(c *Config, b bool) { c.DeleteTopicEnable = b }),
	intKey("message.max.bytes", "1048588", "Largest record batch size allowed (topic default of max.message.bytes).", 0, math.MaxInt32, func(c *Config, n int64) { c.MessageMaxBytes = int32(n) }),
	intKey("socket.request.max.bytes", "104857600", "Largest request frame accepted; larger ones close the connection.", 1, math.MaxInt32, func(c *Config, n int64) { c.SocketRequestMaxBytes = int32(n) }),
	intKey("queued.max.requests", "500", "Requests a connection may have in flight before the broker stops reading from it.", 1, 1<<20, func(c *Config, n int64) { c.QueuedMaxRequests = int(n) }),
	longKey("connections.max.idle.ms", "600000", "Idle connections are closed after this many milliseconds.", 1, func(c *Config, n int64) { c.ConnectionsMaxIdle = time.Duration(n) * time.Millisecond }),
	longKey("socket.request.read.timeout.ms", "30000", "gregor: a request's body must arrive within this many milliseconds of its size prefix.", 1, func(c *Config, n int64) { c.RequestReadTimeout = time.Duration(n) * time.Millisecond }),
	intKey("max.connections", "2147483647", "Connections the broker accepts at once; more are closed at accept.", 1, math.MaxInt32, func(c *Config, n int64) { c.MaxConnections = int(n) }),
	enumKey("process.roles", "broker,controller", "Roles of this node: gregor runs combined nodes (every broker is a controller voter).", "broker,controller", "controller,broker"),
	{name: "controller.quorum.voters", typ: "list", def: "", doc: "The controller quorum, id@host:port of each voter's CONTROLLER listener; empty for a single node.", apply: func(c *Config, v string) error {
		vs, err := parseVoters(v)
		c.Voters = vs
		return err
	}},
	{name: "controller.listener.names", typ: "list", def: "CONTROLLER", doc: "The listener the controller quorum (Raft) uses; it serves no Kafka clients.", apply: func(c *Config, v string) error {
		c.ControllerListener = strings.TrimSpace(strings.Split(v, ",")[0])
		return nil
	}},
	{name: "inter.broker.listener.name", typ: "string", def: "", doc: "The listener brokers use to reach each other; default: the first non-controller listener.", apply: func(c *Config, v string) error {
		c.InterBrokerListener = v
		return nil
	}},
	{name: "broker.rack", typ: "string", def: "", doc: "Rack of this broker, for rack-aware replica placement.", apply: func(c *Config, v string) error {
		if v != "" {
			c.Rack = &v
		}
		return nil
	}},
	intKey("broker.session.timeout.ms", "9000", "The controller fences a broker that sent no heartbeat for this long.", 1, math.MaxInt32, func(c *Config, n int64) { c.BrokerSessionTimeout = time.Duration(n) * time.Millisecond }),
	intKey("broker.heartbeat.interval.ms", "2000", "How often a broker heartbeats to the controller.", 1, math.MaxInt32, func(c *Config, n int64) { c.BrokerHeartbeatInterval = time.Duration(n) * time.Millisecond }),
	longKey("replica.lag.time.max.ms", "30000", "A follower that has not caught up for this long leaves the ISR.", 1, func(c *Config, n int64) { c.ReplicaLagTimeMax = time.Duration(n) * time.Millisecond }),
	intKey("replica.fetch.max.bytes", "1048576", "Bytes a follower fetches per partition (at least one batch).", 1, math.MaxInt32, func(c *Config, n int64) { c.ReplicaFetchMaxBytes = int32(n) }),
	intKey("replica.fetch.response.max.bytes", "10485760", "Bytes a follower fetch returns in all.", 1, math.MaxInt32, func(c *Config, n int64) { c.ReplicaFetchRespMax = int32(n) }),
	intKey("replica.fetch.wait.max.ms", "500", "How long a follower fetch waits for data at the leader.", 0, math.MaxInt32, func(c *Config, n int64) { c.ReplicaFetchWaitMax = time.Duration(n) * time.Millisecond }),
	intKey("max.connections.per.ip", "2147483647", "Connections one client address may hold at once; more are closed at accept.", 1, math.MaxInt32, func(c *Config, n int64) { c.MaxConnectionsPerIP = int(n) }),
	longKey("controlled.shutdown.timeout.ms", "30000", "How long shutdown waits for in-flight requests.", 0, func(c *Config, n int64) { c.ShutdownTimeout = time.Duration(n) * time.Millisecond }),
	intKey("fetch.max.bytes", "57671680", "Largest Fetch response the broker builds.", 1024, math.MaxInt32, func(c *Config, n int64) { c.FetchMaxBytes = int32(n) }),
	intKey("min.insync.replicas", "1", "Topic default of min.insync.replicas.", 1, math.MaxInt32, nil),
	longKey("log.segment.bytes", "1073741824", "Topic default of segment.bytes.", 14, nil),
	longKey("log.roll.ms", "604800000", "Topic default of segment.ms.", 1, nil),
	aliasKey("log.roll.hours", "log.roll.ms", time.Hour, "Topic default of segment.ms, in hours."),
	longKey("log.retention.ms", "604800000", "Topic default of retention.ms (-1: forever).", -1, nil),
	aliasKey("log.retention.minutes", "log.retention.ms", time.Minute, "Topic default of retention.ms, in minutes."),
	aliasKey("log.retention.hours", "log.retention.ms", time.Hour, "Topic default of retention.ms, in hours."),
	longKey("log.retention.bytes", "-1", "Topic default of retention.bytes (-1: no limit).", -1, nil),
	intKey("log.index.interval.bytes", "4096", "Topic default of index.interval.bytes.", 0, math.MaxInt32, nil),
	intKey("log.index.size.max.bytes", "10485760", "Topic default of segment.index.bytes.", 4, math.MaxInt32, nil),
	longKey("log.flush.interval.messages", "9223372036854775807", "Topic default of flush.messages.", 1, nil),
	longKey("log.flush.interval.ms", "9223372036854775807", "Topic default of flush.ms.", 0, nil),
	boolKey("log.flush.on.append", "false", "gregor: fsync every append before acknowledging it.", nil),
	enumKey("log.message.timestamp.type", "CreateTime", "Topic default of message.timestamp.type.", "CreateTime", "LogAppendTime"),
	{name: "log.cleanup.policy", typ: "list", def: "delete", doc: "Topic default of cleanup.policy.", apply: func(_ *Config, v string) error {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "delete" && p != "compact" {
				return fmt.Errorf("must be a list of delete, compact")
			}
		}
		return nil
	}},
	enumKey("compression.type", "producer", "Topic default of compression.type.", "producer", "uncompressed", "gzip", "snappy", "lz4", "zstd"),
	boolKey("unclean.leader.election.enable", "false", "Topic default of unclean.leader.election.enable.", nil),
	longKey("log.cleaner.delete.retention.ms", "86400000", "Topic default of delete.retention.ms.", 0, nil),
	{name: "log.cleaner.min.cleanable.ratio", typ: "double", def: "0.5", doc: "Topic default of min.cleanable.dirty.ratio.", apply: func(_ *Config, v string) error {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < 0 || f > 1 {
			return fmt.Errorf("must be a number in [0, 1]")
		}
		return nil
	}},
	longKey("log.cleaner.min.compaction.lag.ms", "0", "Topic default of min.compaction.lag.ms.", 0, nil),
	longKey("log.cleaner.max.compaction.lag.ms", "9223372036854775807", "Topic default of max.compaction.lag.ms.", 1, nil),
	longKey("log.segment.delete.delay.ms", "60000", "Topic default of file.delete.delay.ms.", 0, nil),
	longKey("log.retention.check.interval.ms", "60000", "How often the broker deletes the segments retention allows (gregor's default is 1 minute; Kafka's is 5).", 1, nil),
	longKey("log.flush.scheduler.interval.ms", "1000", "How often the background flusher applies flush.ms (gregor's default; Kafka's never checks).", 1, nil),
	boolKey("log.cleaner.enable", "true", "Run the log cleaner, which compacts topics with cleanup.policy compact.", nil),
	longKey("log.cleaner.backoff.ms", "15000", "How often the log cleaner looks for logs to compact.", 1, nil),
	boolKey("log.preallocate", "false", "Topic default of preallocate.", nil),
	intKey("offsets.topic.num.partitions", "50", "Partitions of __consumer_offsets.", 1, 1<<16, nil),
	intKey("group.min.session.timeout.ms", "6000", "Smallest session timeout a group member may ask for.", 0, math.MaxInt32, nil),
	intKey("group.max.session.timeout.ms", "1800000", "Largest session timeout a group member may ask for.", 0, math.MaxInt32, nil),
	intKey("group.initial.rebalance.delay.ms", "3000", "How long an empty group's first rebalance waits for more members.", 0, math.MaxInt32, nil),
	intKey("group.max.size", "2147483647", "Most members a consumer group may have.", 1, math.MaxInt32, nil),
	intKey("offsets.retention.minutes", "10080", "Committed offsets of empty groups are deleted after this many minutes.", 1, math.MaxInt32, nil),
	longKey("offsets.retention.check.interval.ms", "600000", "How often expired offsets are looked for.", 1, nil),
	intKey("offset.metadata.max.bytes", "4096", "Largest metadata string of an offset commit.", 0, math.MaxInt32, nil),
	intKey("offsets.topic.replication.factor", "1", "Replication factor of __consumer_offsets.", 1, math.MaxInt16, nil),
}

func configDefByName(name string) (configDef, bool) {
	for _, d := range configDefs {
		if d.name == name {
			return d, true
		}
	}
	return configDef{}, false
}

// Default returns the configuration of a broker started with no file.
func Default() Config {
	c, err := build(nil)
	if err != nil {
		panic(err) // the defaults above are constants
	}
	return c
}

// Load builds a Config from a Java properties file (path may be empty), then
// environment variables GREGOR_<KEY> (dots as underscores, upper case, e.g.
// GREGOR_LOG_DIRS), then key=value overrides, later sources winning.
// An unknown key or a bad value is an error naming the key.
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
		kvs = append(kvs, [2]string{strings.TrimSpace(k), strings.TrimSpace(v)})
	}
	return build(kvs)
}

func build(kvs [][2]string) (Config, error) {
	c := Config{values: map[string]string{}, set: map[string]bool{}}
	for _, kv := range kvs {
		if _, ok := configDefByName(kv[0]); !ok {
			return Config{}, fmt.Errorf("config: unknown key %q", kv[0])
		}
		c.values[kv[0]] = kv[1]
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
				return Config{}, fmt.Errorf("config: %s=%q: %w", d.name, v, err)
			}
		}
	}
	if len(c.AdvertisedListeners) == 0 {
		// As Kafka: advertise what we listen on, with a host a client on
		// this machine can reach when the listener binds every address.
		for _, l := range c.Listeners {
			if l.Name == c.ControllerListener {
				continue
			}
			if l.Host == "" || l.Host == "0.0.0.0" || l.Host == "::" {
				l.Host = "localhost"
			}
			c.AdvertisedListeners = append(c.AdvertisedListeners, l)
		}
	}
	return c, c.Validate()
}

// Validate checks relations between keys.
func (c *Config) Validate() error {
	if len(c.Listeners) == 0 {
		return fmt.Errorf("config: listeners: at least one listener is required")
	}
	for _, a := range c.AdvertisedListeners {
		found := false
		for _, l := range c.Listeners {
			found = found || l.Name == a.Name
		}
		if !found {
			return fmt.Errorf("config: advertised.listeners: %s names no listener in listeners", a)
		}
		if a.Host == "" || a.Host == "0.0.0.0" || a.Host == "::" {
			return fmt.Errorf("config: advertised.listeners: %s: a client cannot connect to an unspecified host; set advertised.listeners", a)
		}
	}
	var clientListeners []string
	for _, l := range c.Listeners {
		if l.Name != c.ControllerListener {
			clientListeners = append(clientListeners, l.Name)
		}
	}
	if len(clientListeners) == 0 {
		return fmt.Errorf("config: listeners: a listener for clients is required besides %s", c.ControllerListener)
	}
	for _, a := range c.AdvertisedListeners {
		if a.Name == c.ControllerListener {
			return fmt.Errorf("config: advertised.listeners: %s is the controller listener and cannot be advertised to clients", a.Name)
		}
	}
	if c.InterBrokerListener == "" {
		c.InterBrokerListener = clientListeners[0]
	} else if c.InterBrokerListener == c.ControllerListener || !slices.Contains(clientListeners, c.InterBrokerListener) {
		return fmt.Errorf("config: inter.broker.listener.name: %s is not a client listener in listeners", c.InterBrokerListener)
	}
	if len(c.Voters) > 0 {
		if _, ok := c.listener(c.ControllerListener); !ok {
			return fmt.Errorf("config: controller.quorum.voters is set but listeners has no %s listener for the quorum", c.ControllerListener)
		}
		if !slices.ContainsFunc(c.Voters, func(v controller.Voter) bool { return v.ID == c.NodeID }) {
			return fmt.Errorf("config: controller.quorum.voters does not include node.id %d (only combined broker+controller nodes are supported)", c.NodeID)
		}
	}
	if c.MessageMaxBytes > c.SocketRequestMaxBytes {
		return fmt.Errorf("config: message.max.bytes (%d) exceeds socket.request.max.bytes (%d)", c.MessageMaxBytes, c.SocketRequestMaxBytes)
	}
	return nil
}

// Value returns a key's effective value and whether it was set explicitly.
func (c *Config) Value(key string) (v string, explicit, ok bool) {
	v, ok = c.values[key]
	return v, c.set[key], ok
}

// Keys returns every known key, sorted.
func (c *Config) Keys() []string {
	ks := make([]string, 0, len(configDefs))
	for _, d := range configDefs {
		ks = append(ks, d.name)
	}
	sort.Strings(ks)
	return ks
}

// listener returns the configured listener named name.
func (c *Config) listener(name string) (Listener, bool) {
	for _, l := range c.Listeners {
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
