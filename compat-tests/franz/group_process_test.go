package franz

import (
	"context"
	"os"
	"os/exec"
	"os/signal"
	"sort"
	"sync"
	"syscall"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

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

// member is a kgo group consumer (default cooperative-sticky balancer) with
// manual at-least-once commits: records are printed, then committed.
// SIGTERM closes the client, which leaves the group; SIGKILL does not.
func member(env groupcheck.MemberEnv) int {
	out := &groupcheck.Out{}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	var mu sync.Mutex
	cur := map[int32]bool{}
	update := func(ps []int32, add bool) {
		mu.Lock()
		defer mu.Unlock()
		for _, p := range ps {
			if add {
				cur[p] = true
			} else {
				delete(cur, p)
			}
		}
		all := make([]int32, 0, len(cur))
		for p := range cur {
			all = append(all, p)
		}
		sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
		out.Assigned(all)
	}
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(env.Bootstrap),
		kgo.ClientID(env.ClientID),
		kgo.ConsumerGroup(env.Group),
		kgo.ConsumeTopics(env.Topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.SessionTimeout(env.Session),
		kgo.HeartbeatInterval(env.Heartbeat),
		kgo.DisableAutoCommit(),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, a map[string][]int32) { update(a[env.Topic], true) }),
		kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, r map[string][]int32) { update(r[env.Topic], false) }),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, r map[string][]int32) { update(r[env.Topic], false) }),
	)
	if err != nil {
		out.Logf("new client: %v", err)
		return 1
	}
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil || fs.IsClientClosed() {
			break
		}
		fs.EachError(func(t string, p int32, err error) { out.Logf("fetch %s[%d]: %v", t, p, err) })
		fs.EachRecord(func(r *kgo.Record) { out.Record(r.Partition, r.Offset, r.Value) })
		if err := cl.CommitUncommittedOffsets(ctx); err != nil && ctx.Err() == nil {
			out.Logf("commit: %v", err)
		}
	}
	cl.Close() // leaves the group
	return 0
}

// TestGroupProcesses: group_kill and group_restart with franz-go members,
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
