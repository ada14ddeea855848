package controller

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// ConfigType is a config's type, numbered as DescribeConfigs v3+ reports
// it (config_type field).
type ConfigType int8

// Config types (DescribeConfigsResponse config_type codes).
const (
	ConfigTypeUnknown  ConfigType = 0
	ConfigTypeBoolean  ConfigType = 1
	ConfigTypeString   ConfigType = 2
	ConfigTypeInt      ConfigType = 3
	ConfigTypeShort    ConfigType = 4
	ConfigTypeLong     ConfigType = 5
	ConfigTypeDouble   ConfigType = 6
	ConfigTypeList     ConfigType = 7
	ConfigTypeClass    ConfigType = 8
	ConfigTypePassword ConfigType = 9
)

func (t ConfigType) String() string {
	switch t {
	case ConfigTypeBoolean:
		return "boolean"
	case ConfigTypeString:
		return "string"
	case ConfigTypeInt:
		return "int"
	case ConfigTypeShort:
		return "short"
	case ConfigTypeLong:
		return "long"
	case ConfigTypeDouble:
		return "double"
	case ConfigTypeList:
		return "list"
	case ConfigTypeClass:
		return "class"
	case ConfigTypePassword:
		return "password"
	}
	return "unknown"
}

// ConfigDef describes one topic-level config.
type ConfigDef struct {
	Name string
	Type ConfigType
	// Default is Kafka's built-in default, formatted as Kafka reports it.
	Default string
	// BrokerKey is the broker-level config supplying the default when the
	// topic does not set the key (DescribeConfigs source
	// DEFAULT_BROKER_CONFIG / STATIC_BROKER_CONFIG); "" when none.
	BrokerKey string
	// BrokerSynonyms lists every broker-level synonym in priority order
	// (BrokerSynonyms[0] == BrokerKey), e.g. log.retention.ms,
	// log.retention.minutes, log.retention.hours. Units differ for the
	// minutes/hours forms; converting them is the caller's job.
	BrokerSynonyms []string
	Sensitive      bool
	// ValidValues is a human-readable description of the accepted values
	// ("[1,...]", "[delete, compact]"), "" when anything of Type goes.
	ValidValues string
	Doc         string

	check func(string) error
	// kafka4Min, when set, is the higher lower bound Kafka 4 enforces
	// where Kafka 3.x accepted less: values in between are accepted, with
	// a warning in the log (see TopicConfigWarnings).
	kafka4Min int64
}

// Validate checks value (as a client sends it) against the key's type and
// range. The error wraps ErrInvalidConfig and names the key.
func (d ConfigDef) Validate(value string) error {
	if err := d.check(value); err != nil {
		return fmt.Errorf("%w: invalid value %q for configuration %s: %v", ErrInvalidConfig, value, d.Name, err)
	}
	return nil
}

// IsList reports whether APPEND and SUBTRACT apply to the key.
func (d ConfigDef) IsList() bool { return d.Type == ConfigTypeList }

// Values of the enumerated configs.
var (
	cleanupPolicies   = []string{"compact", "delete"}
	compressionTypes  = []string{"uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"}
	timestampTypes    = []string{"CreateTime", "LogAppendTime"}
	errNotInt         = errors.New("not a number of type int")
	errNotLong        = errors.New("not a number of type long")
	errNotDouble      = errors.New("not a number of type double")
	errNotBool        = errors.New("expected value to be either true or false")
	errThrottledValue = errors.New("must be the wildcard '*' or a list of partitionId:brokerId pairs")
)

const (
	maxLongStr = "9223372036854775807"
	anyLong    = math.MinInt64
)

// Value checkers, mirroring Java's ConfigDef parsing: values are trimmed,
// numbers must fit the Java type, ranges are inclusive.

func checkBool(v string) error {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "true", "false":
		return nil
	}
	return errNotBool
}

func intAtLeast(lo int64) func(string) error { return intBetween(lo, math.MaxInt32) }

func intBetween(lo, hi int64) func(string) error {
	return func(v string) error {
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 32)
		if err != nil {
			return errNotInt
		}
		if n < lo || n > hi {
			return rangeErr(lo, hi, math.MaxInt32)
		}
		return nil
	}
}

func longAtLeast(lo int64) func(string) error {
	return func(v string) error {
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil {
			return errNotLong
		}
		if n < lo {
			return rangeErr(lo, math.MaxInt64, math.MaxInt64)
		}
		return nil
	}
}

func rangeErr(lo, hi, typeMax int64) error {
	if hi == typeMax {
		return fmt.Errorf("value must be at least %d", lo)
	}
	return fmt.Errorf("value must be between %d and %d", lo, hi)
}

func doubleBetween(lo, hi float64) func(string) error {
	return func(v string) error {
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || math.IsNaN(f) {
			return errNotDouble
		}
		if f < lo || f > hi {
			return fmt.Errorf("value must be between %g and %g", lo, hi)
		}
		return nil
	}
}

func stringIn(valid []string) func(string) error {
	return func(v string) error {
		if slices.Contains(valid, strings.TrimSpace(v)) {
			return nil
		}
		return fmt.Errorf("string must be one of: %s", strings.Join(valid, ", "))
	}
}

func listIn(valid []string) func(string) error {
	return func(v string) error {
		for _, item := range splitList(v) {
			if !slices.Contains(valid, item) {
				return fmt.Errorf("%q is not one of: %s", item, strings.Join(valid, ", "))
			}
		}
		return nil
	}
}

// checkGzipLevel: -1 (library default) or 1..9.
func checkGzipLevel(v string) error {
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 32)
	if err != nil {
		return errNotInt
	}
	if n == -1 || (n >= 1 && n <= 9) {
		return nil
	}
	return errors.New("value must be -1 or between 1 and 9")
}

// checkThrottledReplicas: "*" or comma-separated partition:broker pairs.
func checkThrottledReplicas(v string) error {
	items := splitList(v)
	if len(items) == 1 && items[0] == "*" {
		return nil
	}
	for _, it := range items {
		p, b, ok := strings.Cut(it, ":")
		if !ok || !allDigits(p) || !allDigits(b) {
			return errThrottledValue
		}
	}
	return nil
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func anyString(string) error { return nil }

// splitList parses a Kafka LIST value: comma-separated, items trimmed, an
// empty (or all-blank) value is the empty list.
func splitList(v string) []string {
	if strings.TrimSpace(v) == "" {
		return nil
	}
	parts := strings.Split(v, ",")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	return parts
}

// topicConfigDefs is the registry, built once; values follow Apache Kafka
// 4.x LogConfig (plus two keys removed in 4.0 that 3.x clients still send).
var topicConfigDefs = buildTopicConfigDefs()

func buildTopicConfigDefs() map[string]ConfigDef {
	syn := func(keys ...string) []string { return keys }
	defs := []ConfigDef{
		{Name: "cleanup.policy", Type: ConfigTypeList, Default: "delete", BrokerSynonyms: syn("log.cleanup.policy"),
			ValidValues: "[compact, delete]", check: listIn(cleanupPolicies),
			Doc: "Retention policy for old log segments: \"delete\" by time/size, \"compact\" keeps the latest value per key, or both."},
		{Name: "compression.type", Type: ConfigTypeString, Default: "producer", BrokerSynonyms: syn("compression.type"),
			ValidValues: "[uncompressed, zstd, lz4, snappy, gzip, producer]", check: stringIn(compressionTypes),
			Doc: "Final compression codec of the topic; \"producer\" keeps the codec the producer used."},
		{Name: "compression.gzip.level", Type: ConfigTypeInt, Default: "-1", BrokerSynonyms: syn("compression.gzip.level"),
			ValidValues: "[1,...,9] or -1", check: checkGzipLevel,
			Doc: "Compression level used when compression.type is gzip."},
		{Name: "compression.lz4.level", Type: ConfigTypeInt, Default: "9", BrokerSynonyms: syn("compression.lz4.level"),
			ValidValues: "[1,...,17]", check: intBetween(1, 17),
			Doc: "Compression level used when compression.type is lz4."},
		{Name: "compression.zstd.level", Type: ConfigTypeInt, Default: "3", BrokerSynonyms: syn("compression.zstd.level"),
			ValidValues: "[-131072,...,22]", check: intBetween(-131072, 22),
			Doc: "Compression level used when compression.type is zstd."},
		{Name: "delete.retention.ms", Type: ConfigTypeLong, Default: "86400000", BrokerSynonyms: syn("log.cleaner.delete.retention.ms"),
			ValidValues: "[0,...]", check: longAtLeast(0),
			Doc: "How long delete tombstones are retained on compacted topics."},
		{Name: "file.delete.delay.ms", Type: ConfigTypeLong, Default: "60000", BrokerSynonyms: syn("log.segment.delete.delay.ms"),
			ValidValues: "[0,...]", check: longAtLeast(0),
			Doc: "Time to wait before deleting a file from the filesystem."},
		{Name: "flush.messages", Type: ConfigTypeLong, Default: maxLongStr, BrokerSynonyms: syn("log.flush.interval.messages"),
			ValidValues: "[1,...]", check: longAtLeast(1),
			Doc: "Number of messages written between forced fsyncs of the log."},
		{Name: "flush.ms", Type: ConfigTypeLong, Default: maxLongStr, BrokerSynonyms: syn("log.flush.interval.ms", "log.flush.scheduler.interval.ms"),
			ValidValues: "[0,...]", check: longAtLeast(0),
			Doc: "Time between forced fsyncs of the log."},
		{Name: "follower.replication.throttled.replicas", Type: ConfigTypeList, Default: "",
			ValidValues: "[partitionId]:[brokerId],[partitionId]:[brokerId],...", check: checkThrottledReplicas,
			Doc: "Replicas whose log replication is throttled on the follower side, or the wildcard '*'."},
		{Name: "index.interval.bytes", Type: ConfigTypeInt, Default: "4096", BrokerSynonyms: syn("log.index.interval.bytes"),
			ValidValues: "[0,...]", check: intAtLeast(0),
			Doc: "How often (in bytes of log) an offset index entry is added."},
		{Name: "leader.replication.throttled.replicas", Type: ConfigTypeList, Default: "",
			ValidValues: "[partitionId]:[brokerId],[partitionId]:[brokerId],...", check: checkThrottledReplicas,
			Doc: "Replicas whose log replication is throttled on the leader side, or the wildcard '*'."},
		{Name: "local.retention.bytes", Type: ConfigTypeLong, Default: "-2", BrokerSynonyms: syn("log.local.retention.bytes"),
			ValidValues: "[-2,...]", check: longAtLeast(-2),
			Doc: "Bytes a partition keeps locally before deleting segments copied to remote storage; -2 means retention.bytes."},
		{Name: "local.retention.ms", Type: ConfigTypeLong, Default: "-2", BrokerSynonyms: syn("log.local.retention.ms"),
			ValidValues: "[-2,...]", check: longAtLeast(-2),
			Doc: "Time a segment is kept locally before deletion once copied to remote storage; -2 means retention.ms."},
		{Name: "max.compaction.lag.ms", Type: ConfigTypeLong, Default: maxLongStr, BrokerSynonyms: syn("log.cleaner.max.compaction.lag.ms"),
			ValidValues: "[1,...]", check: longAtLeast(1),
			Doc: "Maximum time a message stays ineligible for compaction."},
		{Name: "max.message.bytes", Type: ConfigTypeInt, Default: "1048588", BrokerSynonyms: syn("message.max.bytes"),
			ValidValues: "[0,...]", check: intAtLeast(0),
			Doc: "Largest record batch size allowed, after compression."},
		{Name: "message.downconversion.enable", Type: ConfigTypeBoolean, Default: "true", BrokerSynonyms: syn("log.message.downconversion.enable"),
			check: checkBool,
			Doc:   "Whether Fetch v0-v3 (consumers from before Kafka 0.11) are served down-converted message sets; false answers them UNSUPPORTED_VERSION."},
		{Name: "message.timestamp.after.max.ms", Type: ConfigTypeLong, Default: "3600000", BrokerSynonyms: syn("log.message.timestamp.after.max.ms"),
			ValidValues: "[0,...]", check: longAtLeast(0),
			Doc: "Maximum amount a CreateTime message timestamp may be ahead of the broker's clock."},
		{Name: "message.timestamp.before.max.ms", Type: ConfigTypeLong, Default: maxLongStr, BrokerSynonyms: syn("log.message.timestamp.before.max.ms"),
			ValidValues: "[0,...]", check: longAtLeast(0),
			Doc: "Maximum amount a CreateTime message timestamp may be behind the broker's clock."},
		{Name: "message.timestamp.difference.max.ms", Type: ConfigTypeLong, Default: maxLongStr, BrokerSynonyms: syn("log.message.timestamp.difference.max.ms"),
			ValidValues: "[0,...]", check: longAtLeast(0),
			Doc: "Deprecated (removed in Kafka 4.0): maximum difference between a CreateTime timestamp and the broker clock."},
		{Name: "message.timestamp.type", Type: ConfigTypeString, Default: "CreateTime", BrokerSynonyms: syn("log.message.timestamp.type"),
			ValidValues: "[CreateTime, LogAppendTime]", check: stringIn(timestampTypes),
			Doc: "Whether record timestamps are the producer's create time or the broker's append time."},
		{Name: "min.cleanable.dirty.ratio", Type: ConfigTypeDouble, Default: "0.5", BrokerSynonyms: syn("log.cleaner.min.cleanable.ratio"),
			ValidValues: "[0,...,1]", check: doubleBetween(0, 1),
			Doc: "Dirty-to-total log ratio at which the compactor cleans a log."},
		{Name: "min.compaction.lag.ms", Type: ConfigTypeLong, Default: "0", BrokerSynonyms: syn("log.cleaner.min.compaction.lag.ms"),
			ValidValues: "[0,...]", check: longAtLeast(0),
			Doc: "Minimum time a message stays uncompacted in the log."},
		{Name: "min.insync.replicas", Type: ConfigTypeInt, Default: "1", BrokerSynonyms: syn("min.insync.replicas"),
			ValidValues: "[1,...]", check: intAtLeast(1),
			Doc: "Minimum in-sync replicas that must acknowledge an acks=all write."},
		{Name: "preallocate", Type: ConfigTypeBoolean, Default: "false", BrokerSynonyms: syn("log.preallocate"),
			check: checkBool,
			Doc:   "Whether to preallocate the file on disk when creating a new log segment."},
		{Name: "remote.log.copy.disable", Type: ConfigTypeBoolean, Default: "false",
			check: checkBool,
			Doc:   "Stop copying segments to remote storage while keeping already tiered data readable."},
		{Name: "remote.log.delete.on.disable", Type: ConfigTypeBoolean, Default: "false",
			check: checkBool,
			Doc:   "Delete remote data when tiered storage is disabled for the topic."},
		{Name: "remote.storage.enable", Type: ConfigTypeBoolean, Default: "false",
			check: checkBool,
			Doc:   "Whether tiered storage is enabled for the topic."},
		{Name: "retention.bytes", Type: ConfigTypeLong, Default: "-1", BrokerSynonyms: syn("log.retention.bytes"),
			check: longAtLeast(anyLong),
			Doc:   "Maximum size a partition can grow to before old segments are deleted; -1 is unlimited."},
		{Name: "retention.ms", Type: ConfigTypeLong, Default: "604800000", BrokerSynonyms: syn("log.retention.ms", "log.retention.minutes", "log.retention.hours"),
			ValidValues: "[-1,...]", check: longAtLeast(-1),
			Doc: "Maximum time a log segment is retained before deletion; -1 is unlimited."},
		{Name: "segment.bytes", Type: ConfigTypeInt, Default: "1073741824", BrokerSynonyms: syn("log.segment.bytes"),
			ValidValues: "[14,...]", check: intAtLeast(14), kafka4Min: 1024 * 1024,
			Doc: "Size of a single log segment file (Kafka 3.x's lower bound, 14; Kafka 4 requires 1048576)."},
		{Name: "segment.index.bytes", Type: ConfigTypeInt, Default: "10485760", BrokerSynonyms: syn("log.index.size.max.bytes"),
			ValidValues: "[4,...]", check: intAtLeast(4),
			Doc: "Size of the index mapping offsets to file positions."},
		{Name: "segment.jitter.ms", Type: ConfigTypeLong, Default: "0", BrokerSynonyms: syn("log.roll.jitter.ms", "log.roll.jitter.hours"),
			ValidValues: "[0,...]", check: longAtLeast(0),
			Doc: "Maximum random jitter subtracted from segment.ms to avoid thundering herds of segment rolls."},
		{Name: "segment.ms", Type: ConfigTypeLong, Default: "604800000", BrokerSynonyms: syn("log.roll.ms", "log.roll.hours"),
			ValidValues: "[1,...]", check: longAtLeast(1),
			Doc: "Time after which the active segment is rolled even if not full."},
		{Name: "unclean.leader.election.enable", Type: ConfigTypeBoolean, Default: "false", BrokerSynonyms: syn("unclean.leader.election.enable"),
			check: checkBool,
			Doc:   "Whether replicas outside the ISR may be elected leader as a last resort, at the risk of data loss."},
	}
	m := make(map[string]ConfigDef, len(defs))
	for _, d := range defs {
		if len(d.BrokerSynonyms) > 0 {
			d.BrokerKey = d.BrokerSynonyms[0]
		}
		if d.check == nil {
			d.check = anyString
		}
		m[d.Name] = d
	}
	return m
}

// TopicConfigDefs returns every known topic config, sorted by name. The
// slice is the caller's.
func TopicConfigDefs() []ConfigDef {
	out := make([]ConfigDef, 0, len(topicConfigDefs))
	for _, d := range topicConfigDefs {
		d.BrokerSynonyms = slices.Clone(d.BrokerSynonyms)
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// LookupTopicConfig returns the definition of a topic config key.
func LookupTopicConfig(name string) (ConfigDef, bool) {
	d, ok := topicConfigDefs[name]
	if ok {
		d.BrokerSynonyms = slices.Clone(d.BrokerSynonyms)
	}
	return d, ok
}

// ValidateTopicConfigs checks a topic's explicitly set configs: every key
// must be known and every value valid, and the set must be consistent
// (min.compaction.lag.ms <= max.compaction.lag.ms, defaults filling in).
// Errors wrap ErrInvalidConfig and name the key. Keys are checked in
// sorted order so the error is deterministic.
func ValidateTopicConfigs(m map[string]string) error {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		d, ok := topicConfigDefs[k]
		if !ok {
			return fmt.Errorf("%w: unknown topic config name: %s", ErrInvalidConfig, k)
		}
		if err := d.Validate(m[k]); err != nil {
			return err
		}
	}
	minLag := configLong(m, "min.compaction.lag.ms")
	maxLag := configLong(m, "max.compaction.lag.ms")
	if minLag > maxLag {
		return fmt.Errorf("%w: conflict topic config setting min.compaction.lag.ms (%d) > max.compaction.lag.ms (%d)",
			ErrInvalidConfig, minLag, maxLag)
	}
	return nil
}

// TopicConfigWarnings names the valid settings of m that Kafka 4 would
// refuse (below the minimum it raised, e.g. segment.bytes under 1 MiB),
// as "key=value (Kafka 4 minimum N)", in key order.
func TopicConfigWarnings(m map[string]string) []string {
	var out []string
	for k, v := range m {
		d, ok := topicConfigDefs[k]
		if !ok || d.kafka4Min == 0 {
			continue
		}
		if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil && n < d.kafka4Min {
			out = append(out, fmt.Sprintf("%s=%d (Kafka 4 minimum %d)", k, n, d.kafka4Min))
		}
	}
	sort.Strings(out)
	return out
}

// configLong returns a validated LONG key's value, or its default.
func configLong(m map[string]string, key string) int64 {
	v, ok := m[key]
	if !ok {
		v = topicConfigDefs[key].Default
	}
	n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	return n
}
