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

// parseRoles parses process.roles into "broker", "controller" or
// "broker,controller".
func parseRoles(v string) (string, error) {
	var broker, ctrl bool
	for _, r := range splitList(v) {
		seen := &broker
		switch r {
		case "broker":
		case "controller":
			seen = &ctrl
		default:
			return "", fmt.Errorf("%q is not broker or controller", r)
		}
		if *seen {
			return "", fmt.Errorf("role %s repeated", r)
		}
		*seen = true
	}
	switch {
	case broker && ctrl:
		return "broker,controller", nil
	case broker:
		return "broker", nil
	case ctrl:
		return "controller", nil
	}
	return "", fmt.Errorf("must name broker, controller or both")
}

// validateQuorum checks controller.quorum.voters and observers together:
// node.id is in exactly one of them, and a broker-only node
// (process.roles=broker) is an observer. Kafka's broker-only node needs
// only the voters (or controller.quorum.bootstrap.servers) and fetches
// the metadata log from the leader; hashicorp/raft pushes the log to
// non-voters the leader already knows, so gregor's broker-only node is
// listed in controller.quorum.observers and has a controller listener for
// Raft, as every quorum member.
func (c *Config) validateQuorum() error {
	cl := &c.Cluster
	if cl.BrokerOnly {
		self := func(v controller.Voter) bool { return v.ID == c.NodeID }
		switch {
		case len(cl.Voters) == 0:
			return fmt.Errorf("config: process.roles=broker needs controller.quorum.voters: a broker-only node replicates the metadata of a controller quorum")
		case slices.ContainsFunc(cl.Voters, self):
			return fmt.Errorf("config: process.roles=broker but node.id %d is in controller.quorum.voters: a broker-only node cannot be a voter", c.NodeID)
		case !slices.ContainsFunc(cl.Observers, self):
			return fmt.Errorf("config: process.roles=broker: node.id %d must be in controller.quorum.observers (a broker-only node joins the quorum as an observer)", c.NodeID)
		}
	}
	if cl.ControllerOnly && !slices.ContainsFunc(cl.Voters, func(v controller.Voter) bool { return v.ID == c.NodeID }) {
		return fmt.Errorf("config: process.roles=controller: node.id %d must be in controller.quorum.voters (a controller-only node is a voter)", c.NodeID)
	}
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
		return fmt.Errorf("config: controller.quorum.voters does not include node.id %d, nor does controller.quorum.observers (every node is a quorum member: a voter, or an observer such as a process.roles=broker node)", c.NodeID)
	}
	return nil
}
