package main

import (
	"strings"
	"testing"

	"gregor/gregortest"
)

// TestCLIClusterUnregister: a stopped broker is unregistered;
// unregistering it again, or an unknown id, fails with
// BROKER_ID_NOT_REGISTERED, and a non-number is a usage error.
func TestCLIClusterUnregister(t *testing.T) {
	gregorOnly(t)
	t.Parallel()
	c := gregortest.NewCluster(t, gregortest.Brokers(3))
	b := strings.Join(c.Seeds()[:2], ",")
	c.Kill(2)
	if out := mustCLI(t, b, "", "cluster", "unregister", "3"); out != "unregistered broker 3\n" {
		t.Errorf("unregister: %q", out)
	}
	for _, id := range []string{"3", "17"} {
		if _, errs, code := runCLI(t, b, "", "cluster", "unregister", id); code == 0 || !strings.Contains(errs, "BROKER_ID_NOT_REGISTERED") {
			t.Errorf("unregister %s: exit %d, %q", id, code, errs)
		}
	}
	if _, errs, code := runCLI(t, b, "", "cluster", "unregister", "x"); code == 0 || !strings.Contains(errs, "want a number") {
		t.Errorf("unregister x: exit %d, %q", code, errs)
	}
}
