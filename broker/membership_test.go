package broker

import (
	"testing"

	"gregor/controller"
)

// TestRegistrationAppliedWhileFenced: a restarted broker whose catch-up
// with the metadata log outlasts the session timeout sees its new
// registration followed by a fence. That is caught up, and fenced: it
// must register again. Waiting for the record to unfence hung it for good
// (no heartbeats go out while waiting), seen as a broker that logged
// "waiting to register" and never served after the fourth kill in
// TestTxnETLExactlyOnceUnderKills.
func TestRegistrationAppliedWhileFenced(t *testing.T) {
	for _, c := range []struct {
		name            string
		b               controller.Broker
		ok              bool
		applied, fenced bool
	}{
		{"no record yet", controller.Broker{}, false, false, false},
		{"older registration", controller.Broker{NodeID: 2, Epoch: 2}, true, false, false},
		{"older registration fenced", controller.Broker{NodeID: 2, Epoch: 2, Fenced: true}, true, false, false},
		{"registered", controller.Broker{NodeID: 2, Epoch: 3}, true, true, false},
		{"registered then fenced", controller.Broker{NodeID: 2, Epoch: 3, Fenced: true}, true, true, true},
		{"a later registration", controller.Broker{NodeID: 2, Epoch: 4}, true, true, false},
	} {
		applied, fenced := registrationApplied(c.b, c.ok, 3)
		if applied != c.applied || fenced != c.fenced {
			t.Errorf("%s: applied %v fenced %v, want %v %v", c.name, applied, fenced, c.applied, c.fenced)
		}
	}
}
