package sarama

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"

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

type memberHandler struct {
	out   *groupcheck.Out
	topic string
}

func (h *memberHandler) Setup(s sarama.ConsumerGroupSession) error {
	h.out.Assigned(s.Claims()[h.topic])
	return nil
}

func (h *memberHandler) Cleanup(sarama.ConsumerGroupSession) error {
	h.out.Assigned(nil)
	return nil
}

// ConsumeClaim prints each message, then marks it; sarama's auto-commit
// commits marked offsets every 200 ms and when the session ends.
func (h *memberHandler) ConsumeClaim(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	for m := range c.Messages() {
		h.out.Record(m.Partition, m.Offset, m.Value)
		s.MarkMessage(m, "")
	}
	return nil
}

// member is a sarama ConsumerGroup (range balancer, eager). SIGTERM closes
// it (commit, LeaveGroup); SIGKILL does not.
func member(env groupcheck.MemberEnv) int {
	out := &groupcheck.Out{}
	conf := config()
	conf.ClientID = env.ClientID
	conf.Consumer.Offsets.Initial = sarama.OffsetOldest
	conf.Consumer.Offsets.AutoCommit.Enable = true
	conf.Consumer.Offsets.AutoCommit.Interval = 200 * time.Millisecond
	conf.Consumer.Group.Session.Timeout = env.Session
	conf.Consumer.Group.Heartbeat.Interval = env.Heartbeat
	cg, err := sarama.NewConsumerGroup([]string{env.Bootstrap}, env.Group, conf)
	if err != nil {
		out.Logf("new consumer group: %v", err)
		return 1
	}
	go func() {
		for err := range cg.Errors() {
			out.Logf("group error: %v", err)
		}
	}()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	h := &memberHandler{out: out, topic: env.Topic}
	for ctx.Err() == nil {
		if err := cg.Consume(ctx, []string{env.Topic}, h); err != nil {
			if errors.Is(err, sarama.ErrClosedConsumerGroup) {
				break
			}
			out.Logf("consume: %v", err)
			time.Sleep(100 * time.Millisecond)
		}
	}
	if err := cg.Close(); err != nil {
		out.Logf("close: %v", err)
	}
	return 0
}

// TestGroupProcesses: group_kill and group_restart with sarama members,
// each its own process (this test binary in member mode), against a broker
// the driver starts.
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
