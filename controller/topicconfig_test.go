package controller

import (
	"maps"
	"slices"
	"sort"
	"testing"
)

func TestTopicConfigDefs(t *testing.T) {
	t.Parallel()
	defs := TopicConfigDefs()
	if !sort.SliceIsSorted(defs, func(i, j int) bool { return defs[i].Name < defs[j].Name }) {
		t.Fatal("TopicConfigDefs not sorted")
	}
	required := []string{"cleanup.policy", "compression.type", "delete.retention.ms", "file.delete.delay.ms",
		"flush.messages", "flush.ms", "index.interval.bytes", "max.compaction.lag.ms", "max.message.bytes",
		"message.timestamp.type", "message.timestamp.difference.max.ms", "message.timestamp.before.max.ms",
		"message.timestamp.after.max.ms", "min.cleanable.dirty.ratio", "min.compaction.lag.ms",
		"min.insync.replicas", "preallocate", "retention.bytes", "retention.ms", "segment.bytes",
		"segment.index.bytes", "segment.jitter.ms", "segment.ms", "unclean.leader.election.enable",
		"message.downconversion.enable", "local.retention.ms", "local.retention.bytes", "remote.storage.enable"}
	for _, name := range required {
		if _, ok := LookupTopicConfig(name); !ok {
			t.Errorf("missing %s", name)
		}
	}
	for _, d := range defs {
		if d.Doc == "" || d.Type == ConfigTypeUnknown || d.Sensitive {
			t.Errorf("%s: incomplete definition %+v", d.Name, d)
		}
		// Every default must pass its own validator.
		if err := d.Validate(d.Default); err != nil {
			t.Errorf("%s: default %q invalid: %v", d.Name, d.Default, err)
		}
		if len(d.BrokerSynonyms) > 0 && d.BrokerKey != d.BrokerSynonyms[0] {
			t.Errorf("%s: BrokerKey %q != first synonym", d.Name, d.BrokerKey)
		}
	}
	for topic, broker := range map[string]string{
		"retention.ms": "log.retention.ms", "segment.bytes": "log.segment.bytes",
		"cleanup.policy": "log.cleanup.policy", "max.message.bytes": "message.max.bytes",
		"min.insync.replicas": "min.insync.replicas", "message.timestamp.type": "log.message.timestamp.type",
		"compression.type": "compression.type", "segment.ms": "log.roll.ms", "remote.storage.enable": "",
	} {
		if d, _ := LookupTopicConfig(topic); d.BrokerKey != broker {
			t.Errorf("%s: BrokerKey %q, want %q", topic, d.BrokerKey, broker)
		}
	}
	// Returned definitions are copies.
	d, _ := LookupTopicConfig("retention.ms")
	d.BrokerSynonyms[0] = "mutated"
	if d2, _ := LookupTopicConfig("retention.ms"); d2.BrokerKey != "log.retention.ms" || d2.BrokerSynonyms[0] != "log.retention.ms" {
		t.Fatal("LookupTopicConfig exposes shared state")
	}
	if _, ok := LookupTopicConfig("bogus"); ok {
		t.Fatal("bogus key found")
	}
}

func TestValidateTopicConfigs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		m    map[string]string
		ok   bool
		sub  string
	}{
		{"empty", nil, true, ""},
		{"unknown", map[string]string{"retention.msec": "1"}, false, "retention.msec"},
		{"broker key is not a topic key", map[string]string{"log.retention.ms": "1"}, false, "log.retention.ms"},
		{"retention -1", map[string]string{"retention.ms": "-1"}, true, ""},
		{"retention -2", map[string]string{"retention.ms": "-2"}, false, "retention.ms"},
		{"retention not a number", map[string]string{"retention.ms": "1d"}, false, "retention.ms"},
		{"retention spaces", map[string]string{"retention.ms": " 100 "}, true, ""},
		{"retention.bytes negative", map[string]string{"retention.bytes": "-12345"}, true, ""},
		{"segment.bytes too small", map[string]string{"segment.bytes": "13"}, false, "segment.bytes"},
		{"segment.bytes Kafka 3.x min", map[string]string{"segment.bytes": "14"}, true, ""},
		{"segment.bytes kafka-go's 200", map[string]string{"segment.bytes": "200"}, true, ""},
		{"segment.bytes overflows int", map[string]string{"segment.bytes": "2147483648"}, false, "segment.bytes"},
		{"segment.ms zero", map[string]string{"segment.ms": "0"}, false, "segment.ms"},
		{"max.message.bytes", map[string]string{"max.message.bytes": "10485760"}, true, ""},
		{"min.insync 0", map[string]string{"min.insync.replicas": "0"}, false, "min.insync.replicas"},
		{"cleanup compact,delete", map[string]string{"cleanup.policy": "compact, delete"}, true, ""},
		{"cleanup bad", map[string]string{"cleanup.policy": "compact,forever"}, false, "cleanup.policy"},
		{"cleanup case", map[string]string{"cleanup.policy": "Compact"}, false, "cleanup.policy"},
		{"compression zstd", map[string]string{"compression.type": "zstd"}, true, ""},
		{"compression none", map[string]string{"compression.type": "none"}, false, "compression.type"},
		{"gzip level -1", map[string]string{"compression.gzip.level": "-1"}, true, ""},
		{"gzip level 0", map[string]string{"compression.gzip.level": "0"}, false, "compression.gzip.level"},
		{"zstd level", map[string]string{"compression.zstd.level": "-5"}, true, ""},
		{"timestamp type", map[string]string{"message.timestamp.type": "LogAppendTime"}, true, ""},
		{"timestamp type bad", map[string]string{"message.timestamp.type": "logappendtime"}, false, "message.timestamp.type"},
		{"ratio", map[string]string{"min.cleanable.dirty.ratio": "0.01"}, true, ""},
		{"ratio > 1", map[string]string{"min.cleanable.dirty.ratio": "1.5"}, false, "min.cleanable.dirty.ratio"},
		{"ratio NaN", map[string]string{"min.cleanable.dirty.ratio": "NaN"}, false, "min.cleanable.dirty.ratio"},
		{"bool", map[string]string{"preallocate": "TRUE"}, true, ""},
		{"bool bad", map[string]string{"unclean.leader.election.enable": "yes"}, false, "unclean.leader.election.enable"},
		{"local retention -2", map[string]string{"local.retention.ms": "-2"}, true, ""},
		{"local retention -3", map[string]string{"local.retention.bytes": "-3"}, false, "local.retention.bytes"},
		{"throttled wildcard", map[string]string{"leader.replication.throttled.replicas": "*"}, true, ""},
		{"throttled pairs", map[string]string{"follower.replication.throttled.replicas": "0:1,1:2"}, true, ""},
		{"throttled bad", map[string]string{"follower.replication.throttled.replicas": "0-1"}, false, "follower.replication.throttled.replicas"},
		{"compaction lag conflict", map[string]string{"min.compaction.lag.ms": "10", "max.compaction.lag.ms": "5"}, false, "min.compaction.lag.ms"},
		{"compaction lag ok", map[string]string{"min.compaction.lag.ms": "5", "max.compaction.lag.ms": "5"}, true, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := ValidateTopicConfigs(tc.m)
			if tc.ok {
				wantErr(t, err, nil, "")
			} else {
				wantErr(t, err, ErrInvalidConfig, tc.sub)
			}
		})
	}
}

func TestAlterTopicConfigs(t *testing.T) {
	t.Parallel()
	type step struct {
		ops         []ConfigOp
		incremental bool
		validate    bool
		wantErr     error
		errSub      string
		want        map[string]string
	}
	tests := []struct {
		name    string
		initial map[string]string
		steps   []step
	}{
		{name: "legacy replace", initial: map[string]string{"retention.ms": "1", "segment.ms": "2"}, steps: []step{
			{ops: []ConfigOp{{Name: "cleanup.policy", Value: ptr("compact")}}, want: map[string]string{"cleanup.policy": "compact"}},
			{ops: nil, want: map[string]string{}},
		}},
		{name: "legacy nil value unsets", initial: map[string]string{"retention.ms": "1"}, steps: []step{
			{ops: []ConfigOp{{Name: "retention.ms"}, {Name: "segment.ms", Value: ptr("9")}}, want: map[string]string{"segment.ms": "9"}},
		}},
		{name: "set and delete", initial: map[string]string{"retention.ms": "1", "segment.ms": "2"}, steps: []step{
			{incremental: true, ops: []ConfigOp{{Name: "retention.ms", Op: OpSet, Value: ptr("100")}, {Name: "segment.ms", Op: OpDelete}},
				want: map[string]string{"retention.ms": "100"}},
			{incremental: true, ops: []ConfigOp{{Name: "segment.ms", Op: OpDelete}}, want: map[string]string{"retention.ms": "100"}},
		}},
		{name: "append from default", steps: []step{
			{incremental: true, ops: []ConfigOp{{Name: "cleanup.policy", Op: OpAppend, Value: ptr("compact")}}, want: map[string]string{"cleanup.policy": "delete,compact"}},
			{incremental: true, ops: []ConfigOp{{Name: "cleanup.policy", Op: OpAppend, Value: ptr("compact,delete")}}, want: map[string]string{"cleanup.policy": "delete,compact"}},
			{incremental: true, ops: []ConfigOp{{Name: "cleanup.policy", Op: OpSubtract, Value: ptr("delete")}}, want: map[string]string{"cleanup.policy": "compact"}},
			{incremental: true, ops: []ConfigOp{{Name: "cleanup.policy", Op: OpSubtract, Value: ptr("compact")}}, want: map[string]string{"cleanup.policy": ""}},
		}},
		{name: "append throttled", steps: []step{
			{incremental: true, ops: []ConfigOp{{Name: "leader.replication.throttled.replicas", Op: OpAppend, Value: ptr("0:1")}},
				want: map[string]string{"leader.replication.throttled.replicas": "0:1"}},
			{incremental: true, ops: []ConfigOp{{Name: "leader.replication.throttled.replicas", Op: OpAppend, Value: ptr("1:2")}},
				want: map[string]string{"leader.replication.throttled.replicas": "0:1,1:2"}},
		}},
		{name: "errors leave state", initial: map[string]string{"retention.ms": "1"}, steps: []step{
			{incremental: true, ops: []ConfigOp{{Name: "retention.ms", Op: OpAppend, Value: ptr("2")}}, wantErr: ErrInvalidConfig, errSub: "retention.ms"},
			{incremental: true, ops: []ConfigOp{{Name: "bogus", Op: OpDelete}}, wantErr: ErrInvalidConfig, errSub: "bogus"},
			{incremental: true, ops: []ConfigOp{{Name: "retention.ms", Op: OpSet}}, wantErr: ErrInvalidConfig, errSub: "retention.ms"},
			{incremental: true, ops: []ConfigOp{{Name: "retention.ms", Op: 7, Value: ptr("1")}}, wantErr: ErrInvalidRequest},
			{incremental: true, ops: []ConfigOp{{Name: "segment.ms", Op: OpSet, Value: ptr("1")}, {Name: "segment.ms", Op: OpDelete}}, wantErr: ErrInvalidRequest, errSub: "duplicate"},
			{incremental: true, ops: []ConfigOp{{Name: "segment.ms", Op: OpSet, Value: ptr("1")}, {Name: "segment.bytes", Op: OpSet, Value: ptr("1")}}, wantErr: ErrInvalidConfig, errSub: "segment.bytes"},
			{ops: []ConfigOp{{Name: "cleanup.policy", Value: ptr("never")}}, wantErr: ErrInvalidConfig, errSub: "cleanup.policy"},
			{incremental: true, ops: []ConfigOp{{Name: "min.compaction.lag.ms", Op: OpSet, Value: ptr("10")}, {Name: "max.compaction.lag.ms", Op: OpSet, Value: ptr("5")}}, wantErr: ErrInvalidConfig},
			{want: nil},
		}},
		{name: "validate only", initial: map[string]string{"retention.ms": "1"}, steps: []step{
			{incremental: true, validate: true, ops: []ConfigOp{{Name: "retention.ms", Op: OpSet, Value: ptr("2")}}, want: map[string]string{"retention.ms": "1"}},
			{incremental: true, validate: true, ops: []ConfigOp{{Name: "retention.ms", Op: OpSet, Value: ptr("x")}}, wantErr: ErrInvalidConfig},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := openTest(t, "")
			mustCreate(t, c, CreateTopic{Name: "t", Configs: tc.initial})
			for i, st := range tc.steps {
				before := c.Snapshot().Topic("t")
				if st.want == nil && st.ops == nil && st.wantErr == nil {
					if !maps.Equal(before.Configs, tc.initial) && !(len(tc.initial) == 0 && len(before.Configs) == 0) {
						t.Fatalf("step %d: configs %v, want initial %v", i, before.Configs, tc.initial)
					}
					continue
				}
				err := c.AlterTopicConfigs("t", st.ops, st.incremental, st.validate)
				wantErr(t, err, st.wantErr, st.errSub)
				after := c.Snapshot().Topic("t")
				if err != nil {
					if after != before {
						t.Fatalf("step %d: failed alter changed the topic", i)
					}
					continue
				}
				if !maps.Equal(after.Configs, st.want) {
					t.Fatalf("step %d: configs %v, want %v", i, after.Configs, st.want)
				}
				if !slices.EqualFunc(after.Partitions, before.Partitions, partitionEqual) || after.ID != before.ID {
					t.Fatalf("step %d: alter changed partitions or id", i)
				}
			}
		})
	}
	c := openTest(t, "")
	wantErr(t, c.AlterTopicConfigs("missing", nil, true, false), ErrUnknownTopic, "missing")
}

// TestTopicConfigWarnings: values Kafka 3.x accepted but Kafka 4 refuses
// are named; Kafka 4-valid values and other keys are not.
func TestTopicConfigWarnings(t *testing.T) {
	t.Parallel()
	got := TopicConfigWarnings(map[string]string{"segment.bytes": "200", "segment.ms": "1", "retention.ms": "5"})
	if len(got) != 1 || got[0] != "segment.bytes=200 (Kafka 4 minimum 1048576)" {
		t.Fatalf("warnings %q", got)
	}
	if got := TopicConfigWarnings(map[string]string{"segment.bytes": "1048576"}); len(got) != 0 {
		t.Fatalf("warnings %q for Kafka 4's minimum", got)
	}
}
