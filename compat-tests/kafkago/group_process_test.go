package kafkago

import (
	"context"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"gregor/compat-tests/internal/compat"
	"gregor/compat-tests/internal/groupcheck"
)

// TestMain turns the test binary into one group member when the
// group_kill/group_restart driver starts it (COMPAT_GROUP_MEMBER=1).
func TestMain(m *testing.M) {
	if env, ok := groupcheck.MemberFromEnv(); ok {
		os.Exit(member(env))
	}
	os.Exit(m.Run())
}

// member is a kafka-go Reader with a GroupID (range balancer): each message
// is printed, then committed synchronously (CommitInterval 0). The Reader
// does not expose its assignment, so the driver checks it with
// DescribeGroups only. SIGTERM closes the Reader (LeaveGroup); SIGKILL
// does not.
func member(env groupcheck.MemberEnv) int {
	out := &groupcheck.Out{}
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:           []string{env.Bootstrap},
		GroupID:           env.Group,
		Topic:             env.Topic,
		StartOffset:       kafka.FirstOffset,
		MaxWait:           200 * time.Millisecond,
		SessionTimeout:    env.Session,
		HeartbeatInterval: env.Heartbeat,
		Dialer:            &kafka.Dialer{ClientID: env.ClientID, Timeout: 10 * time.Second},
		ErrorLogger:       kafka.LoggerFunc(func(f string, a ...any) { out.Logf(f, a...) }),
	})
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	for {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			if ctx.Err() == nil {
				out.Logf("fetch: %v", err)
			}
			break
		}
		out.Record(int32(m.Partition), m.Offset, m.Value)
		if err := r.CommitMessages(ctx, m); err != nil && ctx.Err() == nil {
			out.Logf("commit: %v", err)
		}
	}
	if err := r.Close(); err != nil {
		out.Logf("close: %v", err)
	}
	return 0
}

// TestGroupProcesses: group_kill and group_restart with kafka-go group
// Readers, each its own process (this test binary in member mode), against
// a broker the driver starts.
func TestGroupProcesses(t *testing.T) {
	cfg := groupcheck.Config{Client: client, Member: func(groupcheck.MemberEnv) *exec.Cmd {
		return exec.Command(os.Args[0], "-test.run=^$")
	}}
	run(t, "group_kill", func(t *compat.T) {
		compat.RequireAPIs(t, compat.GroupAPIs...)
		d, err := groupcheck.Kill(cfg)
		t.Check(err, "group_kill")
		t.Detail("%s", d)
	})
	run(t, "group_restart", func(t *compat.T) {
		compat.RequireAPIs(t, compat.GroupAPIs...)
		d, err := groupcheck.Restart(cfg)
		t.Check(err, "group_restart")
		t.Detail("%s", d)
	})
}
