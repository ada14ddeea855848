package broker

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/controller"
)

// describeBrokerKey returns one key of DescribeConfigs on broker resource
// name, with synonyms.
func describeBrokerKey(t *testing.T, b *testBroker, rt kmsg.ConfigResourceType, name, key string) kmsg.DescribeConfigsResponseResourceConfig {
	t.Helper()
	req := kmsg.NewPtrDescribeConfigsRequest()
	req.IncludeSynonyms = true
	res := kmsg.NewDescribeConfigsRequestResource()
	res.ResourceType, res.ResourceName, res.ConfigNames = rt, name, []string{key}
	req.Resources = append(req.Resources, res)
	resp, err := req.RequestWith(context.Background(), b.client())
	if err != nil {
		t.Fatal(err)
	}
	r := resp.Resources[0]
	if r.ErrorCode != 0 || len(r.Configs) != 1 {
		t.Fatalf("describe %s %q %s: code %d, %d configs", rt, name, key, r.ErrorCode, len(r.Configs))
	}
	return r.Configs[0]
}

// sources lists a described config's synonyms as source:value.
func sources(c kmsg.DescribeConfigsResponseResourceConfig) string {
	var out []string
	for _, s := range c.ConfigSynonyms {
		v := "<nil>"
		if s.Value != nil {
			v = *s.Value
		}
		out = append(out, s.Source.String()+":"+v)
	}
	return strings.Join(out, " ")
}

// TestDynamicBrokerConfigs walks Kafka's precedence (dynamic per-broker >
// dynamic default > static > default) through IncrementalAlterConfigs and
// AlterConfigs, as DescribeConfigs shows it on the broker and on a topic
// without its own setting, and as the topic's open log applies it; and
// the changes Kafka refuses.
func TestDynamicBrokerConfigs(t *testing.T) {
	t.Parallel()
	b := startBroker(t, "log.segment.bytes=2097152")
	ctx := context.Background()
	adm := b.admin()
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "dyn"); err != nil {
		t.Fatal(err)
	}
	self := strconv.Itoa(int(b.srv.cfg.NodeID))
	cl := b.client()
	incr := func(name string, ops ...kadm.AlterConfig) error {
		return incrementalAlterBroker(ctx, cl, b.srv.cfg.NodeID, kmsg.ConfigResourceTypeBroker, name, ops...)
	}
	for _, tc := range []struct {
		name       string
		alter      func() error
		wantErr    error
		wantMsg    string
		key        string // broker key described afterwards
		wantSource kmsg.ConfigSource
		wantChain  string
		wantLog    func(segmentBytes, retentionMs int64) bool // the open log's config
	}{
		{name: "static", alter: func() error { return nil }, key: "log.segment.bytes",
			wantSource: kmsg.ConfigSourceStaticBrokerConfig,
			wantChain:  "STATIC_BROKER_CONFIG:2097152 DEFAULT_CONFIG:1073741824",
			wantLog:    func(sb, _ int64) bool { return sb == 2097152 }},
		{name: "cluster default", key: "log.retention.ms",
			alter: func() error {
				return incr("", kadm.AlterConfig{Name: "log.retention.ms", Value: kmsg.StringPtr("60000")})
			},
			wantSource: kmsg.ConfigSourceDynamicDefaultBrokerConfig,
			wantChain:  "DYNAMIC_DEFAULT_BROKER_CONFIG:60000 DEFAULT_CONFIG:604800000",
			wantLog:    func(_, rm int64) bool { return rm == 60000 }},
		{name: "per broker over default", key: "log.retention.ms",
			alter: func() error {
				return incr(self, kadm.AlterConfig{Name: "log.retention.ms", Value: kmsg.StringPtr("120000")})
			},
			wantSource: kmsg.ConfigSourceDynamicBrokerConfig,
			wantChain:  "DYNAMIC_BROKER_CONFIG:120000 DYNAMIC_DEFAULT_BROKER_CONFIG:60000 DEFAULT_CONFIG:604800000",
			wantLog:    func(_, rm int64) bool { return rm == 120000 }},
		{name: "dynamic over static", key: "log.segment.bytes",
			alter: func() error {
				return incr("", kadm.AlterConfig{Name: "log.segment.bytes", Value: kmsg.StringPtr("3145728")})
			},
			wantSource: kmsg.ConfigSourceDynamicDefaultBrokerConfig,
			wantChain:  "DYNAMIC_DEFAULT_BROKER_CONFIG:3145728 STATIC_BROKER_CONFIG:2097152 DEFAULT_CONFIG:1073741824",
			wantLog:    func(sb, _ int64) bool { return sb == 3145728 }},
		{name: "delete per broker", key: "log.retention.ms",
			alter:      func() error { return incr(self, kadm.AlterConfig{Op: kadm.DeleteConfig, Name: "log.retention.ms"}) },
			wantSource: kmsg.ConfigSourceDynamicDefaultBrokerConfig,
			wantChain:  "DYNAMIC_DEFAULT_BROKER_CONFIG:60000 DEFAULT_CONFIG:604800000",
			wantLog:    func(_, rm int64) bool { return rm == 60000 }},
		{name: "AlterConfigs replaces the default set", key: "log.retention.ms",
			alter: func() error {
				return alterConfigsBroker(ctx, b, "", map[string]string{"log.retention.bytes": "1048576"})
			},
			wantSource: kmsg.ConfigSourceDefaultConfig,
			wantChain:  "DEFAULT_CONFIG:604800000",
			wantLog:    func(sb, rm int64) bool { return rm == 604800000 && sb == 2097152 }},
		{name: "append to a list", key: "log.cleanup.policy",
			alter: func() error {
				return incr("", kadm.AlterConfig{Op: kadm.AppendConfig, Name: "log.cleanup.policy", Value: kmsg.StringPtr("compact")})
			},
			wantSource: kmsg.ConfigSourceDynamicDefaultBrokerConfig,
			wantChain:  "DYNAMIC_DEFAULT_BROKER_CONFIG:delete,compact DEFAULT_CONFIG:delete",
			wantLog:    func(int64, int64) bool { return b.srv.parts.lookup("dyn", 0).log.Config().Compacts() }},
		{name: "append to a non-list", key: "log.retention.ms", wantErr: kerr.InvalidConfig,
			alter: func() error {
				return incr("", kadm.AlterConfig{Op: kadm.AppendConfig, Name: "log.retention.ms", Value: kmsg.StringPtr("1")})
			}},
		{name: "read-only key", key: "log.dirs", wantErr: kerr.InvalidRequest, wantMsg: "Cannot update these configs dynamically: Set(log.dirs)",
			alter: func() error { return incr("", kadm.AlterConfig{Name: "log.dirs", Value: kmsg.StringPtr("/tmp/x")}) }},
		{name: "alias is read-only", key: "log.retention.hours", wantErr: kerr.InvalidRequest, wantMsg: "Cannot update these configs dynamically",
			alter: func() error {
				return incr("", kadm.AlterConfig{Name: "log.retention.hours", Value: kmsg.StringPtr("1")})
			}},
		{name: "unknown key", key: "no.such.key", wantErr: kerr.InvalidRequest, wantMsg: "Unknown broker configs",
			alter: func() error { return incr(self, kadm.AlterConfig{Name: "no.such.key", Value: kmsg.StringPtr("1")}) }},
		{name: "bad value", key: "max.connections", wantErr: kerr.InvalidRequest, wantMsg: "max.connections: not an integer",
			alter: func() error {
				return incr(self, kadm.AlterConfig{Name: "max.connections", Value: kmsg.StringPtr("lots")})
			}},
		{name: "bad broker id", key: "max.connections", wantErr: kerr.InvalidRequest,
			alter: func() error { return incr("x", kadm.AlterConfig{Name: "max.connections", Value: kmsg.StringPtr("5")}) }},
	} {
		err := tc.alter()
		if !errors.Is(err, tc.wantErr) || (err != nil && !strings.Contains(err.Error(), tc.wantMsg)) {
			t.Fatalf("%s: err %v, want %v (%q)", tc.name, err, tc.wantErr, tc.wantMsg)
		}
		if tc.wantErr != nil {
			continue
		}
		c := describeBrokerKey(t, b, kmsg.ConfigResourceTypeBroker, self, tc.key)
		if c.Source != tc.wantSource || sources(c) != tc.wantChain || c.ReadOnly {
			t.Fatalf("%s: %s source %v read-only %v chain %q, want %v %q", tc.name, tc.key, c.Source, c.ReadOnly, sources(c), tc.wantSource, tc.wantChain)
		}
		topicKey := map[string]string{"log.retention.ms": "retention.ms", "log.segment.bytes": "segment.bytes", "log.cleanup.policy": "cleanup.policy"}[tc.key]
		tcfg := describeBrokerKey(t, b, kmsg.ConfigResourceTypeTopic, "dyn", topicKey)
		if tcfg.Source != tc.wantSource || tcfg.Value == nil || *tcfg.Value != *c.Value {
			t.Fatalf("%s: topic %s = %v from %v, want %s from %v", tc.name, topicKey, tcfg.Value, tcfg.Source, *c.Value, tc.wantSource)
		}
		// The open log is reconfigured by the watcher, soon after.
		waitFor(t, tc.name+": the open log's config", 10*time.Second, func() bool {
			p := b.srv.parts.lookup("dyn", 0)
			return p != nil && tc.wantLog(p.log.Config().SegmentBytes, p.log.Config().RetentionMs)
		})
	}
	if c := describeBrokerKey(t, b, kmsg.ConfigResourceTypeBroker, self, "log.dirs"); !c.ReadOnly {
		t.Fatal("log.dirs described as dynamic")
	}
}

// errorOf is a response's error code and message as one error.
type errorOf struct {
	code *kerr.Error
	msg  string
}

func (e *errorOf) Error() string { return e.code.Message + ": " + e.msg }
func (e *errorOf) Unwrap() error { return e.code }

func responseErr(code int16, msg *string) error {
	if code == 0 {
		return nil
	}
	e := &errorOf{code: kerr.ErrorForCode(code).(*kerr.Error)}
	if msg != nil {
		e.msg = *msg
	}
	return e
}

// incrementalAlterBroker sends IncrementalAlterConfigs (44) on one
// broker or broker-logger resource.
func incrementalAlterBroker(ctx context.Context, cl *kgo.Client, node int32, rt kmsg.ConfigResourceType, name string, ops ...kadm.AlterConfig) error {
	req := kmsg.NewPtrIncrementalAlterConfigsRequest()
	res := kmsg.NewIncrementalAlterConfigsRequestResource()
	res.ResourceType, res.ResourceName = rt, name
	for _, op := range ops {
		c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
		c.Name, c.Value, c.Op = op.Name, op.Value, kmsg.IncrementalAlterConfigOp(op.Op)
		res.Configs = append(res.Configs, c)
	}
	req.Resources = append(req.Resources, res)
	// Straight to node: kgo would route a broker logger to the broker it names.
	raw, err := cl.Broker(int(node)).Request(ctx, req)
	if err != nil {
		return err
	}
	resp := raw.(*kmsg.IncrementalAlterConfigsResponse)
	return responseErr(resp.Resources[0].ErrorCode, resp.Resources[0].ErrorMessage)
}

// alterConfigsBroker sends AlterConfigs (33) replacing a broker
// resource's dynamic configs.
func alterConfigsBroker(ctx context.Context, b *testBroker, name string, kv map[string]string) error {
	req := kmsg.NewPtrAlterConfigsRequest()
	res := kmsg.NewAlterConfigsRequestResource()
	res.ResourceType, res.ResourceName = kmsg.ConfigResourceTypeBroker, name
	for k, v := range kv {
		c := kmsg.NewAlterConfigsRequestResourceConfig()
		c.Name, c.Value = k, kmsg.StringPtr(v)
		res.Configs = append(res.Configs, c)
	}
	req.Resources = append(req.Resources, res)
	resp, err := req.RequestWith(ctx, b.client())
	if err != nil {
		return err
	}
	return responseErr(resp.Resources[0].ErrorCode, resp.Resources[0].ErrorMessage)
}

// TestBrokerLoggers: DescribeConfigs lists the root logger, and
// IncrementalAlterConfigs sets its level at run time (events below it are
// dropped) with Kafka's refusals.
func TestBrokerLoggers(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	ctx := context.Background()
	cl := b.client()
	self := strconv.Itoa(int(b.srv.cfg.NodeID))
	if c := describeBrokerKey(t, b, kmsg.ConfigResourceTypeBrokerLogger, self, rootLogger); c.Value == nil ||
		c.Source != kmsg.ConfigSourceDynamicBrokerLoggerConfig {
		t.Fatalf("root logger described as %v from %v", c.Value, c.Source)
	}
	for _, tc := range []struct {
		name      string
		resource  string
		op        kadm.AlterConfig
		wantErr   error
		wantLevel string
	}{
		{name: "set warn", resource: self, op: kadm.AlterConfig{Name: rootLogger, Value: kmsg.StringPtr("WARN")}, wantLevel: "WARN"},
		{name: "set error, any case", resource: self, op: kadm.AlterConfig{Name: rootLogger, Value: kmsg.StringPtr("error")}, wantLevel: "ERROR"},
		{name: "unknown level", resource: self, op: kadm.AlterConfig{Name: rootLogger, Value: kmsg.StringPtr("LOUD")}, wantErr: kerr.InvalidConfig, wantLevel: "ERROR"},
		{name: "unknown logger", resource: self, op: kadm.AlterConfig{Name: "kafka.server", Value: kmsg.StringPtr("INFO")}, wantErr: kerr.InvalidConfig, wantLevel: "ERROR"},
		{name: "delete root", resource: self, op: kadm.AlterConfig{Op: kadm.DeleteConfig, Name: rootLogger}, wantErr: kerr.InvalidConfig, wantLevel: "ERROR"},
		{name: "append", resource: self, op: kadm.AlterConfig{Op: kadm.AppendConfig, Name: rootLogger, Value: kmsg.StringPtr("INFO")}, wantErr: kerr.InvalidRequest, wantLevel: "ERROR"},
		{name: "other broker", resource: "99", op: kadm.AlterConfig{Name: rootLogger, Value: kmsg.StringPtr("INFO")}, wantErr: kerr.InvalidRequest, wantLevel: "ERROR"},
		{name: "set debug", resource: self, op: kadm.AlterConfig{Name: rootLogger, Value: kmsg.StringPtr("DEBUG")}, wantLevel: "DEBUG"},
	} {
		err := incrementalAlterBroker(ctx, cl, b.srv.cfg.NodeID, kmsg.ConfigResourceTypeBrokerLogger, tc.resource, tc.op)
		if !errors.Is(err, tc.wantErr) {
			t.Fatalf("%s: err %v, want %v", tc.name, err, tc.wantErr)
		}
		if c := describeBrokerKey(t, b, kmsg.ConfigResourceTypeBrokerLogger, self, rootLogger); c.Value == nil || *c.Value != tc.wantLevel {
			t.Fatalf("%s: root level %v, want %s", tc.name, c.Value, tc.wantLevel)
		}
	}
}

// TestBrokerLoggerHook: the root level drops events below it.
func TestBrokerLoggerHook(t *testing.T) {
	t.Parallel()
	var buf strings.Builder
	l := newBrokerLoggers(zerolog.DebugLevel)
	log := zerolog.New(&buf).Level(zerolog.DebugLevel).Hook(l)
	for _, tc := range []struct {
		level string
		want  string // the messages that reach the writer
	}{
		{"DEBUG", "d i w "},
		{"WARN", "w "},
		{"ERROR", ""},
	} {
		buf.Reset()
		if code, _ := l.alter([]controller.ConfigOp{{Name: rootLogger, Value: kmsg.StringPtr(tc.level)}}, false); code != 0 {
			t.Fatalf("%s: code %d", tc.level, code)
		}
		log.Debug().Msg("d")
		log.Info().Msg("i")
		log.Warn().Msg("w")
		var got strings.Builder
		for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
			if i := strings.Index(line, `"message":"`); i >= 0 {
				got.WriteString(line[i+11:i+12] + " ")
			}
		}
		if got.String() != tc.want {
			t.Fatalf("%s: got %q, want %q", tc.level, got.String(), tc.want)
		}
	}
}

// TestDynamicMaxConnectionsPerIP: max.connections.per.ip set for this
// broker applies to the next connection, without a restart.
func TestDynamicMaxConnectionsPerIP(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	ctx := context.Background()
	self := strconv.Itoa(int(b.srv.cfg.NodeID))
	cl := b.client()
	if err := cl.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if err := incrementalAlterBroker(ctx, cl, b.srv.cfg.NodeID, kmsg.ConfigResourceTypeBroker, self,
		kadm.AlterConfig{Name: "max.connections.per.ip", Value: kmsg.StringPtr("1")}); err != nil {
		t.Fatal(err)
	}
	// b.client's connection is still open: a second one is closed at accept.
	second := b.client()
	if err := second.Ping(ctx); err == nil {
		t.Fatal("second connection from the same address served with max.connections.per.ip=1")
	}
	if err := incrementalAlterBroker(ctx, cl, b.srv.cfg.NodeID, kmsg.ConfigResourceTypeBroker, self,
		kadm.AlterConfig{Op: kadm.DeleteConfig, Name: "max.connections.per.ip"}); err != nil {
		t.Fatal(err)
	}
	if err := b.client().Ping(ctx); err != nil {
		t.Fatalf("after the limit was removed: %v", err)
	}
}
