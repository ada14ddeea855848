package broker

// Quorum membership keys (KIP-853 on hashicorp/raft: controller/quorum.go).

import (
	"fmt"
	"slices"

	"gregor/controller"
)

// quorumConfigDefs are the keys of the quorum's observers.
var quorumConfigDefs = []configDef{
	{name: "controller.quorum.observers", typ: "list", def: "", doc: "gregor: nodes (id@host:port of their CONTROLLER listener) that start outside the voter set, as observers: Raft non-voters that replicate the metadata log without voting. The voters put them in the quorum's first configuration; a node listed here does not bootstrap the quorum and waits for the leader. AddRaftVoter makes an observer a voter, RemoveRaftVoter a voter an observer again.", apply: func(c *Config, v string) error {
		vs, err := parseVoters(v)
		c.Cluster.Observers = vs
		return err
	}},
}

// validateQuorum checks controller.quorum.voters and observers together:
// node.id is in exactly one of them.
func (c *Config) validateQuorum() error {
	cl := &c.Cluster
	if len(cl.Observers) > 0 && len(cl.Voters) == 0 {
		return fmt.Errorf("config: controller.quorum.observers needs controller.quorum.voters")
	}
	for _, o := range cl.Observers {
		if slices.ContainsFunc(cl.Voters, func(v controller.Voter) bool { return v.ID == o.ID }) {
			return fmt.Errorf("config: node %d is in both controller.quorum.voters and controller.quorum.observers", o.ID)
		}
	}
	if len(cl.Voters) == 0 {
		return nil
	}
	self := func(v controller.Voter) bool { return v.ID == c.NodeID }
	if !slices.ContainsFunc(cl.Voters, self) && !slices.ContainsFunc(cl.Observers, self) {
		return fmt.Errorf("config: controller.quorum.voters does not include node.id %d, nor does controller.quorum.observers (only combined broker+controller nodes are supported)", c.NodeID)
	}
	return nil
}
