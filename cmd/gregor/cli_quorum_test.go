package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"gregor/gregortest"
)

// TestCLIClusterQuorum: cluster quorum describes three voters and an
// observer; add-voter and remove-voter move node 4 and back, with
// Kafka's errors for a voter added twice and an unknown one removed.
func TestCLIClusterQuorum(t *testing.T) {
	gregorOnly(t)
	t.Parallel()
	c := gregortest.NewCluster(t, gregortest.Brokers(4), gregortest.Voters(3))
	b := strings.Join(c.Seeds(), ",")
	roles := func() map[int32]string {
		var q quorumOut
		out, errs, code := runCLI(t, b, "", "--format", "json", "cluster", "quorum")
		if code != 0 { // while leadership settles
			t.Logf("cluster quorum: exit %d: %s", code, errs)
			return nil
		}
		if err := json.Unmarshal([]byte(out), &q); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		m := map[int32]string{}
		for _, r := range q.Members {
			if r.Role == "leader" {
				r.Role = "voter"
			}
			m[r.ID] = r.Role
		}
		return m
	}
	want := func(node4 string) {
		t.Helper()
		waitFor(t, "node 4 "+node4, 30*time.Second, func() bool {
			r := roles()
			return len(r) == 4 && r[1] == "voter" && r[2] == "voter" && r[3] == "voter" && r[4] == node4
		})
	}
	want("observer")
	out := mustCLI(t, b, "", "cluster", "quorum")
	if !strings.HasPrefix(out, "LEADER          ") || !strings.Contains(out, "\nID  ROLE") || !strings.Contains(out, "observer") || !strings.Contains(out, "leader") {
		t.Errorf("cluster quorum:\n%s", out)
	}
	// A voter change answers NOT_CONTROLLER while leadership moves (a
	// loaded machine): retried then.
	change := func(args ...string) (string, string, int) {
		t.Helper()
		var out, errs string
		var code int
		waitFor(t, "a controller to answer "+strings.Join(args, " "), 30*time.Second, func() bool {
			out, errs, code = runCLI(t, b, "", append([]string{"cluster", "quorum"}, args...)...)
			return !strings.Contains(errs, "NOT_CONTROLLER")
		})
		return out, errs, code
	}
	if out, errs, code := change("add-voter", "4", c.Broker(3).RaftAddr()); (code != 0 || out != "added voter 4\n") && !strings.Contains(errs, "DUPLICATE_VOTER") {
		// (DUPLICATE_VOTER: a retry after a NOT_CONTROLLER whose change
		// went through.)
		t.Errorf("add-voter: exit %d %q %q", code, out, errs)
	}
	want("voter")
	if _, errs, code := change("add-voter", "4", c.Broker(3).RaftAddr()); code == 0 || !strings.Contains(errs, "DUPLICATE_VOTER") {
		t.Errorf("add-voter twice: exit %d, %q", code, errs)
	}
	if out, errs, code := change("remove-voter", "4"); code != 0 || out != "removed voter 4\n" {
		t.Errorf("remove-voter: exit %d %q %q", code, out, errs)
	}
	want("observer")
	if _, errs, code := change("remove-voter", "9"); code == 0 || !strings.Contains(errs, "VOTER_NOT_FOUND") {
		t.Errorf("remove-voter 9: exit %d, %q", code, errs)
	}
	if _, errs, code := runCLI(t, b, "", "cluster", "quorum", "add-voter", "x", "h:1"); code == 0 || !strings.Contains(errs, "want a number") {
		t.Errorf("add-voter x: exit %d, %q", code, errs)
	}
}
