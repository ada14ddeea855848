package broker

// Dynamic broker configs at run time: changing them (AlterConfigs and
// IncrementalAlterConfigs on BROKER resources, through the controller),
// applying them (watchBrokerConfigs re-resolves the storage settings of
// every open log when they change), and the broker loggers (BROKER_LOGGER
// resources: log levels of this broker, not persisted, as Kafka's).

import (
	"context"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/controller"
)

// brokerConfigID is the controller's id of a BROKER resource: the node id
// it names, or DefaultBrokerConfigs for "".
func brokerConfigID(name string) (int32, bool) {
	if name == "" {
		return controller.DefaultBrokerConfigs, true
	}
	n, err := strconv.ParseInt(name, 10, 32)
	if err != nil || n < 0 {
		return 0, false
	}
	return int32(n), true
}

// alterBrokerConfigs applies one BROKER resource's changes through the
// controller and returns its error code and message.
func (s *deps) alterBrokerConfigs(r *request, res configResource, ops []controller.ConfigOp, incremental, validateOnly bool) (int16, *string) {
	if !s.authorizeCluster(r, kmsg.ACLOperationAlterConfigs) {
		return kerr.ClusterAuthorizationFailed.Code, nil
	}
	id, ok := brokerConfigID(res.name)
	if !ok {
		return errCodeMsg(controller.ErrInvalidRequest, "Invalid broker id "+res.name)
	}
	err := s.ctrl.AlterBrokerConfigs(id, func(cur map[string]string) (map[string]string, error) {
		return s.cfg.nextBrokerConfigs(res, cur, ops, incremental)
	}, validateOnly)
	if err != nil {
		return errCode(err), errMessage(err)
	}
	if !validateOnly {
		s.log.Info().Str("broker", res.name).Bool("incremental", incremental).Msg("altered dynamic broker configs")
	}
	return 0, nil
}

// brokerConfigWant is what an acknowledged forwarded change of BROKER
// resources set (value) or deleted (nil), by controller id.
type brokerConfigWant map[int32]map[string]*string

// resource returns the keys map to fill for res when it is a BROKER
// resource the controller accepted (done), else nil.
func (w brokerConfigWant) resource(res configResource, done map[configResource]bool) map[string]*string {
	id, ok := brokerConfigID(res.name)
	if res.typ != kmsg.ConfigResourceTypeBroker || !ok || !done[res] {
		return nil
	}
	w[id] = map[string]*string{}
	return w[id]
}

// afterAlterBrokerConfigs waits until the local metadata shows want.
func (s *deps) afterAlterBrokerConfigs(api string, want brokerConfigWant) {
	if len(want) == 0 {
		return
	}
	s.awaitMetadata(api, func(snap *controller.Snapshot) bool {
		for id, keys := range want {
			m := snap.BrokerConfigs(id)
			for k, v := range keys {
				got, set := m[k]
				if (v == nil) == set || (v != nil && got != strings.TrimSpace(*v)) {
					return false
				}
			}
		}
		return true
	})
}

// watchBrokerConfigs re-resolves the configuration of every open log
// whenever the dynamic broker configs change, so topic defaults such as
// log.retention.ms reach the logs of topics without their own setting.
// It returns when ctx ends.
func watchBrokerConfigs(ctx context.Context, meta metaView, parts *partitions, log zerolog.Logger) {
	ch, unsub := meta.Subscribe()
	defer unsub()
	seen := meta.Snapshot().BrokerConfigsVersion()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ch:
		}
		snap := meta.Snapshot()
		if v := snap.BrokerConfigsVersion(); v != seen {
			seen = v
			for _, t := range snap.Topics {
				parts.reconfigure(t)
			}
			log.Info().Int("topics", len(snap.Topics)).Msg("applied dynamic broker configs")
		}
	}
}

// brokerLoggers are the log levels DescribeConfigs and
// IncrementalAlterConfigs show and change on BROKER_LOGGER resources.
// gregor has one logger, "root": a level set on it drops events below it
// (levels below the one the broker started with stay filtered out by the
// logger itself).
type brokerLoggers struct {
	level   atomic.Int32 // zerolog.Level
	initial zerolog.Level
}

// rootLogger is the name of gregor's only logger, as Kafka names log4j's.
const rootLogger = "root"

func newBrokerLoggers(initial zerolog.Level) *brokerLoggers {
	l := &brokerLoggers{initial: initial}
	l.level.Store(int32(initial))
	return l
}

// Run is the zerolog hook that applies the level.
func (l *brokerLoggers) Run(e *zerolog.Event, level zerolog.Level, _ string) {
	if level != zerolog.NoLevel && level < zerolog.Level(l.level.Load()) {
		e.Discard()
	}
}

// kafkaLevels maps Kafka's log4j level names to zerolog's.
var kafkaLevels = map[string]zerolog.Level{
	"TRACE": zerolog.TraceLevel, "DEBUG": zerolog.DebugLevel, "INFO": zerolog.InfoLevel,
	"WARN": zerolog.WarnLevel, "ERROR": zerolog.ErrorLevel, "FATAL": zerolog.FatalLevel,
}

func kafkaLevelName(l zerolog.Level) string {
	for name, lv := range kafkaLevels {
		if lv == l {
			return name
		}
	}
	if l < zerolog.TraceLevel {
		return "TRACE"
	}
	return "OFF"
}

// describe lists the loggers.
func (l *brokerLoggers) describe() []kmsg.DescribeConfigsResponseResourceConfig {
	rc := kmsg.NewDescribeConfigsResponseResourceConfig()
	rc.Name = rootLogger
	rc.Value = kmsg.StringPtr(kafkaLevelName(zerolog.Level(l.level.Load())))
	rc.Source = kmsg.ConfigSourceDynamicBrokerLoggerConfig
	rc.ConfigType = kmsg.ConfigTypeString
	return []kmsg.DescribeConfigsResponseResourceConfig{rc}
}

// alter applies IncrementalAlterConfigs operations to the loggers, all or
// none, with Kafka's errors: an unknown logger or level is INVALID_CONFIG,
// as is deleting the root logger's level; APPEND and SUBTRACT are
// INVALID_REQUEST.
func (l *brokerLoggers) alter(ops []controller.ConfigOp, validateOnly bool) (int16, *string) {
	next := zerolog.Level(l.level.Load())
	for _, op := range ops {
		if op.Name != rootLogger {
			return errCodeMsg(controller.ErrInvalidConfig, "Logger "+op.Name+" does not exist!")
		}
		switch op.Op {
		case controller.OpSet:
			v := ""
			if op.Value != nil {
				v = strings.ToUpper(strings.TrimSpace(*op.Value))
			}
			lv, ok := kafkaLevels[v]
			if !ok {
				return errCodeMsg(controller.ErrInvalidConfig, "Cannot set the log level of "+op.Name+" to "+v+
					" as it is not a supported log level. Valid log4j levels are DEBUG, ERROR, FATAL, INFO, TRACE, WARN")
			}
			next = lv
		case controller.OpDelete:
			return errCodeMsg(controller.ErrInvalidConfig, "Removing the log level of the root logger is not allowed")
		default:
			return errCodeMsg(controller.ErrInvalidRequest, "APPEND and SUBTRACT are not supported for BROKER_LOGGER resources")
		}
	}
	if !validateOnly {
		l.level.Store(int32(next))
	}
	return 0, nil
}

// alterBrokerLoggers handles the BROKER_LOGGER resources of an
// IncrementalAlterConfigs request on this broker (never forwarded).
func (s *deps) alterBrokerLoggers(r *request, rr kmsg.IncrementalAlterConfigsRequestResource, validateOnly bool) kmsg.IncrementalAlterConfigsResponseResource {
	sr := kmsg.NewIncrementalAlterConfigsResponseResource()
	sr.ResourceType, sr.ResourceName = rr.ResourceType, rr.ResourceName
	switch {
	case !s.authorizeCluster(r, kmsg.ACLOperationAlterConfigs):
		sr.ErrorCode = kerr.ClusterAuthorizationFailed.Code
	case rr.ResourceName != strconv.Itoa(int(s.cfg.NodeID)):
		sr.ErrorCode, sr.ErrorMessage = errCodeMsg(controller.ErrInvalidRequest, "Unexpected broker id, expected "+strconv.Itoa(int(s.cfg.NodeID))+" but received "+rr.ResourceName)
	default:
		ops := make([]controller.ConfigOp, 0, len(rr.Configs))
		for _, c := range rr.Configs {
			ops = append(ops, controller.ConfigOp{Name: c.Name, Op: int8(c.Op), Value: c.Value})
		}
		sr.ErrorCode, sr.ErrorMessage = s.loggers.alter(ops, validateOnly)
		if sr.ErrorCode == 0 && !validateOnly {
			s.log.Warn().Str("level", kafkaLevelName(zerolog.Level(s.loggers.level.Load()))).Msg("changed log level")
		}
	}
	return sr
}

// LogStartOffset returns the log start offset of this node's replica of a
// partition; ok is false when the node has no open log for it (tests).
func (s *Server) LogStartOffset(topic string, partition int32) (int64, bool) {
	p := s.parts.lookup(topic, partition)
	if p == nil {
		return -1, false
	}
	return p.log.LogStartOffset(), true
}
