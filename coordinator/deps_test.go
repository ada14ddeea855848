package coordinator

import (
	"os/exec"
	"strings"
	"testing"
)

// The coordinator imports none of broker, controller or wire (house
// dependency direction).
func TestDependencies(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("go", "list", "-deps", "gregor/coordinator").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		switch dep {
		case "gregor/broker", "gregor/controller", "gregor/wire":
			t.Errorf("coordinator depends on %s", dep)
		}
	}
}
