package nemesis

import "fmt"

// pause freezes a node past the session timeout (the schedule holds a
// pause at least pauseHold[0]): the leader of a workload partition, or
// one time in four the active controller. gregortest's Pause is the
// in-process SIGSTOP: every client and inter-broker connection of the
// node stays open but carries nothing either way, and its broker-clock
// timers due meanwhile fire only on waking; its embedded Raft node keeps
// its own timers (see gregortest/pause.go). The node wakes believing it
// still leads its partitions, with requests held in its connections that
// then complete late, against a cluster that moved on.
func (n *nemesis) pause(f Fault) (string, func()) {
	node := int(f.Pick % uint32(n.c.Len()))
	what := ""
	if f.Pick%4 == 3 {
		if m := n.metadata(); m != nil && m.ControllerID > 0 {
			node, what = int(m.ControllerID-1), " (active controller)"
		}
	} else {
		p := int32(f.Pick % uint32(n.cfg.Partitions))
		if l := n.leader(p); l >= 0 {
			node, what = l, fmt.Sprintf(" (leader of %s/%d)", n.cfg.Topic, p)
		}
	}
	n.c.Pause(node)
	return fmt.Sprintf("node %d%s", node+1, what), func() { n.c.Resume(node) }
}
