package broker

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/controller"
)

// kafkaDefaults is Apache Kafka's default of every broker key whose
// default gregor shares (as DescribeConfigs reports it; a key Kafka
// derives, such as log.retention.ms from log.retention.hours, has the
// derived value).
var kafkaDefaults = map[string]string{
	"ssl.keystore.location": "", "ssl.keystore.certificate.chain": "", "ssl.keystore.key": "", "ssl.key.password": "",
	"ssl.truststore.location": "", "ssl.truststore.certificates": "", "ssl.client.auth": "none",
	"ssl.enabled.protocols": "TLSv1.2,TLSv1.3", "ssl.protocol": "TLSv1.3", "ssl.cipher.suites": "",
	"ssl.endpoint.identification.algorithm": "https", "ssl.principal.mapping.rules": "DEFAULT",
	"connections.max.reauth.ms":                                   "0",
	"sasl.oauthbearer.jwks.endpoint.url":                          "",
	"sasl.oauthbearer.expected.audience":                          "",
	"sasl.oauthbearer.expected.issuer":                            "",
	"sasl.oauthbearer.sub.claim.name":                             "sub",
	"sasl.oauthbearer.scope.claim.name":                           "scope",
	"sasl.oauthbearer.clock.skew.seconds":                         "30",
	"transaction.state.log.num.partitions":                        "50",
	"transaction.state.log.segment.bytes":                         "104857600",
	"transaction.max.timeout.ms":                                  "900000",
	"transaction.partition.verification.enable":                   "true",
	"authorizer.class.name":                                       "",
	"super.users":                                                 "",
	"allow.everyone.if.no.acl.found":                              "false",
	"transaction.abort.timed.out.transaction.cleanup.interval.ms": "10000",
	"transactional.id.expiration.ms":                              "604800000",
	"transaction.remove.expired.transaction.cleanup.interval.ms":  "3600000",
	"advertised.listeners":                                        "",
	"auto.create.topics.enable":                                   "true",
	"num.partitions":                                              "1",
	"default.replication.factor":                                  "1",
	"delete.topic.enable":                                         "true",
	"message.max.bytes":                                           "1048588",
	"socket.request.max.bytes":                                    "104857600",
	"queued.max.requests":                                         "500",
	"connections.max.idle.ms":                                     "600000",
	"max.connections":                                             "2147483647",
	"max.connections.per.ip":                                      "2147483647",
	"max.connection.creation.rate":                                "2147483647",
	"fetch.max.bytes":                                             "57671680",
	"max.incremental.fetch.session.cache.slots":                   "1000",
	"min.incremental.fetch.session.eviction.ms":                   "120000",
	"max.request.partition.size.limit":                            "2000",
	"telemetry.max.bytes":                                         "1048576",
	"controller.quorum.voters":                                    "",
	"inter.broker.listener.name":                                  "",
	"sasl.mechanism.inter.broker.protocol":                        "GSSAPI",
	"sasl.mechanism.controller.protocol":                          "GSSAPI",
	"broker.rack":                                                 "",
	"replica.selector.class":                                      "",
	"broker.session.timeout.ms":                                   "9000",
	"broker.heartbeat.interval.ms":                                "2000",
	"replica.lag.time.max.ms":                                     "30000",
	"replica.fetch.max.bytes":                                     "1048576",
	"replica.fetch.response.max.bytes":                            "10485760",
	"replica.fetch.wait.max.ms":                                   "500",
	"min.insync.replicas":                                         "1",
	"log.segment.bytes":                                           "1073741824",
	"log.roll.ms":                                                 "604800000",
	"log.retention.ms":                                            "604800000",
	"log.retention.bytes":                                         "-1",
	"log.index.interval.bytes":                                    "4096",
	"log.index.size.max.bytes":                                    "10485760",
	"log.flush.interval.messages":                                 "9223372036854775807",
	"log.flush.interval.ms":                                       "9223372036854775807",
	"log.message.timestamp.type":                                  "CreateTime",
	"log.cleanup.policy":                                          "delete",
	"compression.type":                                            "producer",
	"unclean.leader.election.enable":                              "false",
	"log.cleaner.delete.retention.ms":                             "86400000",
	"log.cleaner.min.cleanable.ratio":                             "0.5",
	"log.cleaner.min.compaction.lag.ms":                           "0",
	"log.cleaner.max.compaction.lag.ms":                           "9223372036854775807",
	"log.segment.delete.delay.ms":                                 "60000",
	"log.cleaner.enable":                                          "true",
	"log.cleaner.backoff.ms":                                      "15000",
	"log.preallocate":                                             "false",
	"offsets.topic.num.partitions":                                "50",
	"group.min.session.timeout.ms":                                "6000",
	"group.max.session.timeout.ms":                                "1800000",
	"group.initial.rebalance.delay.ms":                            "3000",
	"group.max.size":                                              "2147483647",
	"offsets.retention.minutes":                                   "10080",
	"offsets.retention.check.interval.ms":                         "600000",
	"offset.metadata.max.bytes":                                   "4096",
	"group.consumer.heartbeat.interval.ms":                        "5000",
	"group.consumer.session.timeout.ms":                           "45000",
	"group.consumer.max.size":                                     "2147483647",
	"group.consumer.migration.policy":                             "bidirectional",
	"quota.window.num":                                            "11",
	"quota.window.size.seconds":                                   "1",
	"leader.replication.throttled.rate":                           "9223372036854775807",
	"follower.replication.throttled.rate":                         "9223372036854775807",
	"replication.quota.window.num":                                "11",
	"replication.quota.window.size.seconds":                       "1",
}

// gregorDefaults is where gregor departs from Kafka, or has a key Kafka
// lacks; each entry says why.
var gregorDefaults = map[string]string{
	"transaction.end.wait.ms":        "1000", // gregor-only: EndTxn waits for its markers (0: as Kafka)
	"telemetry.max.series":           "10000",
	"security.inter.broker.protocol": "",                                  // Kafka: PLAINTEXT; empty lets inter.broker.listener.name (or its default) decide
	"group.consumer.assignors":       "uniform,range",                     // Kafka: the two assignors' class names, which gregor also accepts
	"ssl.keystore.type":              "PEM", "ssl.truststore.type": "PEM", // Kafka: JKS; gregor reads only PEM
	"node.id":                                  "1",                          // Kafka: -1, required in KRaft; one node runs with no file
	"listeners":                                "PLAINTEXT://localhost:9092", // Kafka: PLAINTEXT://:9092; gregor binds loopback unless told
	"log.dirs":                                 "./data",                     // Kafka: log.dir=/tmp/kafka-logs
	"process.roles":                            "broker,controller",          // Kafka: required; gregor defaults to combined nodes
	"controller.listener.names":                "CONTROLLER",                 // Kafka: required with process.roles
	"log.retention.check.interval.ms":          "60000",                      // Kafka: 300000
	"log.flush.scheduler.interval.ms":          "1000",                       // Kafka: Long.MAX_VALUE (never)
	"offsets.topic.replication.factor":         "1",                          // Kafka: 3; gregor caps it by live brokers anyway
	"transaction.state.log.replication.factor": "1",                          // Kafka: 3; capped by live brokers
	"transaction.state.log.min.isr":            "1",                          // Kafka: 2; capped by the replication factor
	"socket.request.read.timeout.ms":           "30000",                      // gregor only
	"controlled.shutdown.timeout.ms":           "30000",                      // gregor only
	"log.flush.on.append":                      "false",                      // gregor only
	"http.listeners":                           "",                           // gregor only (Redpanda-style admin/metrics listener; off unless set)
	"http.metrics.per.partition":               "true",                       // gregor only
	"http.metrics.auth":                        "true",                       // gregor only
	"controller.quorum.observers":              "",                           // gregor only (nodes starting as Raft non-voters)
}

// configAliases have no value of their own: they fill in another key.
var configAliases = []string{"broker.id", "log.dir", "log.roll.hours", "log.retention.minutes", "log.retention.hours"}

func TestConfigDefaultsMatchKafka(t *testing.T) {
	t.Parallel()
	c := DefaultConfig()
	for _, d := range configDefs {
		want, ok := kafkaDefaults[d.name]
		if !ok {
			want, ok = gregorDefaults[d.name]
		}
		if d.alias != slices.Contains(configAliases, d.name) {
			t.Errorf("%s: alias %v, want %v", d.name, d.alias, !d.alias)
		}
		if d.alias {
			continue
		}
		if !ok {
			t.Errorf("%s: default %q is in neither kafkaDefaults nor gregorDefaults", d.name, d.def)
			continue
		}
		if got, explicit, _ := c.value(d.name); got != want || explicit {
			t.Errorf("%s = %q (explicit %v), want %q", d.name, got, explicit, want)
		}
	}
	for _, m := range []map[string]string{kafkaDefaults, gregorDefaults} {
		for k := range m {
			if _, ok := configDefByName(k); !ok {
				t.Errorf("%s: listed with a default but not in configDefs", k)
			}
		}
	}

	// The typed fields, parsed from those strings.
	want := Config{
		NodeID: 1,
		Socket: SocketConfig{
			Listeners:           []Listener{{Name: "PLAINTEXT", Host: "localhost", Port: 9092}},
			AdvertisedListeners: []Listener{{Name: "PLAINTEXT", Host: "localhost", Port: 9092}},
			RequestMaxBytes:     104857600,
			QueuedMaxRequests:   500,
			ConnectionsMaxIdle:  10 * time.Minute,
			RequestReadTimeout:  30 * time.Second,
		},
		Limits: LimitsConfig{MaxConnections: math.MaxInt32, MaxConnectionsPerIP: math.MaxInt32, MaxConnectionCreationRate: math.MaxInt32, MessageMaxBytes: 1048588, FetchMaxBytes: 57671680,
			FetchSessionSlots: 1000, FetchSessionMinEviction: 2 * time.Minute, DescribeTopicPartitionsMax: 2000},
		Log: LogConfig{
			Dir:                    "./data",
			Dirs:                   []string{"./data"},
			RetentionCheckInterval: time.Minute,
			FlushSchedulerInterval: time.Second,
			CleanerEnable:          true,
			CleanerBackoff:         15 * time.Second,
		},
		Topics: TopicsConfig{AutoCreate: true, NumPartitions: 1, DefaultReplicationFactor: 1, DeleteEnable: true},
		Groups: GroupsConfig{
			OffsetsTopicPartitions:        50,
			OffsetsTopicReplicationFactor: 1,
			MinSessionTimeout:             6 * time.Second,
			MaxSessionTimeout:             30 * time.Minute,
			InitialRebalanceDelay:         3 * time.Second,
			MaxSize:                       math.MaxInt32,
			OffsetsRetention:              7 * 24 * time.Hour,
			OffsetsRetentionCheckInterval: 10 * time.Minute,
			OffsetMetadataMaxBytes:        4096,
			Consumer: ConsumerGroupConfig{Assignors: []string{"uniform", "range"}, HeartbeatInterval: 5 * time.Second,
				SessionTimeout: 45 * time.Second, MaxSize: math.MaxInt32, MigrationPolicy: "bidirectional"},
		},
		Txn: TxnConfig{StateLogPartitions: 50, StateLogReplicationFactor: 1, StateLogMinISR: 1, StateLogSegmentBytes: 104857600,
			MaxTimeout: 15 * time.Minute, AbortTimedOutInterval: 10 * time.Second, IDExpiration: 7 * 24 * time.Hour, RemoveExpiredCheckInterval: time.Hour, PartitionVerification: true,
			EndWait: time.Second},
		Replication: ReplicationConfig{LagTimeMax: 30 * time.Second, FetchMaxBytes: 1048576, FetchResponseMaxBytes: 10485760, FetchWaitMax: 500 * time.Millisecond},
		Cluster: ClusterConfig{
			ControllerListener:      "CONTROLLER",
			InterBrokerListener:     "PLAINTEXT",
			BrokerSessionTimeout:    9 * time.Second,
			BrokerHeartbeatInterval: 2 * time.Second,
			ShutdownTimeout:         30 * time.Second,
		},
		Security:   wantSecurityDefaults, // config_security_test.go
		Quota:      QuotaConfig{WindowNum: 11, WindowSize: time.Second},
		HTTP:       HTTPConfig{PerPartition: true, MetricsAuth: true},
		Telemetry:  TelemetryConfig{MaxBytes: 1 << 20, MaxSeries: 10000},
		ClusterOps: ClusterOpsConfig{ThrottleWindowNum: 11, ThrottleWindowSize: time.Second},
	}
	c.values, c.set = nil, nil
	if !reflect.DeepEqual(c, want) {
		t.Errorf("DefaultConfig():\n got %+v\nwant %+v", c, want)
	}
}

// TestConfigOverrides sets every typed key away from its default and
// checks the field it fills.
func TestConfigOverrides(t *testing.T) {
	t.Parallel()
	rack := "r1"
	for _, tc := range []struct {
		kv    string
		field func(*Config) any
		want  any
	}{
		{"node.id=7", func(c *Config) any { return c.NodeID }, int32(7)},
		{"broker.id=4", func(c *Config) any { return c.NodeID }, int32(4)},
		{"listeners=PLAINTEXT://0.0.0.0:9093", func(c *Config) any { return c.Socket.AdvertisedListeners }, []Listener{{"PLAINTEXT", "localhost", 9093}}},
		{"advertised.listeners=PLAINTEXT://h:1", func(c *Config) any { return c.Socket.AdvertisedListeners }, []Listener{{"PLAINTEXT", "h", 1}}},
		{"log.dirs=/x", func(c *Config) any { return c.Log.Dir }, "/x"},
		{"log.dirs= /x ,", func(c *Config) any { return c.Log.Dir }, "/x"},
		{"log.dir=/y", func(c *Config) any { return c.Log.Dir }, "/y"},
		{"auto.create.topics.enable=FALSE", func(c *Config) any { return c.Topics.AutoCreate }, false},
		{"num.partitions=3", func(c *Config) any { return c.Topics.NumPartitions }, int32(3)},
		{"group.consumer.migration.policy=UPGRADE", func(c *Config) any { return c.Groups.Consumer.MigrationPolicy }, "upgrade"},
		{"default.replication.factor=3", func(c *Config) any { return c.Topics.DefaultReplicationFactor }, int16(3)},
		{"delete.topic.enable=false", func(c *Config) any { return c.Topics.DeleteEnable }, false},
		{"message.max.bytes=2000", func(c *Config) any { return c.Limits.MessageMaxBytes }, int32(2000)},
		{"socket.request.max.bytes=2000000", func(c *Config) any { return c.Socket.RequestMaxBytes }, int32(2000000)},
		{"queued.max.requests=5", func(c *Config) any { return c.Socket.QueuedMaxRequests }, 5},
		{"connections.max.idle.ms=500", func(c *Config) any { return c.Socket.ConnectionsMaxIdle }, 500 * time.Millisecond},
		{"connections.max.idle.ms=9223372036854775807", func(c *Config) any { return c.Socket.ConnectionsMaxIdle }, time.Duration(math.MaxInt64)},
		{"socket.request.read.timeout.ms=300", func(c *Config) any { return c.Socket.RequestReadTimeout }, 300 * time.Millisecond},
		{"max.connections=3", func(c *Config) any { return c.Limits.MaxConnections }, 3},
		{"max.connections.per.ip=2", func(c *Config) any { return c.Limits.MaxConnectionsPerIP }, 2},
		{"fetch.max.bytes=4096", func(c *Config) any { return c.Limits.FetchMaxBytes }, int32(4096)},
		{"controller.listener.names=RAFT", func(c *Config) any { return c.Cluster.ControllerListener }, "RAFT"},
		{"inter.broker.listener.name=PLAINTEXT", func(c *Config) any { return c.Cluster.InterBrokerListener }, "PLAINTEXT"},
		{"broker.rack=r1", func(c *Config) any { return c.Cluster.Rack }, &rack},
		{"replica.selector.class=org.apache.kafka.common.replica.RackAwareReplicaSelector", func(c *Config) any { return c.Replication.RackAwareReads }, true},
		{"broker.session.timeout.ms=4000", func(c *Config) any { return c.Cluster.BrokerSessionTimeout }, 4 * time.Second},
		{"broker.heartbeat.interval.ms=300", func(c *Config) any { return c.Cluster.BrokerHeartbeatInterval }, 300 * time.Millisecond},
		{"controlled.shutdown.timeout.ms=0", func(c *Config) any { return c.Cluster.ShutdownTimeout }, time.Duration(0)},
		{"replica.lag.time.max.ms=4000", func(c *Config) any { return c.Replication.LagTimeMax }, 4 * time.Second},
		{"replica.fetch.max.bytes=10", func(c *Config) any { return c.Replication.FetchMaxBytes }, int32(10)},
		{"replica.fetch.response.max.bytes=20", func(c *Config) any { return c.Replication.FetchResponseMaxBytes }, int32(20)},
		{"replica.fetch.wait.max.ms=200", func(c *Config) any { return c.Replication.FetchWaitMax }, 200 * time.Millisecond},
		{"log.flush.on.append=true", func(c *Config) any { return c.Log.FlushOnAppend }, true},
		{"log.retention.check.interval.ms=50", func(c *Config) any { return c.Log.RetentionCheckInterval }, 50 * time.Millisecond},
		{"log.flush.scheduler.interval.ms=50", func(c *Config) any { return c.Log.FlushSchedulerInterval }, 50 * time.Millisecond},
		{"log.cleaner.enable=false", func(c *Config) any { return c.Log.CleanerEnable }, false},
		{"log.cleaner.backoff.ms=50", func(c *Config) any { return c.Log.CleanerBackoff }, 50 * time.Millisecond},
		{"offsets.topic.num.partitions=3", func(c *Config) any { return c.Groups.OffsetsTopicPartitions }, int32(3)},
		{"offsets.topic.replication.factor=3", func(c *Config) any { return c.Groups.OffsetsTopicReplicationFactor }, int16(3)},
		{"group.min.session.timeout.ms=1000", func(c *Config) any { return c.Groups.MinSessionTimeout }, time.Second},
		{"group.max.session.timeout.ms=60000", func(c *Config) any { return c.Groups.MaxSessionTimeout }, time.Minute},
		{"group.initial.rebalance.delay.ms=0", func(c *Config) any { return c.Groups.InitialRebalanceDelay }, time.Duration(0)},
		{"group.max.size=10", func(c *Config) any { return c.Groups.MaxSize }, 10},
		{"offsets.retention.minutes=2", func(c *Config) any { return c.Groups.OffsetsRetention }, 2 * time.Minute},
		{"offsets.retention.check.interval.ms=1000", func(c *Config) any { return c.Groups.OffsetsRetentionCheckInterval }, time.Second},
		{"offset.metadata.max.bytes=10", func(c *Config) any { return c.Groups.OffsetMetadataMaxBytes }, 10},
	} {
		t.Run(tc.kv, func(t *testing.T) {
			t.Parallel()
			c, err := Load("", nil, []string{tc.kv})
			if err != nil {
				t.Fatal(err)
			}
			if got := tc.field(&c); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %#v, want %#v", got, tc.want)
			}
			key, _, _ := strings.Cut(tc.kv, "=")
			if _, explicit, _ := c.value(key); !explicit {
				t.Fatalf("%s not reported as set explicitly", key)
			}
		})
	}
}

func TestLoadConfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "server.properties")
	if err := os.WriteFile(file, []byte("# comment\n! other comment\nnum.partitions=3\nlog.dirs = /tmp/a\nlisteners=PLAINTEXT://0.0.0.0:9093\nmessage.max.bytes: 2000\nlog.cleanup.policy=compact,\\\n  delete\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	twoDirs := filepath.Join(dir, "two-dirs.properties")
	if err := os.WriteFile(twoDirs, []byte("log.dirs=/tmp/a,/tmp/b\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	value := func(c Config, key string) string { v, _, _ := c.value(key); return v }
	for _, tc := range []struct {
		name      string
		file      string
		env       []string
		overrides []string
		check     func(Config) bool
	}{
		{name: "file", file: file, check: func(c Config) bool {
			return c.Topics.NumPartitions == 3 && c.Log.Dir == "/tmp/a" && c.Limits.MessageMaxBytes == 2000 &&
				c.Socket.AdvertisedListeners[0].Host == "localhost" && c.Socket.AdvertisedListeners[0].Port == 9093 &&
				value(c, "log.cleanup.policy") == "compact,delete"
		}},
		{name: "env beats file", file: file, env: []string{"GREGOR_NUM_PARTITIONS=5", "OTHER=1"}, check: func(c Config) bool { return c.Topics.NumPartitions == 5 }},
		{name: "override beats env", file: file, env: []string{"GREGOR_NUM_PARTITIONS=5"}, overrides: []string{"num.partitions=7"}, check: func(c Config) bool { return c.Topics.NumPartitions == 7 }},
		{name: "two log dirs", file: twoDirs, check: func(c Config) bool {
			return c.Log.Dir == "/tmp/a" && slices.Equal(c.Log.Dirs, []string{"/tmp/a", "/tmp/b"})
		}},
		{name: "override beats file's two log dirs", file: twoDirs, overrides: []string{"log.dirs=/tmp/c"}, check: func(c Config) bool { return c.Log.Dir == "/tmp/c" }},
		{name: "later override wins", overrides: []string{"num.partitions=2", "num.partitions=4"}, check: func(c Config) bool { return c.Topics.NumPartitions == 4 }},
		{name: "hours alias", overrides: []string{"log.retention.hours=1"}, check: func(c Config) bool { v, ex, _ := c.value("log.retention.ms"); return v == "3600000" && ex }},
		{name: "negative hours: forever", overrides: []string{"log.retention.hours=-5"}, check: func(c Config) bool { return value(c, "log.retention.ms") == "-1" }},
		{name: "ms beats hours", overrides: []string{"log.retention.hours=1", "log.retention.ms=5"}, check: func(c Config) bool { return value(c, "log.retention.ms") == "5" }},
		{name: "log.dirs beats log.dir", overrides: []string{"log.dir=/a", "log.dirs=/b"}, check: func(c Config) bool { return c.Log.Dir == "/b" }},
		{name: "node.id beats broker.id", overrides: []string{"broker.id=4", "node.id=5"}, check: func(c Config) bool { return c.NodeID == 5 }},
		{name: "voters", overrides: []string{"node.id=2", "listeners=PLAINTEXT://:9092,CONTROLLER://:9093", "controller.quorum.voters=1@a:9093,2@b:9093"}, check: func(c Config) bool {
			return reflect.DeepEqual(c.Cluster.Voters, []controller.Voter{{ID: 1, Addr: "a:9093"}, {ID: 2, Addr: "b:9093"}}) &&
				c.Cluster.InterBrokerListener == "PLAINTEXT" && len(c.Socket.AdvertisedListeners) == 1
		}},
		{name: "observer", overrides: []string{"node.id=3", "listeners=PLAINTEXT://:9092,CONTROLLER://:9093", "controller.quorum.voters=1@a:9093,2@b:9093", "controller.quorum.observers=3@c:9093"}, check: func(c Config) bool {
			return reflect.DeepEqual(c.Cluster.Observers, []controller.Voter{{ID: 3, Addr: "c:9093"}})
		}},
		{name: "inter-broker listener defaults to the first client listener", overrides: []string{"listeners=CONTROLLER://:9093,INTERNAL://:9094,EXTERNAL://:9092"}, check: func(c Config) bool {
			return c.Cluster.InterBrokerListener == "INTERNAL" && len(c.Socket.AdvertisedListeners) == 2
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := Load(tc.file, tc.env, tc.overrides)
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(c) {
				t.Fatalf("unexpected config %+v", c)
			}
		})
	}
}

// TestConfigErrors checks that every start-up error names its key.
func TestConfigErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	twoDirs := filepath.Join(dir, "server.properties")
	if err := os.WriteFile(twoDirs, []byte("log.dirs=/tmp/a, /tmp/b, /tmp/a\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	badLine := filepath.Join(dir, "bad.properties")
	if err := os.WriteFile(badLine, []byte("num.partitions=1\njust-a-word\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		file      string
		env       []string
		overrides []string
		wantErr   string
	}{
		{name: "log dir twice in a file", file: twoDirs, wantErr: "log.dirs: /tmp/a is listed twice"},
		{name: "log dir twice", overrides: []string{"log.dirs=/a,/b,/a/"}, wantErr: "log.dirs: /a is listed twice"},
		{name: "log dir twice through log.dir", overrides: []string{"log.dir=/a,/a"}, wantErr: "log.dirs: /a is listed twice"},
		{name: "relative log dir inside another", overrides: []string{"log.dirs=/a,/a/b"}, wantErr: "log.dirs: /a/b is inside /a"},
		{name: "no log dir", overrides: []string{"log.dirs= , "}, wantErr: "log.dirs: must name a directory"},
		{name: "second controller listener", overrides: []string{"controller.listener.names=A,B"}, wantErr: "controller.listener.names: several controller listeners are not supported yet (got 2)"},
		{name: "unknown key", overrides: []string{"no.such=1"}, wantErr: `unknown key "no.such"`},
		{name: "unknown env key", env: []string{"GREGOR_NO_SUCH=1"}, wantErr: `unknown key "no.such"`},
		{name: "not an integer", overrides: []string{"num.partitions=x"}, wantErr: `num.partitions: not an integer: "x"`},
		{name: "int below range", overrides: []string{"num.partitions=0"}, wantErr: "num.partitions: 0 is out of range [1, 1048576]"},
		{name: "int above int32", overrides: []string{"message.max.bytes=2147483648"}, wantErr: "message.max.bytes: 2147483648 is out of range [0, 2147483647]"},
		{name: "long beyond int64", overrides: []string{"log.retention.ms=9223372036854775808"}, wantErr: "log.retention.ms: 9223372036854775808 is out of range"},
		{name: "long below -1", overrides: []string{"log.retention.ms=-2"}, wantErr: "log.retention.ms: -2 is out of range"},
		{name: "segment too small", overrides: []string{"log.segment.bytes=13"}, wantErr: "log.segment.bytes: 13 is out of range [14, 2147483647]"},
		{name: "ms key", overrides: []string{"replica.lag.time.max.ms=0"}, wantErr: "replica.lag.time.max.ms: 0 is out of range"},
		{name: "minutes key", overrides: []string{"offsets.retention.minutes=0"}, wantErr: "offsets.retention.minutes: 0 is out of range"},
		{name: "bad alias", overrides: []string{"log.retention.hours=soon"}, wantErr: `log.retention.hours: not an integer: "soon"`},
		{name: "bad migration policy", overrides: []string{"group.consumer.migration.policy=sideways"}, wantErr: `group.consumer.migration.policy: "sideways" is not one of disabled, upgrade, downgrade, bidirectional`},
		{name: "unknown assignor", overrides: []string{"group.consumer.assignors=uniform,sticky"}, wantErr: `group.consumer.assignors: unknown assignor "sticky" (uniform, range)`},
		{name: "bad broker.id", overrides: []string{"broker.id=-3"}, wantErr: "broker.id: -3 is out of range"},
		{name: "bad bool", env: []string{"GREGOR_AUTO_CREATE_TOPICS_ENABLE=maybe"}, wantErr: `auto.create.topics.enable: not true or false: "maybe"`},
		{name: "bad double", overrides: []string{"log.cleaner.min.cleanable.ratio=half"}, wantErr: `log.cleaner.min.cleanable.ratio: not a number: "half"`},
		{name: "double out of range", overrides: []string{"log.cleaner.min.cleanable.ratio=1.5"}, wantErr: "log.cleaner.min.cleanable.ratio: 1.5 is out of range [0, 1]"},
		{name: "unknown replica selector", overrides: []string{"replica.selector.class=com.example.Nearest"}, wantErr: `replica.selector.class: unknown replica selector "com.example.Nearest"`},
		{name: "bad enum", overrides: []string{"compression.type=brotli"}, wantErr: `compression.type: "brotli" is not one of`},
		{name: "bad policy", overrides: []string{"log.cleanup.policy=delete,keep"}, wantErr: `log.cleanup.policy: "keep" is not delete or compact`},
		{name: "controller-only without voters", overrides: []string{"process.roles=controller"}, wantErr: "process.roles=controller: node.id 1 must be in controller.quorum.voters"},
		{name: "controller-only observer", overrides: []string{"process.roles=controller", "node.id=3", "listeners=PLAINTEXT://:9092,CONTROLLER://:9093", "controller.quorum.voters=1@a:9093", "controller.quorum.observers=3@c:9093"}, wantErr: "process.roles=controller: node.id 3 must be in controller.quorum.voters"},
		{name: "controller-only without a Kafka listener", overrides: []string{"process.roles=controller", "listeners=CONTROLLER://:9093", "controller.quorum.voters=1@a:9093"}, wantErr: "process.roles=controller: listeners needs a Kafka listener besides CONTROLLER"},
		{name: "controller-only without controller listener", overrides: []string{"process.roles=controller", "controller.quorum.voters=1@a:9093"}, wantErr: "listeners has no CONTROLLER listener"},
		{name: "unknown role", overrides: []string{"process.roles=broker,witness"}, wantErr: `process.roles: "witness" is not broker or controller`},
		{name: "repeated role", overrides: []string{"process.roles=broker,broker"}, wantErr: "process.roles: role broker repeated"},
		{name: "no role", overrides: []string{"process.roles= , "}, wantErr: "process.roles: must name broker, controller or both"},
		{name: "broker-only without voters", overrides: []string{"process.roles=broker"}, wantErr: "process.roles=broker needs controller.quorum.voters"},
		{name: "broker-only voter", overrides: []string{"process.roles=broker", "listeners=PLAINTEXT://:9092,CONTROLLER://:9093", "controller.quorum.voters=1@a:9093,2@b:9093"}, wantErr: "process.roles=broker but node.id 1 is in controller.quorum.voters"},
		{name: "broker-only not an observer", overrides: []string{"process.roles=broker", "node.id=3", "listeners=PLAINTEXT://:9092,CONTROLLER://:9093", "controller.quorum.voters=1@a:9093"}, wantErr: "node.id 3 must be in controller.quorum.observers"},
		{name: "broker-only without controller listener", overrides: []string{"process.roles=broker", "node.id=3", "controller.quorum.voters=1@a:9093", "controller.quorum.observers=3@c:9093"}, wantErr: "listeners has no CONTROLLER listener"},
		{name: "bad listener", overrides: []string{"listeners=localhost:9092"}, wantErr: "listeners: \"localhost:9092\" is not NAME://host:port"},
		{name: "repeated listener", overrides: []string{"listeners=A://:1,A://:2"}, wantErr: "listeners: listener name A repeated"},
		{name: "no listener", overrides: []string{"listeners="}, wantErr: "listeners: at least one listener is required"},
		{name: "only the controller listener", overrides: []string{"listeners=CONTROLLER://:9093"}, wantErr: "listeners: a listener for clients is required"},
		{name: "advertised names no listener", overrides: []string{"advertised.listeners=OTHER://h:1"}, wantErr: "advertised.listeners: OTHER://h:1 names no listener"},
		{name: "advertised unspecified host", overrides: []string{"advertised.listeners=PLAINTEXT://0.0.0.0:1"}, wantErr: "advertised.listeners: PLAINTEXT://0.0.0.0:1: a client cannot connect"},
		{name: "advertised controller", overrides: []string{"listeners=PLAINTEXT://:1,CONTROLLER://:2", "advertised.listeners=CONTROLLER://h:2"}, wantErr: "advertised.listeners: CONTROLLER is the controller listener"},
		{name: "inter-broker listener unknown", overrides: []string{"inter.broker.listener.name=OTHER"}, wantErr: `inter.broker.listener.name: "OTHER" is not a client listener`},
		{name: "voters without controller listener", overrides: []string{"controller.quorum.voters=1@a:9093"}, wantErr: "controller.quorum.voters is set but listeners has no CONTROLLER listener"},
		{name: "node not a voter", overrides: []string{"listeners=PLAINTEXT://:9092,CONTROLLER://:9093", "controller.quorum.voters=2@a:9093"}, wantErr: "controller.quorum.voters does not include node.id 1"},
		{name: "bad voters", overrides: []string{"controller.quorum.voters=x"}, wantErr: `controller.quorum.voters: "x" is not id@host:port`},
		{name: "observer is a voter", overrides: []string{"listeners=PLAINTEXT://:9092,CONTROLLER://:9093", "controller.quorum.voters=1@a:9093", "controller.quorum.observers=1@a:9093"}, wantErr: "node 1 is in both"},
		{name: "observers without voters", overrides: []string{"controller.quorum.observers=1@a:9093"}, wantErr: "controller.quorum.observers needs controller.quorum.voters"},
		{name: "repeated voter", overrides: []string{"controller.quorum.voters=1@a:1,1@b:1"}, wantErr: "controller.quorum.voters: voter 1 repeated"},
		{name: "message bigger than request", overrides: []string{"message.max.bytes=200000000"}, wantErr: "message.max.bytes (200000000) exceeds socket.request.max.bytes (104857600)"},
		{name: "fetch wait beyond lag", overrides: []string{"replica.lag.time.max.ms=100", "replica.fetch.wait.max.ms=200"}, wantErr: "replica.fetch.wait.max.ms (200) exceeds replica.lag.time.max.ms (100)"},
		{name: "heartbeat beyond session", overrides: []string{"broker.session.timeout.ms=1000", "broker.heartbeat.interval.ms=2000"}, wantErr: "broker.heartbeat.interval.ms (2000) exceeds broker.session.timeout.ms (1000)"},
		{name: "group min beyond max", overrides: []string{"group.min.session.timeout.ms=10000", "group.max.session.timeout.ms=5000"}, wantErr: "group.min.session.timeout.ms (10000) exceeds group.max.session.timeout.ms (5000)"},
		{name: "not key=value", overrides: []string{"num.partitions"}, wantErr: `override "num.partitions" is not key=value`},
		{name: "file line not key=value", file: badLine, wantErr: `line 2: "just-a-word" is not key=value`},
		{name: "missing file", file: filepath.Join(dir, "nope"), wantErr: "no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := Load(tc.file, tc.env, tc.overrides)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("got %v, want error containing %q", err, tc.wantErr)
			}
			if !strings.HasPrefix(err.Error(), "config: ") {
				t.Fatalf("%v: want the config: prefix", err)
			}
		})
	}
}

// TestValidateChangedConfig: a Config changed after Load (as tests and
// embedders do) is checked again by Validate, naming the key.
func TestValidateChangedConfig(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		change  func(*Config)
		wantErr string
	}{
		{func(c *Config) { c.Log.Dir = "" }, "log.dirs: must name a directory"},
		{func(c *Config) { c.Log.CleanerBackoff = 0 }, "log.cleaner.backoff.ms: must be positive"},
		{func(c *Config) { c.Log.RetentionCheckInterval = -1 }, "log.retention.check.interval.ms: must be positive"},
		{func(c *Config) { c.Socket.QueuedMaxRequests = 0 }, "queued.max.requests: must be positive"},
		{func(c *Config) { c.Groups.OffsetsTopicPartitions = 0 }, "offsets.topic.num.partitions: must be positive"},
		{func(c *Config) { c.Cluster.InterBrokerListener = "" }, `inter.broker.listener.name: "" is not a client listener`},
	} {
		c := DefaultConfig()
		if err := c.Validate(); err != nil {
			t.Fatal(err)
		}
		tc.change(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("got %v, want error containing %q", err, tc.wantErr)
		}
	}
}

// TestDescribeConfigsListsEveryKey: DescribeConfigs of the broker reads
// the key table, so every key is described, set ones as static.
func TestDescribeConfigsListsEveryKey(t *testing.T) {
	t.Parallel()
	b := startBroker(t, "num.partitions=3")
	rcs, err := b.admin().DescribeBrokerConfigs(context.Background(), b.srv.cfg.NodeID)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, c := range rcs[0].Configs {
		got[c.Key] = true
		if d, _ := configDefByName(c.Key); d.name != c.Key {
			t.Errorf("described %s, not in the key table", c.Key)
		}
		if static := c.Source == kmsg.ConfigSourceStaticBrokerConfig; static != (c.Key == "num.partitions" || c.Key == "listeners" || c.Key == "log.dirs") {
			t.Errorf("%s: source %v", c.Key, c.Source)
		}
	}
	for _, d := range configDefs {
		if !got[d.name] {
			t.Errorf("%s not described", d.name)
		}
	}
}

// TestConfigRoles loads the process.roles a node may have: a combined
// node in either order, a broker-only observer and a controller-only
// voter.
func TestConfigRoles(t *testing.T) {
	t.Parallel()
	observer := []string{"node.id=3", "listeners=PLAINTEXT://:9092,CONTROLLER://:9093", "controller.quorum.voters=1@a:9093,2@b:9093", "controller.quorum.observers=3@c:9093"}
	voter := []string{"node.id=2", "listeners=PLAINTEXT://:9092,CONTROLLER://:9093", "controller.quorum.voters=1@a:9093,2@b:9093", "controller.quorum.observers=3@c:9093"}
	for _, tc := range []struct {
		roles          string
		quorum         []string
		brokerOnly     bool
		controllerOnly bool
	}{
		{"broker,controller", observer, false, false},
		{"controller, broker", observer, false, false},
		{"broker", observer, true, false},
		{"controller", voter, false, true},
	} {
		t.Run(tc.roles, func(t *testing.T) {
			t.Parallel()
			c, err := Load("", nil, append([]string{"process.roles=" + tc.roles}, tc.quorum...))
			if err != nil {
				t.Fatal(err)
			}
			if c.Cluster.BrokerOnly != tc.brokerOnly || c.Cluster.ControllerOnly != tc.controllerOnly {
				t.Fatalf("BrokerOnly = %v, ControllerOnly = %v, want %v, %v", c.Cluster.BrokerOnly, c.Cluster.ControllerOnly, tc.brokerOnly, tc.controllerOnly)
			}
		})
	}
}
