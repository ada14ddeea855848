package kcat

import (
	"fmt"
	"os/exec"
	"testing"

	"gregor/compat-tests/internal/compat"
	"gregor/compat-tests/internal/groupcheck"
)

// kcatMember is one `kcat -G` balanced consumer (librdkafka's range
// assignor, eager). -u makes its output unbuffered, so every record it
// printed before a SIGKILL reaches the driver; -f prints the driver's R
// lines, and its "% Group ... rebalanced ... assigned:" stderr lines give
// the assignment. librdkafka auto-commits (every 500 ms here) the offsets
// it stored when kcat took each message; kcat prints the message right
// after, so a kill between the two is the only (microsecond) window in
// which a committed record could be left unprinted. SIGTERM makes kcat
// close the consumer: final commit, LeaveGroup.
func kcatMember(env groupcheck.MemberEnv) *exec.Cmd {
	return exec.Command("kcat", "-b", env.Bootstrap, "-G", env.Group, env.Topic,
		"-X", "client.id="+env.ClientID,
		"-X", "auto.offset.reset=earliest",
		"-X", fmt.Sprintf("session.timeout.ms=%d", env.Session.Milliseconds()),
		"-X", fmt.Sprintf("heartbeat.interval.ms=%d", env.Heartbeat.Milliseconds()),
		"-X", "auto.commit.interval.ms=500",
		"-u", "-f", `R %p %o %s\n`)
}

// TestGroupProcesses: group_kill and group_restart with three kcat -G
// processes, against a broker the driver starts.
func TestGroupProcesses(t *testing.T) {
	cfg := groupcheck.Config{Client: client, Member: kcatMember}
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
