package main

import (
	"strings"
	"testing"
	"time"

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
	// Broker 3 may have been the active controller: NOT_CONTROLLER until
	// the others elect one.
	var out, errs string
	var code int
	waitFor(t, "a controller to answer unregister", 30*time.Second, func() bool {
		out, errs, code = runCLI(t, b, "", "cluster", "unregister", "3")
		return !strings.Contains(errs, "NOT_CONTROLLER")
	})
	if (code != 0 || out != "unregistered broker 3\n") && !strings.Contains(errs, "BROKER_ID_NOT_REGISTERED") {
		// (BROKER_ID_NOT_REGISTERED: a retry after a NOT_CONTROLLER that
		// went through.)
		t.Errorf("unregister: exit %d %q %q", code, out, errs)
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
