package broker

import (
	"testing"

	"gregor/controller"
)

// TestClientControllerID: clients are told the active controller only
// when it is a live broker; otherwise the broker answering.
func TestClientControllerID(t *testing.T) {
	t.Parallel()
	brokers := []controller.Broker{{NodeID: 1, ControllerOnly: true}, {NodeID: 2}, {NodeID: 3, Fenced: true}, {NodeID: 4}}
	for _, tc := range []struct {
		name       string
		controller int32
		want       int32
	}{
		{"combined controller", 2, 2},
		{"controller-only", 1, 4},
		{"fenced", 3, 4},
		{"unregistered", 7, 4},
		{"none", -1, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			snap := &controller.Snapshot{ControllerID: tc.controller, Brokers: brokers}
			if got := clientControllerID(snap, 4); got != tc.want {
				t.Fatalf("controller id %d, want %d", got, tc.want)
			}
		})
	}
}
